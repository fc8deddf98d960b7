"""The built-in maps, written down as fixed block strings, and ``load_map`` for map names or ``.npy`` files.

The block strings were drawn with ``generator.generate_blocks`` (seeds noted per map) and pasted here, so the
maps never change when the generator does. See ``hairpin.sim.generator`` for the block alphabet.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from hairpin.errors import HairpinError
from hairpin.sim.generator import blocks_to_line
from hairpin.sim.track import Track

__all__ = ["BUILTIN_MAPS", "DEFAULT_MAP", "MapSpec", "UnknownMapError", "load_map"]


class UnknownMapError(HairpinError, ValueError):
    """A map name that is neither a built-in map nor a reference-line file."""


@dataclass(frozen=True)
class MapSpec:
    """A built-in map: its block string and road width."""

    name: str
    blocks: str
    description: str
    half_width: float = 8.0


BUILTIN_MAPS: dict[str, MapSpec] = {
    spec.name: spec
    for spec in (
        MapSpec(
            "sprint",
            # generate_blocks(30, 13), lengthened by hand (SR, L16, R16) so the expert lap takes 20–30 s:
            # 803 m, 8 quarter turns (16, 48 and 80 m), an S-bend, a hill of 8 m.
            "S S R48 S R16 SR L48 R48 U8 S D8 R48 R80 L16 R16 S",
            "Short default map: 800 m, eight turns of 16 to 80 m radius, an S-bend and a hill.",
        ),
        MapSpec(
            "grand-tour",
            # generate_blocks(4, 42): 2,169.5 m, 23 quarter turns, 3 S-bends, climbs to 20 m.
            "S L48 U8 L80 L16 S S L16 R16 R16 S R48 SL S R80 R48 L16 L48 R48 L80 U8 S L16 L48 R16 S S S "
            "L80 R16 R80 L16 S L16 SR SL R48 S R16 U4 S S",
            "Long map: 2.2 km, 23 turns of every radius, S-bends, climbing to 20 m.",
        ),
        MapSpec(
            "technical",
            # generate_blocks(85, 22, weights=S .25, L16/R16 .22, SL/SR .1, L48/R48 .03, U4/D4 .025): 777.5 m,
            # 15 quarter turns (14 of them 16 m), 3 S-bends.
            "S S L16 SR SL L16 L16 R16 R16 L16 S L16 SL R16 L16 R48 R16 L16 L16 R16 R16 S",
            "Tight map: 780 m of 16 m hairpins and S-bends, flat.",
        ),
    )
}
"""The built-in maps by name."""

DEFAULT_MAP = "sprint"


@functools.lru_cache(maxsize=32)
def _builtin(name: str, half_width: float) -> Track:
    """Build a built-in map once per (name, half-width); tracks are immutable, so they are shared."""
    spec = BUILTIN_MAPS[name]
    return Track(name=name, points=blocks_to_line(spec.blocks), half_width=half_width)


def load_map(name_or_path: str | Path, *, half_width: float | None = None) -> Track:
    """A built-in map by name, or a map from a ``.npy`` reference line; half_width defaults to its own.

    A file that cannot be read or whose line no car could drive raises ``ReferenceLineError`` (see ``sim.refline``).
    """
    key = str(name_or_path)
    if key in BUILTIN_MAPS:
        return _builtin(key, BUILTIN_MAPS[key].half_width if half_width is None else half_width)
    path = Path(name_or_path)
    if path.suffix == ".npy" or path.exists():
        return Track.from_file(path, half_width=8.0 if half_width is None else half_width)
    raise UnknownMapError(
        f"unknown map {key!r}: not a built-in map ({', '.join(BUILTIN_MAPS)}) nor a .npy reference-line file"
    )
