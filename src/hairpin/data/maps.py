"""The maps of a dataset: built-in names, reference-line files and generated maps, each with how to rebuild it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hairpin.data.meta import DatasetError, MapRecord
from hairpin.sim.generator import blocks_to_line, generate_blocks, generated_track_name
from hairpin.sim.maps import BUILTIN_MAPS, load_map
from hairpin.sim.track import Track

__all__ = ["DemoMap", "builtin_or_file", "generated_maps", "resolve_maps"]


@dataclass(frozen=True)
class DemoMap:
    """A map episodes are driven on: its name in the dataset, its track, and how to build it again."""

    name: str
    track: Track
    source: MapRecord


def builtin_or_file(name: str, map_: str, half_width: float | None) -> DemoMap:
    """Map ``map_`` (a built-in name or a ``.npy`` file) under the dataset name ``name``."""
    track = load_map(map_, half_width=half_width)
    if map_ in BUILTIN_MAPS:
        return DemoMap(name, track, MapRecord(load=map_, kind="builtin", length_m=track.length_m))
    return DemoMap(name, track, MapRecord(load=f"maps/{name}.npy", kind="file", length_m=track.length_m))


def generated_maps(count: int, seed: int, n_blocks: int, half_width: float | None) -> list[DemoMap]:
    """``count`` maps from the block generator, seeds ``seed`` … ``seed + count - 1``, named ``gen-<seed>``."""
    maps = []
    for s in range(seed, seed + count):
        codes = " ".join(generate_blocks(s, n_blocks))
        name = generated_track_name(s)
        track = Track(name=name, points=blocks_to_line(codes), half_width=8.0 if half_width is None else half_width)
        record = MapRecord(load=f"maps/{name}.npy", kind="generated", length_m=track.length_m, blocks=codes)
        maps.append(DemoMap(name, track, record))
    return maps


def resolve_maps(
    names: Sequence[str],
    *,
    generated: int = 0,
    generator_seed: int = 0,
    generated_blocks: int = 20,
    half_width: float | None = None,
) -> list[DemoMap]:
    """Built-in names and ``.npy`` files (named by their stem), then ``generated`` generated maps; names unique."""
    maps = [builtin_or_file(_map_name(m), m, half_width) for m in names]
    maps += generated_maps(generated, generator_seed, generated_blocks, half_width)
    seen: set[str] = set()
    for m in maps:
        if m.name in seen:
            raise DatasetError(f"map {m.name!r} is given twice; a dataset names each map once")
        seen.add(m.name)
    if not maps:
        raise DatasetError("no map given: name built-in maps or .npy files with --maps, or add --generated K")
    return maps


def _map_name(map_: str) -> str:
    return map_ if map_ in BUILTIN_MAPS else Path(map_).stem.split("_0.5m")[0]
