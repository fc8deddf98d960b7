"""The float observation: one function that turns a car state, the reference line ahead and the action history
into the float vector every backend (built-in sim, the game, demo recording, BC) feeds the network.

The layout follows the usual Trackmania IQN layout so weights and habits carry over (184 values with the
defaults, DESIGN §3):

    mini_race_time (1) · prev_actions (P × [accel, brake, left, right], oldest first) ·
    wheel_sliding (4) · wheel_contact (4) · wheel_damper (4) · gearbox_state, gear, rpm, gearbox_counter (4) ·
    wheel_material (4 wheels × 4 kinds, one-hot) · angular_velocity (3) · velocity (3) · world_up (3) ·
    ref_points (K × 3) · distance_to_finish (1) · freewheeling (1)

Car-frame vectors are ``R.T @ v`` where the columns of the orientation ``R`` are the car's right, up and
forward axes in world coordinates (Trackmania's left-handed world, y up), so x is to the car's right, y up,
z forward. Wheels are ordered front-left, front-right, rear-left, rear-right. The environment writes 0 in
``mini_race_time``; the learner fills it. Normalisation happens once, in the network, with ``FloatLayout.mean``
and ``FloatLayout.std``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from hairpin.actions import ACTION_KEYS

__all__ = [
    "MATERIAL_KINDS",
    "CarState",
    "FloatLayout",
    "build_floats",
    "fill_floats",
    "float_layout_differences",
    "float_layout_record",
]

MATERIAL_KINDS = ("road", "grass", "dirt", "other")
"""Contact material kinds of the one-hot wheel-material block."""
N_WHEELS = 4
N_KEYS = 4

# (name, width) in order; P and K are filled in by FloatLayout.
_BLOCKS: tuple[tuple[str, str | int], ...] = (
    ("mini_race_time", 1),
    ("prev_actions", "P"),
    ("wheel_sliding", N_WHEELS),
    ("wheel_contact", N_WHEELS),
    ("wheel_damper", N_WHEELS),
    ("gearbox_state", 1),
    ("gear", 1),
    ("rpm", 1),
    ("gearbox_counter", 1),
    ("wheel_material", N_WHEELS * len(MATERIAL_KINDS)),
    ("angular_velocity", 3),
    ("velocity", 3),
    ("world_up", 3),
    ("ref_points", "K"),
    ("distance_to_finish", 1),
    ("freewheeling", 1),
)


@dataclass(frozen=True)
class FloatLayout:
    """Named slices of the float vector and its normalisation table."""

    n_prev_actions: int = 5
    n_ref_points: int = 40
    ref_point_spacing_m: float = 10.0
    finish_distance_cap_m: float = 700.0
    reference_line: str = "centre"
    """The line the reference points lie on (``env.reference_line``): it changes what they mean, not the shape."""
    slices: dict[str, slice] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        widths = {"P": N_KEYS * self.n_prev_actions, "K": 3 * self.n_ref_points}
        slices, start = {}, 0
        for name, width in _BLOCKS:
            n = widths[width] if isinstance(width, str) else width
            slices[name] = slice(start, start + n)
            start += n
        object.__setattr__(self, "slices", slices)

    def __getattr__(self, name: str) -> slice:
        slices = self.__dict__.get("slices", {})
        if name in slices:
            return slices[name]
        raise AttributeError(name)

    @property
    def size(self) -> int:
        """F, the length of the float vector."""
        return max(s.stop for s in self.slices.values())

    @property
    def mean(self) -> np.ndarray:
        """(F,) float32 mean subtracted before the network sees the floats."""
        return self._table()[0]

    @property
    def std(self) -> np.ndarray:
        """(F,) float32 scale the floats are divided by."""
        return self._table()[1]

    def _table(self) -> tuple[np.ndarray, np.ndarray]:
        mean = np.zeros(self.size, np.float32)
        std = np.ones(self.size, np.float32)
        sl = self.slices

        def put(name: str, m: float | np.ndarray, s: float | np.ndarray) -> None:
            mean[sl[name]], std[sl[name]] = m, s

        put("mini_race_time", 3.5, 2.0)  # seconds into a 7 s mini-race
        put("prev_actions", 0.5, 0.5)
        put("wheel_sliding", 0.1, 0.3)
        put("wheel_contact", 0.9, 0.3)
        put("wheel_damper", 0.03, 0.03)
        put("gearbox_state", 0.5, 0.5)
        put("gear", 3.0, 1.5)
        put("rpm", 7000.0, 3000.0)
        put("gearbox_counter", 0.0, 1.0)
        put("wheel_material", 0.25, 0.45)
        put("angular_velocity", 0.0, np.array([0.5, 1.0, 0.5]))
        put("velocity", np.array([0.0, 0.0, 35.0]), np.array([4.0, 3.0, 25.0]))
        put("world_up", np.array([0.0, 1.0, 0.0]), np.array([0.1, 0.05, 0.1]))
        ahead = self.ref_point_spacing_m * np.arange(1, self.n_ref_points + 1)
        ref_mean = np.stack([np.zeros_like(ahead), np.zeros_like(ahead), 0.7 * ahead], 1).ravel()
        ref_std = np.stack([0.1 * ahead + 2.0, 0.03 * ahead + 1.0, 0.4 * ahead + 2.0], 1).ravel()
        put("ref_points", ref_mean, ref_std)
        put("distance_to_finish", self.finish_distance_cap_m / 2, self.finish_distance_cap_m / 3)
        put("freewheeling", 0.0, 1.0)
        return mean, std


def float_layout_record(layout: FloatLayout) -> dict[str, Any]:
    """The float layout as JSON, for datasets and artifacts to be checked against: size, named slices, a digest of
    the mean/std table and, when it is not the centre line, the line the reference points lie on."""
    table = np.concatenate([layout.mean, layout.std]).astype(np.float32)
    record: dict[str, Any] = {
        "size": layout.size,
        "slices": {name: [s.start, s.stop] for name, s in layout.slices.items()},
        "mean_std_sha256": hashlib.sha256(table.tobytes()).hexdigest(),
    }
    if layout.reference_line != "centre":
        record["reference_line"] = layout.reference_line
    return record


@dataclass
class CarState:
    """What a backend knows about the car at one instant, in world coordinates."""

    position: np.ndarray
    """(3,) x, height, z."""
    orientation: np.ndarray
    """(3, 3) columns: the car's right, up and forward axes in world coordinates."""
    velocity: np.ndarray
    """(3,) m/s."""
    angular_velocity: np.ndarray
    """(3,) rad/s, about the world axes."""
    wheel_sliding: np.ndarray = field(default_factory=lambda: np.zeros(N_WHEELS))
    wheel_contact: np.ndarray = field(default_factory=lambda: np.ones(N_WHEELS))
    wheel_damper: np.ndarray = field(default_factory=lambda: np.full(N_WHEELS, 0.03))
    wheel_material: np.ndarray = field(default_factory=lambda: np.zeros(N_WHEELS, np.int64))
    """(4,) index into ``MATERIAL_KINDS`` per wheel."""
    gearbox_state: float = 0.0
    gear: float = 1.0
    rpm: float = 0.0
    gearbox_counter: float = 0.0
    freewheeling: float = 0.0


