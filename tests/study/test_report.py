"""The study report on hand-made runs with known values: verdicts, DNFs, checkpoints, durations, missing runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.analysis.conftest import T0, Logs, races

from hairpin.study.answers import load_study_runs, study_axis
from hairpin.study.report import write_report
from hairpin.study.spec import StudySpec
from hairpin.study.state import NodeState, write_state

FRAMES_PER_BATCH = 10
SECONDS_PER_BATCH = 0.1
PAUSE_S = 400.0
COMMAND = "hairpin study configs/studies/test.yaml --jobs 2"
HASH = "0123456789abcdef" * 4

Lap = float | None
"""A race's time in s, or None for a race not finished (logged as a 60 s DNF)."""


def write_run(
    logs: Logs,
    variant: str,
    seed: int,
    laps: list[tuple[int, Lap]],
    *,
    batches: int = 3000,
    loss: float = 1.0,
    pause_after: int | None = None,
    progress: list[float] | None = None,
) -> None:
    """Run ``<variant>-s<seed>`` of ``batches`` gradient batches: the batch counter and the loss every 100 batches,
    sprint's limit (20 s), and an eval race on sprint at each ``(batch, lap)`` up to ``batches`` (with
    ``progress``, the share of the lap of each). With ``pause_after``, the run was stopped after that batch and
    resumed ``PAUSE_S`` later (two run.json sessions).
    TensorBoard stores float32: compare values with pytest.approx."""
    name = f"{variant}-s{seed}"

    def wall(batch: int) -> float:
        return T0 + batch * SECONDS_PER_BATCH + (PAUSE_S if pause_after is not None and batch > pause_after else 0.0)

    values = [("limit_ms_sprint", 20_000.0, 0, T0)]
    for batch in range(0, batches + 1, 100):
        values.append(("cumul_number_batches_done", float(batch), batch * FRAMES_PER_BATCH, wall(batch)))
        values.append(("Training/loss", loss + (batches - batch) / 1000, batch * FRAMES_PER_BATCH, wall(batch)))
    kept = [i for i, (b, _) in enumerate(laps) if b <= batches]
    finished = [
        (laps[i][0] * FRAMES_PER_BATCH, laps[i][1] or 60.0, laps[i][1] is not None, wall(laps[i][0])) for i in kept
    ]
    values += races("eval", "sprint", finished, progress=None if progress is None else [progress[i] for i in kept])
    logs.write(name, sorted(values, key=lambda value: value[2]))
    if pause_after is None:
        sessions: list[tuple[float, float | None]] = [(T0, wall(batches))]
    else:
        sessions = [(T0, wall(pause_after)), (wall(pause_after + 1) - SECONDS_PER_BATCH, wall(batches))]
    logs.manifest(name, sessions, [name], group=variant, seed=seed)


def best_run(logs: Logs, variant: str, seed: int, best: Lap, **more: Any) -> None:
    """A run with a 40 s lap at batch 1000 and ``best`` at batch 2000 (None: every race a DNF)."""
    laps: list[tuple[int, Lap]] = [(1000, 40.0 if best is not None else None), (2000, best)]
    write_run(logs, variant, seed, laps, **more)


def spec(questions: list[dict[str, Any]], variants: tuple[str, ...] = ("A", "B"), **more: Any) -> StudySpec:
    """A study of ``variants`` over seeds 0-2 with a 3,000-batch budget and eval races on sprint."""
    body = {
        "name": "test-study",
        "description": "A hand-made study.",
        "variants": {name: {"config": "rl.yaml"} for name in variants},
        "seeds": [0, 1, 2],
        "budget": {"batches": 3000},
        "eval": {"maps": ["sprint"]},
        "questions": questions,
        **more,
    }
    return StudySpec.model_validate(body)


def report(logs: Logs, study: StudySpec) -> tuple[str, dict[str, Any]]:
    """report.md and results.json written for ``study`` from the runs under ``logs.root``."""
    path = write_report(study, logs.root, COMMAND, HASH)
    assert path == logs.root / "report.md"
    return path.read_text(), json.loads((logs.root / "results.json").read_text())


def question(text: str, metric: str = "best_s", compare: tuple[str, str] = ("A", "B"), **more: Any) -> dict[str, Any]:
    return {"text": text, "compare": list(compare), "metric": metric, **more}


