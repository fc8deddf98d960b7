"""Seeded Trackmania-like tracks: blocks on a 32 m grid, walked into a 0.5 m reference line.

A track is a sequence of blocks, written down as one string of space-separated codes, for example
``"S S R16 S L48 SR U8 S D8 S"``. The first block is the start (a straight ``S``), the last one the finish.

====== ================================================================ =========
code   block                                                            footprint
====== ================================================================ =========
S      straight, 32 m                                                   1×1
L16    quarter turn left, radius 16 m (half a cell)                     1×1
R16    quarter turn right, radius 16 m                                  1×1
L48    quarter turn left, radius 48 m (1.5 cells)                       2×2
R48    quarter turn right, radius 48 m                                  2×2
L80    quarter turn left, radius 80 m (2.5 cells)                       3×3
R80    quarter turn right, radius 80 m                                  3×3
SL     S-bend one cell to the left over two cells forward               2×2
SR     S-bend one cell to the right: two opposite 53.13° arcs of 40 m   2×2
U4     straight ramp climbing 4 m, cosine profile (steepest slope 0.20) 1×1
U8     straight ramp climbing 8 m (steepest slope 0.39)                 1×1
D4     straight ramp descending 4 m                                     1×1
D8     straight ramp descending 8 m                                     1×1
====== ================================================================ =========

Grid: cell (i, j) covers x ∈ [32 i, 32 i + 32] and z ∈ [32 j, 32 j + 32]; the start block is cell (0, 0).
A block is entered at the middle of one cell edge and left at the middle of another. Headings are
Trackmania's: yaw points along (sin yaw, cos yaw) in the (x, z) plane and grows turning right; the grid
directions are quarter turns d = yaw / 90°: 0 → +z, 1 → +x, 2 → −z, 3 → −x.

Why no free margin cell between legs: a road (half-width 8 m) stays at least 8 m inside its block's cells
except where it crosses into the previous or next block, so the walls of two blocks that share no cell are
at least 16 m apart and their centre lines at least 22.6 m apart (two edge middles around one corner).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hairpin.errors import HairpinError
from hairpin.sim.refline import POINT_SPACING_M
from hairpin.sim.track import Track

__all__ = [
    "BLOCKS",
    "CELL_M",
    "DEFAULT_WEIGHTS",
    "BlockKind",
    "TrackLayoutError",
    "blocks_to_line",
    "generate_blocks",
    "generate_track",
    "generated_track_name",
    "parse_blocks",
]

CELL_M = 32.0
"""Side of a grid cell (a Trackmania block) in metres."""
DENSE_STEP_M = 0.05
"""Step of the analytic sampling that is resampled to 0.5 m at the end."""

Cell = tuple[int, int]


class TrackLayoutError(HairpinError, ValueError):
    """A block sequence that cannot be laid out (unknown code, self-intersection, height below 0)."""


@dataclass(frozen=True)
class BlockKind:
    """Geometry of one block in the frame of its entry cell: offsets are (forward, right) in cells."""

    code: str
    segments: tuple[tuple[float, float], ...]
    """(horizontal length in m, signed curvature in 1/m, > 0 turning right) of each piece, in order."""
    footprint: tuple[Cell, ...]
    """Cells the block occupies, as (forward, right) offsets from the entry cell."""
    exit_cell: Cell
    """The next block's entry cell, as a (forward, right) offset."""
    turn: int = 0
    """Heading change in quarter turns (+1 right, −1 left)."""
    climb_m: float = 0.0
    """Height gained over the block (negative descends), along a half-cosine."""

    @property
    def length_m(self) -> float:
        """Horizontal length of the centre line."""
        return sum(length for length, _ in self.segments)


def _straight(code: str, climb_m: float = 0.0) -> BlockKind:
    return BlockKind(code, ((CELL_M, 0.0),), ((0, 0),), (1, 0), 0, climb_m)


def _turn(side: int, cells: int) -> BlockKind:
    """Quarter arc of radius (cells − ½) × 32 m around the inner corner of a cells × cells footprint."""
    radius = (cells - 0.5) * CELL_M
    footprint = tuple((f, side * r) for f in range(cells) for r in range(cells))
    code = f"{'R' if side > 0 else 'L'}{radius:.0f}"
    return BlockKind(code, ((0.5 * math.pi * radius, side / radius),), footprint, (cells - 1, side * cells), side)


