"""Analysis speed on one CPU core: scalar events read per second beside tbparse, and a 1M-event run analysed.

Writes, with torch's SummaryWriter, a run shaped like a hairpin run (training scalars, counters, eval and
exploration races on two maps, every value stepped by frames) into a temporary directory, then measures:

- ``events_per_s``: scalar values per second read from that run's event files by ``hairpin.analysis``;
- ``tbparse_events_per_s``: the same files read by ``tbparse.SummaryReader(...).scalars`` (every value: tbparse
  loads all scalars), in the same process; null, with a hint on stderr, when tbparse is not installed
  (``pip install -e ".[bench]"``);
- ``seconds_1m_events``: a run of 1,000,000 scalar values read, merged and tabulated (``analyze`` + text output).

Each figure is the median of ``--repeats`` timed runs after a warm-up (the warm-up also loads the compiled reader;
its first compilation after an install takes a few seconds, once). Prints one JSON line. Writing the logs takes
about a minute: SummaryWriter writes some 20,000 values per second.

    python benchmarks/analysis_speed.py [--repeats 5] [--events 1000000] [--compare-events 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TRAINING_TAGS = (
    "Training/loss",
    "Training/loss_test",
    "Training/learning_rate",
    "RL/epsilon",
    "Performance/learner_percentage_training",
    "Performance/transitions_learned_per_second",
    "cumul_number_frames_played",
    "cumul_number_batches_done",
    "cumul_training_hours",
)


def pin_to_one_core() -> None:
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def write_run(log_dir: Path, events: int) -> int:
    """A hairpin-like run of about ``events`` scalar values in ``log_dir``; returns the exact count."""
    from torch.utils.tensorboard import SummaryWriter

    written, tick, start = 0, 0, 1_700_000_000.0
    with SummaryWriter(str(log_dir)) as writer:
        while written < events:
            frames, wall = 1_000 * tick, start + tick
            for i, tag in enumerate(TRAINING_TAGS):
                writer.add_scalar(tag, 1.0 / (tick + 1) + i, frames, walltime=wall)
            kind, map_ = ("eval" if tick % 3 == 0 else "explo"), ("sprint" if tick % 2 else "technical")
            finished = tick % 5 != 0
            suffix = f"{kind}_race_{{}}_blind_{map_}"
            writer.add_scalar("Race/" + suffix.format("time"), 30.0 - tick * 1e-4, frames, walltime=wall)
            writer.add_scalar("Race/" + suffix.format("finished"), float(finished), frames, walltime=wall)
            writer.add_scalar(f"RL/avg_Q_blind_{map_}", -1.0, frames, walltime=wall)
            written += len(TRAINING_TAGS) + 3
            if finished:
                writer.add_scalar("Race/" + suffix.format("time_finished"), 30.0 - tick * 1e-4, frames, walltime=wall)
                written += 1
            tick += 1
    return written


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    """Median wall seconds of ``repeats`` calls of ``run`` after one warm-up call."""
    run()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def hairpin_read(log_dir: Path) -> int:
    from hairpin.analysis.merge import read_run_files

    return sum(len(f) for f in read_run_files([log_dir]))


def tbparse_read(log_dir: Path) -> int | None:
    try:
        from tbparse import SummaryReader
    except ImportError:
        print('tbparse is not installed: pip install tbparse (or pip install -e ".[bench]")', file=sys.stderr)
        return None
    return len(SummaryReader(str(log_dir)).scalars)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--events", type=int, default=1_000_000, help="Scalar values of the run analysed whole.")
    parser.add_argument("--compare-events", type=int, default=200_000, help="Scalar values read by both readers.")
    args = parser.parse_args()
    pin_to_one_core()
    from hairpin.analysis import AnalysisOptions, analyze, render

    with tempfile.TemporaryDirectory(prefix="hairpin-analysis-bench-") as tmp:
        logdir = Path(tmp) / "tensorboard"
        start = time.perf_counter()
        compare_count = write_run(logdir / "compare", args.compare_events)
        big_count = write_run(logdir / "big", args.events)
        print(f"wrote {compare_count + big_count:,} values in {time.perf_counter() - start:.0f} s", file=sys.stderr)

        assert hairpin_read(logdir / "compare") == compare_count
        events_per_s = compare_count / median_seconds(lambda: hairpin_read(logdir / "compare"), args.repeats)
        tbparse_count = tbparse_read(logdir / "compare")
        tbparse_per_s = None
        if tbparse_count is not None:
            assert tbparse_count == compare_count, f"tbparse read {tbparse_count} values of {compare_count}"
            tbparse_per_s = compare_count / median_seconds(lambda: tbparse_read(logdir / "compare"), args.repeats)

        options = AnalysisOptions(runs=("big",), logdir=logdir, runs_dir=Path(tmp) / "runs")
        seconds_big = median_seconds(lambda: render(analyze(options), "text"), args.repeats)
        analysed = analyze(options).runs[0].value_count
        assert analysed == big_count, f"analysed {analysed} values of {big_count}"

    print(
        json.dumps(
            {
                "events_per_s": round(events_per_s),
                "tbparse_events_per_s": round(tbparse_per_s) if tbparse_per_s else None,
                "ratio": round(events_per_s / tbparse_per_s, 1) if tbparse_per_s else None,
                "seconds_1m_events": round(seconds_big, 3),
                "events_analysed": big_count,
                "events_compared": compare_count,
                "repeats": args.repeats,
            }
        )
    )


if __name__ == "__main__":
    main()