def side(result: dict[str, Any], variant: str) -> dict[str, Any]:
    return next(s for s in result["sides"] if s["variant"] == variant)


@pytest.fixture
def logs(tmp_path: Path) -> Logs:
    return Logs(tmp_path / "studies" / "test-study")


def test_a_clear_difference_names_the_better_side(logs: Logs) -> None:
    for seed, (a, b) in enumerate([(30.0, 35.0), (30.2, 35.3), (30.4, 35.6)]):
        best_run(logs, "A", seed, a)
        best_run(logs, "B", seed, b)
    study = spec(
        [
            question("Is A faster?"),
            question("Is B faster?", compare=("B", "A")),
            question("Does A finish less often?", metric="finish_rate"),
        ]
    )
    text, results = report(logs, study)
    first, reversed_, rates = results["questions"]
    assert (first["checkpoint"], first["axis"], first["lower_is_better"]) == (3000.0, "batches", True)
    assert side(first, "A")["mean"] == pytest.approx(30.2) and side(first, "B")["mean"] == pytest.approx(35.3)
    assert [s["value"] for s in side(first, "A")["per_seed"]] == pytest.approx([30.0, 30.2, 30.4])
    (comparison,) = first["comparisons"]
    assert comparison["a_minus_b"] == pytest.approx(-5.1)
    # every resampled mean of A lies in [30.0, 30.4] and of B in [35.0, 35.6]: the difference in [-5.6, -4.6]
    assert -5.6 - 1e-5 <= comparison["low"] < comparison["high"] <= -4.6 + 1e-5
    assert (comparison["outcome"], comparison["winner"], first["verdict"]) == ("a_better", "A", "A better")
    assert reversed_["comparisons"][0]["outcome"] == "b_better" and reversed_["verdict"] == "A better"
    # both finished 2 of 2 races on every seed: the rate is the same, higher is better, no difference
    assert rates["lower_is_better"] is False and side(rates, "A")["mean"] == 1.0
    assert rates["verdict"] == "no difference detected at n = 3"
    assert "**Verdict: A better: A − B = -5.10 s [" in text
    assert "| 1 | Is A faster? | A better |" in text
    assert first["figures"] == [
        "figures/q1_eval_blind_sprint_best_time.png",
        "figures/q1_eval_blind_sprint_race_times.png",
    ]
    assert rates["figures"] == ["figures/q3_eval_blind_sprint_finish_rate.png"]
    assert all((logs.root / figure).is_file() for result in results["questions"] for figure in result["figures"])


def test_overlapping_seeds_detect_no_difference(logs: Logs) -> None:
    for seed, (a, b) in enumerate([(30.0, 31.0), (33.0, 34.0), (36.0, 35.0)]):
        best_run(logs, "A", seed, a)
        best_run(logs, "B", seed, b)
    text, results = report(logs, spec([question("Is A faster?")]))
    (result,) = results["questions"]
    (comparison,) = result["comparisons"]
    assert comparison["low"] < 0 < comparison["high"]
    assert (comparison["outcome"], comparison["winner"]) == ("no_difference", None)
    assert result["verdict"] == "no difference detected at n = 3"
    assert "no difference detected at n = 3: the intervals overlap; A − B = -0.33 s [" in text


def test_seeds_that_never_finished_are_counted_not_dropped(logs: Logs) -> None:
    for seed, laps in enumerate([(30.0, 31.0, 30.5), (30.2, None, None), (30.4, 31.5, None)]):
        for variant, lap in zip("ABC", laps, strict=True):
            best_run(logs, variant, seed, lap)
    study = spec(
        [question("A or B?"), question("A or C?", compare=("A", "C")), question("Finish rate", metric="finish_rate")],
        variants=("A", "B", "C"),
    )
    text, results = report(logs, study)
    with_b, with_c, rate = results["questions"]
    b = side(with_b, "B")
    assert (b["seeds"], b["with_value"], b["mean"]) == (3, 2, pytest.approx(31.25))
    assert [s["missing"] for s in b["per_seed"]] == [None, "never finished", None]
    assert with_b["verdict"] == "A better"
    note = "B: 1 of 3 seeds never finished an eval race on sprint by 3,000 batches (B-s1)"
    assert any(n.startswith(note) and "flatters it" in n for n in with_b["notes"])
    assert note in text
    assert with_c["comparisons"][0]["outcome"] == "too_few_values"
    assert with_c["verdict"] == "not compared"
    assert "not compared: C has a value on 1 of 3 seeds (2 never finished)" in text
    assert "C: 2 of 3 seeds never finished" in text
    # a DNF is a finish rate of 0, a value like any other
    assert [s["value"] for s in side(rate, "B")["per_seed"]] == [1.0, 0.0, 1.0]


