"""Column layout of the simulator's car-state array.

The simulator keeps every car in one row of a float64 array ``state[n_cars, N_STATE]``, so that the compiled
kernels take a single argument for all cars and a whole vector of cars can be copied or saved at once.
"""

from __future__ import annotations

__all__ = [
    "FINISHED",
    "GEAR",
    "IDX",
    "NEXT_CP",
    "N_STATE",
    "PITCH",
    "RACE_TICKS",
    "RPM",
    "SLIDING",
    "S_BEST",
    "TICKS_SINCE_BEST",
    "VX",
    "VY",
    "VZ",
    "WALL",
    "YAW",
    "YAW_RATE",
    "S",
    "X",
    "Y",
    "Z",
]

X, Y, Z = 0, 1, 2
"""World position: x, height, z (metres)."""
YAW = 3
"""Heading: the car points along (sin yaw, cos yaw) in the (x, z) plane; grows when turning right."""
VX, VZ = 4, 5
"""Horizontal world velocity (m/s)."""
YAW_RATE = 6
"""Yaw rate (rad/s)."""
IDX = 7
"""Index of the nearest point of the car's reference line, found locally each tick (an integer value)."""
S = 8
"""Progress along the line in metres (continuous)."""
S_BEST = 9
"""Best progress of the race so far."""
PITCH = 10
"""Nose-up angle from the road slope (rad)."""
SLIDING = 11
"""1 while the tyres slide."""
WALL = 12
"""1 while touching a wall during the last tick."""
RACE_TICKS = 13
"""Ticks since the start."""
TICKS_SINCE_BEST = 14
"""Ticks since S_BEST last grew."""
FINISHED = 15
"""1 once the finish is crossed."""
NEXT_CP = 16
"""Number of checkpoints passed."""
VY = 17
"""Vertical velocity from following the road (m/s)."""
GEAR = 18
"""Current gear (0 reverse/neutral, 1–5)."""
RPM = 19
"""Engine rpm."""
N_STATE = 20
