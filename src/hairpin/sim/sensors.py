"""The simulator's side of the float observation: car states → ``obs.fill_floats`` for a batch of cars."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hairpin.obs import fill_floats
from hairpin.sim import state as st
from hairpin.sim.refline import POINT_SPACING_M
from hairpin.sim.tracking import line_point_at

__all__ = ["REST_DAMPER", "sim_floats"]

REST_DAMPER = 0.03
"""Damper compression of a car resting on flat tarmac (the sim does not model suspension)."""


@njit(cache=True, inline="always")
def _lateral_at(lateral: np.ndarray, offset: int, count: int, s: float) -> float:
    """The lateral offset at ``s`` metres along the track, linearly interpolated; held past either end."""
    f = min(max(s / POINT_SPACING_M, 0.0), count - 1.0)
    i = min(int(f), count - 2)
    t = f - i
    return (1.0 - t) * lateral[offset + i] + t * lateral[offset + i + 1]


@njit(cache=True)
def sim_floats(
    state: np.ndarray,
    track_id: np.ndarray,
    prev_keys: np.ndarray,
    centre: np.ndarray,
    tangent: np.ndarray,
    lateral: np.ndarray,
    offset: np.ndarray,
    count: np.ndarray,
    n_ref: int,
    ref_spacing_m: float,
    finish_cap_m: float,
    out: np.ndarray,
) -> None:
    """Fill ``out`` (n, F) float32 with the floats of every car; ``prev_keys`` (n, P, 4) oldest first.

    The reference points lie ``lateral`` (M,) metres right of the centre line (zeros: on it; the racing line's
    offsets: on the racing line), at the centre line's arc length ahead of the car."""
    buf = np.empty(out.shape[1])
    R = np.empty((3, 3))
    vel = np.empty(3)
    ang = np.zeros(3)
    wheels = np.zeros((4, 4))
    engine = np.zeros(4)
    refs = np.empty((n_ref, 3))
    point = np.empty(3)
    for c in range(state.shape[0]):
        row = state[c]
        t = track_id[c]
        yaw, pitch = row[st.YAW], row[st.PITCH]
        sy, cy, sp, cp = math.sin(yaw), math.cos(yaw), math.sin(pitch), math.cos(pitch)
        R[0, 0], R[1, 0], R[2, 0] = cy, 0.0, -sy  # right
        R[0, 1], R[1, 1], R[2, 1] = -sy * sp, cp, -cy * sp  # up
        R[0, 2], R[1, 2], R[2, 2] = sy * cp, sp, cy * cp  # forward
        vel[0], vel[1], vel[2] = row[st.VX], row[st.VY], row[st.VZ]
        ang[1] = row[st.YAW_RATE]
        for w in range(4):
            wheels[w, 0] = row[st.SLIDING]
            wheels[w, 1] = 1.0
            wheels[w, 2] = REST_DAMPER
        engine[0], engine[1], engine[2] = 1.0, row[st.GEAR], row[st.RPM]
        for k in range(n_ref):
            ahead = row[st.S] + ref_spacing_m * (k + 1)
            line_point_at(centre, tangent, offset[t], count[t], ahead, point)
            side = _lateral_at(lateral, offset[t], count[t], ahead)
            if side != 0.0:
                j = offset[t] + min(max(int(ahead / POINT_SPACING_M + 0.5), 0), count[t] - 1)
                point[0] += side * tangent[j, 1]  # the right of the line is (t_z, -t_x)
                point[2] -= side * tangent[j, 0]
            refs[k, 0] = point[0] - row[st.X]
            refs[k, 1] = point[1] - row[st.Y]
            refs[k, 2] = point[2] - row[st.Z]
        to_finish = (count[t] - 1) * POINT_SPACING_M - row[st.S]
        fill_floats(buf, R, vel, ang, wheels, engine, prev_keys[c], refs, to_finish, finish_cap_m, 0.0, 0.0)
        for i in range(out.shape[1]):
            out[c, i] = buf[i]