def test_a_first_finish_never_made_counts_as_the_checkpoint_a_lower_bound(logs: Logs) -> None:
    for seed in range(3):
        best_run(logs, "A", seed, 30.0)  # first finish at batch 1000
        best_run(logs, "B", seed, None)  # raced to the end of the budget, never finished
        write_run(logs, "C", seed, [(1000, None)], batches=2000 if seed == 0 else 3000)  # s0 stopped short
    study = spec(
        [question("Sooner?", metric="first_finish"), question("Sooner than C?", "first_finish", ("A", "C"))],
        variants=("A", "B", "C"),
    )
    text, results = report(logs, study)
    with_b, with_c = results["questions"]
    assert [(s["value"], s["censored"]) for s in side(with_b, "B")["per_seed"]] == [(3000.0, True)] * 3
    assert with_b["comparisons"][0]["a_minus_b"] == pytest.approx(-2000.0)
    assert with_b["verdict"] == "A better"
    assert "s0 ≥ 3,000 batches (never finished)" in text
    note = "B: 3 of 3 seeds never finished an eval race on sprint by 3,000 batches (B-s0, B-s1, B-s2); each counts"
    assert note in text
    c = side(with_c, "C")["per_seed"]
    assert (c[0]["value"], c[0]["missing"], c[0]["censored"]) == (None, "never finished", False), "stopped short"
    assert [s["censored"] for s in c[1:]] == [True, True]


def test_runs_that_never_finish_are_compared_by_how_far_they_drive(logs: Logs) -> None:
    laps: list[tuple[int, Lap]] = [(1000, None), (2000, None), (2900, None)]
    for seed in range(3):
        write_run(logs, "A", seed, laps, progress=[0.3, 0.5 + 0.05 * seed, 0.4])
        write_run(logs, "B", seed, laps, progress=[0.1, 0.2 + 0.05 * seed, 0.15])
        write_run(logs, "C", seed, laps)  # a run from before progress was logged
    study = spec(
        [question("Further?", metric="best_progress"), question("Than C?", "best_progress", ("A", "C"))],
        variants=("A", "B", "C"),
    )
    text, results = report(logs, study)
    with_b, with_c = results["questions"]
    assert with_b["lower_is_better"] is False
    assert [s["value"] for s in side(with_b, "A")["per_seed"]] == pytest.approx([0.5, 0.55, 0.6])
    assert with_b["comparisons"][0]["a_minus_b"] == pytest.approx(0.3)
    assert with_b["verdict"] == "A better"
    assert "A − B = +30.0 pp [" in text
    assert [s["missing"] for s in side(with_c, "C")["per_seed"]] == ["not logged"] * 3
    assert with_c["verdict"] == "not compared"


def test_the_checkpoint_is_the_end_the_common_window_or_a_number(logs: Logs) -> None:
    laps: list[tuple[int, Lap]] = [(500, 40.0), (1500, 35.0), (2500, 30.0)]
    for seed in range(3):
        write_run(logs, "A", seed, laps)
        write_run(
            logs, "B", seed, [(b, lap + 1 if lap else None) for b, lap in laps], batches=2000 if seed == 2 else 3000
        )
    study = spec([question("End", at="end"), question("Common", at="common"), question("At 1,000 batches", at=1000)])
    text, results = report(logs, study)
    end, common, number = results["questions"]
    assert (end["checkpoint"], common["checkpoint"], number["checkpoint"]) == (3000.0, 2000.0, 1000.0)
    assert [s["value"] for s in side(end, "A")["per_seed"]] == pytest.approx([30.0, 30.0, 30.0])
    assert [s["value"] for s in side(end, "B")["per_seed"]] == pytest.approx([31.0, 31.0, 36.0])
    assert [s["value"] for s in side(common, "A")["per_seed"]] == pytest.approx([35.0, 35.0, 35.0])
    assert [s["value"] for s in side(common, "B")["per_seed"]] == pytest.approx([36.0, 36.0, 36.0])
    assert [s["value"] for s in side(number, "B")["per_seed"]] == pytest.approx([41.0, 41.0, 41.0])
    short = "B-s2 stops at 2,000 batches, short of 3,000 batches: its value is the one at its end"
    assert short in end["notes"] and short in text
    assert not common["notes"] and not number["notes"]
    # every run's length on every axis: B-s2 ran 2,000 batches, 20,000 frames, 200 s in one session
    durations = {run["run"]: run["durations"] for run in results["runs"]}
    assert durations["B-s2"] == {
        "wall_minutes": pytest.approx(200 / 60),
        "training_hours": pytest.approx(200 / 3600),
        "frames": 20_000.0,
        "batches": 2000.0,
    }
    assert durations["A-s0"]["batches"] == 3000.0 and durations["A-s0"]["frames"] == 30_000.0
    assert "| B-s2 | B | 2 | — | 1 | 3.3 | 0.0556 | 20,000 | 2,000 |" in text


