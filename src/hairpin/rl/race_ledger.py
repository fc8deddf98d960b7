"""Which races the learner took from which collector: duplicates dropped, gaps counted.

Every race carries (collector, incarnation, sequence): a collector numbers the races of each of its lives from 0.
Whatever the transport does, the learner takes each race once, and knows how many of an incarnation's races never
reached it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hairpin.rl.race_channel import RaceRecord

__all__ = ["IncarnationLog", "RaceLedger"]


@dataclass
class IncarnationLog:
    """What the learner took from one life of one collector."""

    number: int  # 1 for the collector's first life, 2 after its first restart, ...
    taken: int = 0
    next_sequence: int = 0
    missing: set[int] = field(default_factory=set)  # sequences skipped over, not (yet) taken


class RaceLedger:
    """The learner's account of the races it took; ``events`` collects what a log should say about it."""

    def __init__(self) -> None:
        self.lives: dict[int, dict[int, IncarnationLog]] = {}
        self.taken = 0
        self.frames = 0
        self.duplicates = 0
        self.events: list[tuple[str, str]] = []

    @property
    def missing(self) -> int:
        """Races skipped in some incarnation's sequence that never arrived."""
        return sum(len(log.missing) for lives in self.lives.values() for log in lives.values())

    def life(self, collector: int, incarnation: int) -> IncarnationLog:
        """The log of that incarnation, made (numbered after the collector's earlier ones) when it is new."""
        lives = self.lives.setdefault(collector, {})
        if incarnation not in lives:
            lives[incarnation] = IncarnationLog(number=len(lives) + 1)
        return lives[incarnation]

    def accept(self, record: RaceRecord) -> bool:
        """Count ``record`` and say whether the learner should take it (False: it was taken before)."""
        log = self.life(record.collector, record.incarnation)
        sequence = record.sequence
        if sequence < log.next_sequence:
            if sequence not in log.missing:
                self.duplicates += 1
                message = f"collector {record.collector} (life {log.number}) sent race {sequence} again; dropped"
                self.events.append(("race_duplicate", message))
                return False
            log.missing.discard(sequence)
        else:
            if sequence > log.next_sequence:
                skipped = range(log.next_sequence, sequence)
                log.missing.update(skipped)
                self.events.append(
                    (
                        "race_gap",
                        f"collector {record.collector} (life {log.number}): races {skipped.start}–{skipped.stop - 1} "
                        "did not arrive",
                    )
                )
            log.next_sequence = sequence + 1
        log.taken += 1
        self.taken += 1
        self.frames += len(record.actions)
        return True

    def drain_events(self) -> list[tuple[str, str]]:
        events, self.events = self.events, []
        return events