@njit(cache=True)
def fill_floats(
    out: np.ndarray,
    orientation: np.ndarray,
    velocity: np.ndarray,
    angular_velocity: np.ndarray,
    wheels: np.ndarray,
    engine: np.ndarray,
    prev_keys: np.ndarray,
    ref_points_rel: np.ndarray,
    distance_to_finish: float,
    finish_distance_cap: float,
    freewheeling: float,
    mini_race_time: float,
) -> None:
    """Write the float vector into ``out`` (F,).

    wheels (4, 4): per wheel [sliding, contact, damper, material index]; engine (4,): gearbox_state, gear, rpm,
    gearbox_counter; prev_keys (P, 4) oldest first; ref_points_rel (K, 3) reference points minus the car
    position, in world axes.
    """
    R = orientation
    out[0] = mini_race_time
    k = 1
    for p in range(prev_keys.shape[0]):
        for j in range(N_KEYS):
            out[k] = prev_keys[p, j]
            k += 1
    for row in range(3):  # sliding, contact, damper
        for w in range(N_WHEELS):
            out[k] = wheels[w, row]
            k += 1
    for j in range(4):
        out[k] = engine[j]
        k += 1
    for w in range(N_WHEELS):
        for m in range(4):
            out[k] = 1.0 if int(wheels[w, 3]) == m else 0.0
            k += 1
    for vec in (angular_velocity, velocity):
        for a in range(3):
            out[k] = R[0, a] * vec[0] + R[1, a] * vec[1] + R[2, a] * vec[2]
            k += 1
    for a in range(3):
        out[k] = R[1, a]  # world up (0, 1, 0) in the car frame
        k += 1
    for p in range(ref_points_rel.shape[0]):
        for a in range(3):
            out[k] = R[0, a] * ref_points_rel[p, 0] + R[1, a] * ref_points_rel[p, 1] + R[2, a] * ref_points_rel[p, 2]
            k += 1
    out[k] = min(distance_to_finish, finish_distance_cap)
    out[k + 1] = freewheeling