def _s_bend(side: int) -> BlockKind:
    """Two opposite arcs, each half a cell sideways over one cell forward: r sin θ = 32, r(1 − cos θ) = 16."""
    angle = 2.0 * math.atan(0.5)
    radius = CELL_M / math.sin(angle)
    arc = radius * angle
    footprint = ((0, 0), (1, 0), (0, side), (1, side))
    code = "SR" if side > 0 else "SL"
    return BlockKind(code, ((arc, side / radius), (arc, -side / radius)), footprint, (2, side))


BLOCKS: dict[str, BlockKind] = {
    kind.code: kind
    for kind in (
        _straight("S"),
        *(_turn(side, cells) for cells in (1, 2, 3) for side in (-1, 1)),
        _s_bend(-1),
        _s_bend(1),
        _straight("U4", 4.0),
        _straight("U8", 8.0),
        _straight("D4", -4.0),
        _straight("D8", -8.0),
    )
}
"""The block alphabet, by code."""

DEFAULT_WEIGHTS: dict[str, float] = {
    "S": 0.30, "L16": 0.10, "R16": 0.10, "L48": 0.08, "R48": 0.08, "L80": 0.05, "R80": 0.05,
    "SL": 0.05, "SR": 0.05, "U4": 0.035, "U8": 0.035, "D4": 0.035, "D8": 0.035,
}  # fmt: skip
"""Relative frequency of each block in a generated track: mostly straights and turns, some S-bends, ramps."""

_STEP: tuple[Cell, ...] = ((0, 1), (1, 0), (0, -1), (-1, 0))
"""Cell step of each grid direction d (yaw = d × 90°): +z, +x, −z, −x; the right of d is d + 1."""


def parse_blocks(codes: str | Sequence[str]) -> list[BlockKind]:
    """Turn a block string (space-separated) or list of codes into block kinds; unknown codes are errors."""
    words = codes.split() if isinstance(codes, str) else list(codes)
    if not words:
        raise TrackLayoutError("empty block sequence")
    unknown = [(i, w) for i, w in enumerate(words) if w.upper() not in BLOCKS]
    if unknown:
        index, word = unknown[0]
        raise TrackLayoutError(f"unknown block code {word!r} at position {index}; known codes: {' '.join(BLOCKS)}")
    return [BLOCKS[w.upper()] for w in words]


def _place(kind: BlockKind, cell: Cell, d: int) -> tuple[list[Cell], Cell, int]:
    """Cells of a block entered at ``cell`` heading ``d``, and the next block's entry cell and heading."""
    (fi, fj), (ri, rj) = _STEP[d], _STEP[(d + 1) % 4]

    def grid(f: int, r: int) -> Cell:
        return (cell[0] + f * fi + r * ri, cell[1] + f * fj + r * rj)

    return [grid(f, r) for f, r in kind.footprint], grid(*kind.exit_cell), (d + kind.turn) % 4


