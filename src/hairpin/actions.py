"""The 12 discrete actions (Trackmania keyboard combinations) and their key presses."""

from __future__ import annotations

import numpy as np

__all__ = ["ACTION_KEYS", "ACTION_NAMES", "N_ACTIONS", "check_action"]

ACTION_NAMES = (
    "accel",
    "accel+left",
    "accel+right",
    "nothing",
    "left",
    "right",
    "brake",
    "brake+left",
    "brake+right",
    "accel+brake",
    "accel+brake+left",
    "accel+brake+right",
)
N_ACTIONS = len(ACTION_NAMES)

ACTION_KEYS = np.array(
    [[("accel" in n), ("brake" in n), ("left" in n), ("right" in n)] for n in ACTION_NAMES], dtype=np.int8
)
"""(12, 4) key presses of each action: accel, brake, left, right."""


def check_action(action: object) -> int:
    """Return the action as an int, or raise naming the bad value."""
    try:
        a = int(action)  # type: ignore[call-overload]
    except (TypeError, ValueError) as err:
        raise ValueError(f"action must be an integer in [0, {N_ACTIONS}), got {action!r}") from err
    if a != action or not 0 <= a < N_ACTIONS:
        raise ValueError(f"action must be an integer in [0, {N_ACTIONS}), got {action!r}")
    return a
