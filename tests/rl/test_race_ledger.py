"""The learner's account of races: each taken once, gaps counted, lives numbered per collector."""

from __future__ import annotations

from tests.rl.conftest import race_record

from hairpin.rl.race_channel import RaceRecord
from hairpin.rl.race_ledger import RaceLedger


def race(collector: int, incarnation: int, sequence: int) -> RaceRecord:
    return race_record(collector, 3, incarnation=incarnation, sequence=sequence)


def test_a_race_sent_twice_is_taken_once() -> None:
    ledger = RaceLedger()
    assert [ledger.accept(race(0, 7, s)) for s in (0, 1, 1, 0, 2)] == [True, True, False, False, True]
    assert (ledger.taken, ledger.duplicates, ledger.missing, ledger.frames) == (3, 2, 0, 9)
    assert [kind for kind, _ in ledger.drain_events()] == ["race_duplicate", "race_duplicate"]
    assert ledger.drain_events() == []


def test_gaps_are_counted_until_the_race_arrives_late() -> None:
    ledger = RaceLedger()
    for s in (0, 3, 4):
        assert ledger.accept(race(0, 7, s))
    assert ledger.missing == 2
    ((kind, message),) = ledger.drain_events()
    assert kind == "race_gap" and "races 1–2" in message
    assert ledger.accept(race(0, 7, 2)) and ledger.missing == 1  # late, not a duplicate
    assert not ledger.accept(race(0, 7, 2)) and ledger.duplicates == 1


def test_each_life_of_a_collector_counts_from_zero() -> None:
    ledger = RaceLedger()
    for collector, incarnation, sequence in ((0, 7, 0), (0, 7, 1), (1, 9, 0), (0, 3, 0), (0, 3, 1)):
        assert ledger.accept(race(collector, incarnation, sequence))
    assert ledger.missing == 0 and ledger.duplicates == 0
    assert [log.number for log in ledger.lives[0].values()] == [1, 2]
    assert ledger.life(0, 3).taken == 2 and ledger.life(1, 9).next_sequence == 1