def test_the_finish_rate_window_is_the_questions_share_of_the_way(logs: Logs) -> None:
    """A finishes its races up to 1,500 batches and none after; B the reverse. Races every 300 batches from 150."""
    batches = range(150, 3000, 300)
    for seed in range(3):
        write_run(logs, "A", seed, [(b, 30.0 if b < 1500 else None) for b in batches])
        write_run(logs, "B", seed, [(b, None if b < 1500 else 30.0) for b in batches])
    fifth = question("Late, last fifth", metric="window_finish_rate")
    wide = question("Late, last 80%", metric="window_finish_rate", window=0.8)
    text, results = report(logs, spec([fifth, wide]))
    last_fifth, last_80 = results["questions"]
    # the last 600 batches hold the races at 2,550 and 2,850; the last 2,400 the eight from 750 on
    assert side(last_fifth, "A")["mean"] == pytest.approx(0.0) and side(last_fifth, "B")["mean"] == pytest.approx(1.0)
    assert side(last_80, "A")["mean"] == pytest.approx(3 / 8) and side(last_80, "B")["mean"] == pytest.approx(5 / 8)
    assert last_fifth["rate_window"] == pytest.approx(600.0) and last_80["rate_window"] == pytest.approx(2400.0)
    assert "finish rate over the last 80% of the way" in text and "The window is the last 2,400 batches" in text
    with pytest.raises(ValueError, match="window"):
        spec([question("No window", metric="window_finish_rate", window=0)])


def test_the_command_and_the_study_hash_are_in_the_report(logs: Logs) -> None:
    for seed in range(3):
        best_run(logs, "A", seed, 30.0 + seed)
        best_run(logs, "B", seed, 31.0 + seed)
    text, results = report(logs, spec([question("Is A faster?")]))
    assert f"```bash\n{COMMAND}\n```" in text
    assert f"study file hash (SHA-256): `{HASH}`" in text
    assert (results["command"], results["study_hash"]) == (COMMAND, HASH)
    assert results["axis"]["name"] == "batches" and results["budget"] == {"batches": 3000}


def test_missing_and_failed_runs_are_named(logs: Logs) -> None:
    for seed in range(3):
        best_run(logs, "A", seed, 30.0 + seed)
    best_run(logs, "B", 0, 33.0)
    best_run(logs, "B", 1, 34.0, batches=1500)
    failure = "exit code 1\nTraceback (most recent call last): ..."
    for name, output in (("B-s1", "runs/B-s1"), ("B-s2", "runs/B-s2")):
        write_state(logs.root, NodeState(node=name, state="failed", key="k", kind="rl", output=output, error=failure))
    # A-s0 on disk was made before the study changed: its state's key is not the plan's any more
    write_state(logs.root, NodeState(node="A-s0", state="done", key="old", kind="rl", output="runs/A-s0"))
    keys = {"A-s0": "new", "B-s1": "k", "B-s2": "k"}
    plan = {"nodes": [{"name": name, "key": key} for name, key in keys.items()]}
    (logs.root / "plan.json").write_text(json.dumps(plan))
    text, results = report(logs, spec([question("Is A faster?")]))
    missing = {entry["run"]: entry["problem"] for entry in results["missing_runs"]}
    assert set(missing) == {"A-s0", "B-s1", "B-s2"}
    assert missing["A-s0"].startswith("stale: the run on disk was made for an earlier version of the study")
    assert [s["missing"] for s in side(results["questions"][0], "A")["per_seed"]] == ["no run", None, None]
    assert missing["B-s2"] == "failed (exit code 1) before it wrote runs/B-s2/run.json"
    assert missing["B-s1"] == "failed (exit code 1); its values up to where it stopped are used"
    (result,) = results["questions"]
    b = side(result, "B")
    assert [s["missing"] for s in b["per_seed"]] == [None, None, "no run"]
    assert (b["with_value"], b["seeds"]) == (2, 3)
    assert "B: 1 of 3 seeds have no run that can be read (B-s2)" in result["notes"]
    assert "### Missing and failed runs" in text and "- B-s2: failed (exit code 1) before it wrote runs/" in text
    assert "| B-s1 | B | 1 | failed |" in text


