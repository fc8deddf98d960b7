"""Where a pitched, roll-free pinhole chase camera sees the flat ground around the car.

Each image row sees the ground at one forward distance from the camera, with one lateral scale in pixels per metre
(``ground_rows``); ``camera_view`` packs the numbers the compiled renderer reads, and ``row_at`` goes back from a
forward distance to its (fractional) row.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hairpin.config.sim import CameraConfig
from hairpin.sim.refline import POINT_SPACING_M

__all__ = ["camera_view", "focal_px", "ground_rows", "row_at"]

ROW_FORWARD, ROW_PX_PER_M, N_ROW = range(3)
"""Columns of the row table (``ground_rows``)."""
(
    VIEW_FOCAL,
    VIEW_HEIGHT,
    VIEW_COS_PITCH,
    VIEW_SIN_PITCH,
    VIEW_BACK,
    VIEW_AHEAD,
    VIEW_GROUND_ROW,
    VIEW_HALF_SLOPE,
    N_VIEW,
) = range(9)
"""Entries of the camera array (``camera_view``): focal length in pixels, camera height (m), pitch cosine and
sine, distance behind the car (m), line points drawn ahead of the car, first image row that sees the ground,
largest |lateral| / forward of a visible ground point."""

NO_FRUSTUM_TEST = 1e12
"""Half-slope used when the bottom rows look behind the camera's foot, where the frustum test does not hold."""


def focal_px(camera: CameraConfig, size: int) -> float:
    """Focal length in pixels of a square image of ``size`` pixels with the camera's horizontal field of view."""
    return 0.5 * size / math.tan(math.radians(camera.fov_deg) / 2)


def ground_rows(camera: CameraConfig, size: int) -> np.ndarray:
    """(size, N_ROW) forward ground distance from the camera (m), inf for sky, and lateral pixels per metre."""
    focal = focal_px(camera, size)
    pitch = math.radians(camera.pitch_deg)
    v = np.arange(size) + 0.5 - size / 2  # pixel-centre offset below the optical axis
    drop = focal * math.sin(pitch) + v * math.cos(pitch)  # downward component of each row's ray, × focal
    ground = drop > 1e-6 * focal
    # The ray (focal·axis + v·down + u·right) meets the ground after height / drop of its length.
    reach = camera.height_m / np.where(ground, drop, 1.0)
    forward = reach * (focal * math.cos(pitch) - v * math.sin(pitch))
    return np.stack([np.where(ground, forward, np.inf), np.where(ground, 1.0 / reach, 0.0)], axis=1)


def camera_view(camera: CameraConfig, size: int) -> np.ndarray:
    """(N_VIEW,) float64 camera numbers the kernel reads, for a square image of ``size`` pixels."""
    rows = ground_rows(camera, size)
    ground_row = int(np.argmax(np.isfinite(rows[:, 0])))
    pitch = math.radians(camera.pitch_deg)
    view = np.zeros(N_VIEW)
    view[VIEW_FOCAL] = focal_px(camera, size)
    view[VIEW_HEIGHT] = camera.height_m
    view[VIEW_COS_PITCH] = math.cos(pitch)
    view[VIEW_SIN_PITCH] = math.sin(pitch)
    view[VIEW_BACK] = camera.back_m
    view[VIEW_AHEAD] = math.ceil(camera.view_m / POINT_SPACING_M)
    view[VIEW_GROUND_ROW] = ground_row
    edge_u = 0.5 * size - 0.5  # pixel-centre offset of the outermost column, and of the bottom row
    nearest_axis = view[VIEW_FOCAL] * math.cos(pitch) - edge_u * math.sin(pitch)
    view[VIEW_HALF_SLOPE] = edge_u / nearest_axis if nearest_axis > 0 else NO_FRUSTUM_TEST
    return view


@njit(cache=True)
def row_at(forward: float, view: np.ndarray, size: int) -> float:
    """Fractional image row that sees the ground ``forward`` metres ahead of the camera (inverse of the rows)."""
    cos_p = view[VIEW_COS_PITCH]
    sin_p = view[VIEW_SIN_PITCH]
    height = view[VIEW_HEIGHT]
    v = view[VIEW_FOCAL] * (height * cos_p - forward * sin_p) / (forward * cos_p + height * sin_p)
    return v + 0.5 * size - 0.5
