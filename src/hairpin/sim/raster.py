"""Filling a convex ground quad, given in camera-frame (forward, lateral) metres, into an image, row by row.

A quad that falls between two row (or column) centres still gets its nearest one, so far, thin bands do not
vanish.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from hairpin.sim.camera import ROW_FORWARD, ROW_PX_PER_M, VIEW_GROUND_ROW, VIEW_HALF_SLOPE, row_at

__all__ = ["N_QUAD", "QUAD_VALUE", "fill_quad"]

QUAD_VALUE, N_QUAD = 8, 9
"""Columns of the quad buffer: camera-frame corners (f0, l0, …, f3, l3) in order around the quad, palette value."""


@njit(cache=True)
def _edge(fa: float, la: float, fb: float, lb: float) -> tuple:
    """The edge a–b as (lowest forward, highest forward, lateral at the lowest, d lateral / d forward)."""
    if fa > fb:
        fa, la, fb, lb = fb, lb, fa, la
    return fa, fb, la, (lb - la) / (fb - fa) if fb > fa else 0.0


@njit(cache=True)
def _edge_span(forward: float, edge: tuple, lo: float, hi: float) -> tuple:
    """Widen [lo, hi] by the lateral position where an edge (``_edge``) crosses ``forward``, if it does."""
    f_low, f_high, lateral_low, slope = edge
    if f_low <= forward <= f_high:
        lateral = lateral_low + (forward - f_low) * slope
        lo = min(lo, lateral)
        hi = max(hi, lateral)
    return lo, hi


@njit(cache=True, inline="always")  # inlined in its one caller's loop: a call per quad costs ~20% of a frame
def fill_quad(img: np.ndarray, rows: np.ndarray, view: np.ndarray, quad: np.ndarray) -> None:
    """Fill the pixels whose ground point lies in a convex quad: a row of the quad buffer, as
    ``render._push_section`` writes it."""
    f0, l0, f1, l1, f2, l2, f3, l3 = quad[0], quad[1], quad[2], quad[3], quad[4], quad[5], quad[6], quad[7]
    size = img.shape[0]
    ground_row = int(view[VIEW_GROUND_ROW])
    nearest = rows[size - 1, ROW_FORWARD]
    farthest = rows[ground_row, ROW_FORWARD]
    f_min = min(min(f0, f1), min(f2, f3))
    f_max = max(max(f0, f1), max(f2, f3))
    if f_max < nearest or f_min > farthest:
        return
    slope = view[VIEW_HALF_SLOPE]  # every visible ground point has |lateral| <= slope * forward
    if min(min(l0 - slope * f0, l1 - slope * f1), min(l2 - slope * f2, l3 - slope * f3)) > 0.0:
        return
    if max(max(l0 + slope * f0, l1 + slope * f1), max(l2 + slope * f2, l3 + slope * f3)) < 0.0:
        return
    top = ground_row if f_max >= farthest else max(math.ceil(row_at(f_max, view, size)), ground_row)
    bottom = size - 1 if f_min <= nearest else min(math.floor(row_at(f_min, view, size)), size - 1)
    f_mid = 0.5 * (f_min + f_max)
    thin = top > bottom  # between two row centres: drawn on its nearest row, so that far bands do not vanish
    if thin:
        top = bottom = min(max(round(row_at(f_mid, view, size)), ground_row), size - 1)
    edge_a = _edge(f0, l0, f1, l1)
    edge_b = _edge(f1, l1, f2, l2)
    edge_c = _edge(f2, l2, f3, l3)
    edge_d = _edge(f3, l3, f0, l0)
    value = np.uint8(quad[QUAD_VALUE])
    centre_col = 0.5 * size - 0.5
    for r in range(top, bottom + 1):
        forward = f_mid if thin else rows[r, ROW_FORWARD]
        lo, hi = _edge_span(forward, edge_a, math.inf, -math.inf)
        lo, hi = _edge_span(forward, edge_b, lo, hi)
        lo, hi = _edge_span(forward, edge_c, lo, hi)
        lo, hi = _edge_span(forward, edge_d, lo, hi)
        if lo > hi:
            continue
        col_lo = lo * rows[r, ROW_PX_PER_M] + centre_col
        col_hi = hi * rows[r, ROW_PX_PER_M] + centre_col
        if col_hi < -0.5 or col_lo > size - 0.5:
            continue
        first = math.ceil(col_lo)
        last = math.floor(col_hi)
        if first > last:  # narrower than a pixel: its nearest column, as for rows
            first = last = round(0.5 * (col_lo + col_hi))
        img[r, max(first, 0) : min(last, size - 1) + 1] = value
