"""The map cycle: which map, and which kind of race (exploration or evaluation), each car drives next."""

from __future__ import annotations

from hairpin.config.rl import MapCycleEntry

__all__ = ["MapCycle", "race_kind", "trained_maps", "unique_maps"]


def unique_maps(entries: list[MapCycleEntry]) -> list[str]:
    """The distinct maps of the cycle, in order of first appearance."""
    return list(dict.fromkeys(e.map for e in entries))


def trained_maps(entries: list[MapCycleEntry]) -> frozenset[str]:
    """Short names of the maps at least one entry of which fills the replay buffer: the maps being trained on."""
    return frozenset(e.short_name for e in entries if e.fill_buffer)


def race_kind(entry: MapCycleEntry, trained: frozenset[str] | None = None) -> tuple[str, str]:
    """("explo" | "eval", "trained" | "blind") of races on ``entry``, as TensorBoard tags name them.

    ``trained``: the cycle's ``trained_maps``; a map is "trained" when any entry of it fills the buffer, so the
    greedy races on a map the agent learns from are not called blind. None: by the entry's own ``fill_buffer``.
    """
    fills = entry.fill_buffer if trained is None else entry.short_name in trained
    return ("explo" if entry.is_exploration else "eval"), ("trained" if fills else "blind")


class MapCycle:
    """Endless walk over the entries, each repeated ``repeat`` times; ``start`` spreads cars over the cycle."""

    def __init__(self, entries: list[MapCycleEntry], start: int = 0) -> None:
        if not entries:
            raise ValueError("the map cycle needs at least one entry")
        self.entries = entries
        self._order = [i for i, e in enumerate(entries) for _ in range(e.repeat)]
        self._position = start % len(self._order)

    def next(self) -> int:
        """Index of the entry of the next race."""
        index = self._order[self._position]
        self._position = (self._position + 1) % len(self._order)
        return index