def test_a_ranking_orders_the_variants_and_compares_the_best_with_each(logs: Logs) -> None:
    for seed in range(3):
        write_run(logs, "A", seed, [], loss=0.5 + seed / 100)
        write_run(logs, "B", seed, [], loss=0.2 + seed / 100)
        write_run(logs, "C", seed, [], loss=0.21 + seed / 100)
    ranking = {"text": "Which has the lowest loss?", "variants": ["A", "B", "C"], "metric": "loss"}
    _, results = report(logs, spec([ranking], variants=("A", "B", "C")))
    (result,) = results["questions"]
    assert [s["variant"] for s in result["sides"]] == ["B", "C", "A"]
    assert side(result, "B")["mean"] == pytest.approx(0.21)
    assert [(c["a"], c["b"], c["outcome"]) for c in result["comparisons"]] == [
        ("B", "C", "no_difference"),
        ("B", "A", "a_better"),
    ]
    assert result["verdict"] == "by mean B, C, A; B vs C: no difference detected at n = 3; B vs A: B better"
    assert result["figures"] == ["figures/q1_scalar_Training-loss.png"]


def test_a_question_without_data_says_why(logs: Logs) -> None:
    for seed in range(3):
        best_run(logs, "A", seed, 30.0)
        best_run(logs, "B", seed, 31.0)
    text, results = report(logs, spec([question("On another map?", map="technical")]))
    (result,) = results["questions"]
    assert result["problem"] == "no run of A, B logged eval races on technical"
    assert result["verdict"].startswith("not answered")
    assert "**Not answered:** no run of A, B logged eval races on technical." in text


def test_a_minutes_budget_is_read_on_training_time_when_a_run_was_resumed(tmp_path: Path) -> None:
    minutes = spec([], seeds=[0], budget={"minutes": 5})
    axes = []
    for name, pause_after in (("straight", None), ("resumed", 1000)):
        logs = Logs(tmp_path / name)
        best_run(logs, "A", 0, 30.0)
        best_run(logs, "B", 0, 31.0, pause_after=pause_after)
        axes.append(study_axis(minutes.budget, load_study_runs(minutes, logs.root)))
    straight, resumed = axes
    assert (straight.name, straight.budget, straight.scale) == ("wall_minutes", 5.0, 1.0)
    assert (resumed.name, resumed.budget, resumed.scale) == (
        "training_hours",
        pytest.approx(5 / 60),
        pytest.approx(1 / 60),
    )
    assert "B-s0 ran in several sessions" in resumed.reason


def test_a_diverged_loss_is_named_and_an_empty_study_still_reports(logs: Logs) -> None:
    loss = {"text": "Lower loss?", "compare": ["A", "B"], "metric": "loss"}
    text, results = report(logs, spec([loss]))
    assert results["questions"][0]["problem"] == "no run of A or B can be read"
    assert len(results["missing_runs"]) == 6 and "- A-s0: not run (no runs/A-s0/run.json)" in text
    for seed in range(3):
        write_run(logs, "A", seed, [], loss=0.5)
        write_run(logs, "B", seed, [], loss=float("nan") if seed == 1 else 0.2)
    text, results = report(logs, spec([loss]))
    (result,) = results["questions"]
    assert [s["missing"] for s in side(result, "B")["per_seed"]] == [None, "not finite", None]
    assert side(result, "B")["mean"] == pytest.approx(0.2)
    assert result["verdict"] == "B better"
    assert "B: 1 of 3 seeds logged NaN or an infinite loss as their last value by 3,000 batches (B-s1)" in text