def build_floats(
    car: CarState,
    ref_points: np.ndarray,
    prev_actions: Sequence[int],
    distance_to_finish: float,
    layout: FloatLayout,
    mini_race_time: float = 0.0,
) -> np.ndarray:
    """Float vector (F,) float32 of one car: ``ref_points`` (K, 3) in world coordinates, ``prev_actions``
    the last P actions, oldest first (fewer are padded with "no key" in front)."""
    ref_points = np.asarray(ref_points, np.float64)
    if ref_points.shape != (layout.n_ref_points, 3):
        raise ValueError(f"ref_points must have shape ({layout.n_ref_points}, 3), got {ref_points.shape}")
    prev_keys = np.zeros((layout.n_prev_actions, N_KEYS), np.float64)
    recent = list(prev_actions)[-layout.n_prev_actions :] if layout.n_prev_actions else []
    if recent:
        prev_keys[len(prev_keys) - len(recent) :] = ACTION_KEYS[np.asarray(recent, np.int64)]
    wheels = np.stack([car.wheel_sliding, car.wheel_contact, car.wheel_damper, car.wheel_material], 1)
    engine = np.array([car.gearbox_state, car.gear, car.rpm, car.gearbox_counter], np.float64)
    out = np.empty(layout.size, np.float64)
    fill_floats(
        out,
        np.asarray(car.orientation, np.float64),
        np.asarray(car.velocity, np.float64),
        np.asarray(car.angular_velocity, np.float64),
        wheels.astype(np.float64),
        engine,
        prev_keys,
        ref_points - np.asarray(car.position, np.float64)[None, :],
        float(distance_to_finish),
        layout.finish_distance_cap_m,
        float(car.freewheeling),
        float(mini_race_time),
    )
    return out.astype(np.float32)


def float_layout_differences(stored: dict[str, Any] | None, layout: FloatLayout) -> list[str]:
    """How a recorded layout (``float_layout_record`` of a dataset or artifact) differs from ``layout``; [] if not."""
    wanted, stored = float_layout_record(layout), stored or {}
    problems = []
    if stored.get("size") != wanted["size"]:
        problems.append(f"floats have {stored.get('size')} values, expected {wanted['size']}")
    theirs = stored.get("slices", {})
    slices = sorted(k for k in set(wanted["slices"]) | set(theirs) if wanted["slices"].get(k) != theirs.get(k))
    if slices:
        problems.append(f"float slices differ: {', '.join(slices)}")
    if stored.get("mean_std_sha256") != wanted["mean_std_sha256"]:
        problems.append("the float normalisation (mean/std) table differs")
    line = stored.get("reference_line", "centre")
    if line != layout.reference_line:
        problems.append(f"reference points lie on the {line} line, expected the {layout.reference_line} line")
    return problems