def _arc(x: float, z: float, yaw: float, curvature: float, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions at distances ``s`` along an arc (straight if curvature is 0) leaving (x, z) at ``yaw``."""
    if curvature == 0.0:
        return x + s * math.sin(yaw), z + s * math.cos(yaw)
    yaw_s = yaw + curvature * s
    return x + (math.cos(yaw) - np.cos(yaw_s)) / curvature, z + (np.sin(yaw_s) - math.sin(yaw)) / curvature


def _block_points(kind: BlockKind, cell: Cell, d: int, height: float) -> np.ndarray:
    """Densely sampled (x, height, z) centre line of a block entered at ``cell`` heading ``d``."""
    fi, fj = _STEP[d]
    x = (cell[0] + 0.5 - 0.5 * fi) * CELL_M  # middle of the entry edge
    z = (cell[1] + 0.5 - 0.5 * fj) * CELL_M
    yaw = d * 0.5 * math.pi
    pieces: list[np.ndarray] = []
    done = 0.0
    for length, curvature in kind.segments:
        s = np.linspace(0.0, length, math.ceil(length / DENSE_STEP_M) + 1)
        xs, zs = _arc(x, z, yaw, curvature, s)
        hs = height + kind.climb_m * 0.5 * (1.0 - np.cos(math.pi * (done + s) / kind.length_m))
        pieces.append(np.stack([xs, hs, zs], axis=1)[1 if pieces else 0 :])
        x, z, yaw, done = float(xs[-1]), float(zs[-1]), yaw + curvature * length, done + length
    return np.concatenate(pieces)


def _resample(dense: np.ndarray) -> np.ndarray:
    """Points exactly 0.5 m apart along the (3-D) arc length of a dense polyline, from its first point."""
    s = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(dense, axis=0), axis=1))])
    targets = np.arange(0.0, s[-1] + 1e-9, POINT_SPACING_M)
    return np.stack([np.interp(targets, s, dense[:, k]) for k in range(3)], axis=1)


def blocks_to_line(codes: str | Sequence[str], *, start_heading: int = 0, start_height_m: float = 0.0) -> np.ndarray:
    """Lay out blocks from cell (0, 0) and return the (N, 3) centre line, points 0.5 m apart.

    ``start_heading`` is the start block's yaw in degrees, a multiple of 90 (0 = along +z, 90 = along +x).
    """
    kinds = parse_blocks(codes)
    if kinds[0].code != "S":
        raise TrackLayoutError(f"the first block is the start and must be a straight 'S', got {kinds[0].code!r}")
    if start_heading % 90 != 0:
        raise TrackLayoutError(f"start_heading must be a multiple of 90 degrees, got {start_heading}")
    cell, d, height = (0, 0), (start_heading // 90) % 4, start_height_m
    owner: dict[Cell, int] = {_behind(cell, d): -1}
    pieces: list[np.ndarray] = []
    for index, kind in enumerate(kinds):
        cells, next_cell, next_d = _place(kind, cell, d)
        for c in cells:
            if c in owner:
                raise TrackLayoutError(f"block {index} ({kind.code}) runs into cell {c}, {_used_by(owner[c], kinds)}")
            owner[c] = index
        if height + kind.climb_m < -1e-9:
            raise TrackLayoutError(f"block {index} ({kind.code}) descends below height 0 (from {height:g} m)")
        points = _block_points(kind, cell, d, height)
        pieces.append(points if not pieces else points[1:])
        cell, d, height = next_cell, next_d, height + kind.climb_m
    if cell in owner:
        raise TrackLayoutError(f"the finish leads into cell {cell}, {_used_by(owner[cell], kinds)}")
    return _resample(np.concatenate(pieces))


def _behind(cell: Cell, d: int) -> Cell:
    """The cell behind the start, kept free like the one past the finish so no other leg touches the ends."""
    di, dj = _STEP[d]
    return (cell[0] - di, cell[1] - dj)


def _used_by(index: int, kinds: list[BlockKind]) -> str:
    """Why a cell is taken, for self-intersection errors."""
    if index < 0:
        return "which is kept free behind the start: the track intersects itself"
    return f"already used by block {index} ({kinds[index].code}): the track intersects itself"


def _candidates(rng: np.random.Generator, codes: list[str], p: np.ndarray) -> list[str]:
    """All codes in a random order, likelier ones first (weighted sampling without replacement)."""
    order = rng.choice(len(codes), size=len(codes), replace=False, p=p)
    return [codes[i] for i in order]


@dataclass(frozen=True)
class _WalkState:
    """Where the next block starts during generation."""

    cell: Cell
    d: int
    height: float
    lo: Cell
    """Lower corner of the bounding box of the cells used so far."""
    hi: Cell


def _try_place(
    kind: BlockKind, at: _WalkState, occupied: set[Cell], max_extent: int, max_height_m: float
) -> tuple[list[Cell], _WalkState] | None:
    """The cells and the next state if ``kind`` fits at ``at`` (free cells, inside the extent), else None."""
    height = at.height + kind.climb_m
    if not 0.0 <= height <= max_height_m:
        return None
    cells, next_cell, next_d = _place(kind, at.cell, at.d)
    if next_cell in occupied or any(c in occupied for c in cells):
        return None
    lo = (min(at.lo[0], *(c[0] for c in cells)), min(at.lo[1], *(c[1] for c in cells)))
    hi = (max(at.hi[0], *(c[0] for c in cells)), max(at.hi[1], *(c[1] for c in cells)))
    if hi[0] - lo[0] >= max_extent or hi[1] - lo[1] >= max_extent:
        return None
    return cells, _WalkState(next_cell, next_d, height, lo, hi)


def _room(start: Cell, occupied: set[Cell], lo: Cell, hi: Cell, max_extent: int, enough: int) -> bool:
    """Whether at least ``enough`` free cells are reachable from ``start`` inside the allowed extent."""
    x_range = (hi[0] - max_extent + 1, lo[0] + max_extent - 1)
    z_range = (hi[1] - max_extent + 1, lo[1] + max_extent - 1)
    seen, frontier = {start}, [start]
    while frontier and len(seen) < enough:
        i, j = frontier.pop()
        for di, dj in _STEP:
            c = (i + di, j + dj)
            inside = x_range[0] <= c[0] <= x_range[1] and z_range[0] <= c[1] <= z_range[1]
            if inside and c not in seen and c not in occupied:
                seen.add(c)
                frontier.append(c)
    return len(seen) >= enough


def _weight_table(weights: Mapping[str, float]) -> tuple[list[str], np.ndarray]:
    """The codes with a positive weight and their probabilities; unknown codes and bad weights are errors."""
    bad = {code: w for code, w in weights.items() if not (math.isfinite(w) and w >= 0)}
    if bad:
        raise ValueError(f"block weights must be finite and >= 0, got {bad}")
    drawn = {code: w for code, w in weights.items() if w > 0}
    if not drawn:
        raise ValueError(f"weights give no block a positive weight: {dict(weights)}")
    kinds = parse_blocks(list(drawn))
    p = np.array(list(drawn.values()), dtype=np.float64)
    return [kind.code for kind in kinds], p / p.sum()


def generate_blocks(
    seed: int,
    n_blocks: int,
    *,
    weights: Mapping[str, float] | None = None,
    max_extent: int = 32,
    max_height_m: float = 32.0,
    max_tries: int = 200_000,
) -> list[str]:
    """A seeded random walk of ``n_blocks`` blocks (start and finish included) that never crosses itself.

    Each block is drawn by ``weights`` (default ``DEFAULT_WEIGHTS``; missing codes are never drawn) among
    those whose cells are all free and whose next entry cell is free; a dead end backtracks. The track fits
    in ``max_extent`` × ``max_extent`` cells (Trackmania's Stadium is 32 × 32) and stays between height 0
    and ``max_height_m``.
    """
    if n_blocks < 2:
        raise ValueError(f"a track needs at least 2 blocks (start and finish), got n_blocks={n_blocks}")
    codes, p = _weight_table(DEFAULT_WEIGHTS if weights is None else weights)
    rng = np.random.default_rng(seed)
    path: list[tuple[str, list[Cell]]] = []
    states = [_WalkState((0, 0), 0, 0.0, (0, 0), (0, 0))]
    options: list[list[str]] = [["S"]]
    occupied: set[Cell] = {_behind(states[0].cell, states[0].d)}
    tries = 0
    while len(path) < n_blocks and tries < max_tries:
        tries += 1
        if not options[-1]:  # dead end: take the previous block back
            options.pop()
            if not path:
                break
            occupied.difference_update(path.pop()[1])
            states.pop()
            continue
        code = options[-1].pop(0)
        placed = _try_place(BLOCKS[code], states[-1], occupied, max_extent, max_height_m)
        if placed is None:
            continue
        cells, state = placed
        occupied.update(cells)
        # Refuse to enter a pocket too small for the rest of the track (room for twice the blocks left).
        if not _room(state.cell, occupied, state.lo, state.hi, max_extent, 2 * (n_blocks - len(path) - 1)):
            occupied.difference_update(cells)
            continue
        path.append((code, cells))
        states.append(state)
        options.append(["S"] if len(path) == n_blocks - 1 else _candidates(rng, codes, p))
    if len(path) == n_blocks:
        return [code for code, _ in path]
    raise TrackLayoutError(
        f"no layout of {n_blocks} blocks found for seed {seed} within {max_tries} tries "
        f"(max_extent={max_extent}); try fewer blocks or a larger extent"
    )


def generated_track_name(seed: int) -> str:
    """The name of the track generated from ``seed``."""
    return f"gen-{seed}"


def generate_track(seed: int, n_blocks: int = 20, *, name: str | None = None, half_width: float = 8.0) -> Track:
    """A generated track, named ``generated_track_name(seed)`` unless ``name`` is given."""
    line = blocks_to_line(generate_blocks(seed, n_blocks))
    return Track(name=name or generated_track_name(seed), points=line, half_width=half_width)
