"""Runs are found through run.json or as plain directories; suffix directories are merged only into their own run."""

from __future__ import annotations

import pytest
from tests.analysis.conftest import T0, Logs

from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.run import load_run
from hairpin.analysis.runs import RunCatalog


def loss(*steps: int) -> list[tuple[str, float, int, float]]:
    return [("loss", float(step), step, T0 + step) for step in steps]


def test_suffix_directories_of_a_plain_run_are_merged(logs: Logs) -> None:
    logs.write("X", loss(0, 100))
    logs.write("X_2", loss(200, 300))
    logs.write("X_3", loss(400))
    logs.write("X_10", loss(500))
    logs.write("Y", loss(0))
    catalog = RunCatalog(logs.tensorboard, logs.runs)
    assert catalog.names() == ["X", "Y"]
    (source,) = catalog.resolve(["X"])
    assert [d.name for d in source.log_dirs] == ["X", "X_2", "X_3", "X_10"]
    assert list(load_run(source, 30.0).series["loss"].step) == [0, 100, 200, 300, 400, 500]


def test_a_sibling_with_its_own_run_json_is_not_merged(logs: Logs) -> None:
    logs.write("X", loss(0, 100))
    logs.write("X_2", loss(0, 50))
    logs.manifest("X_2", [(T0, T0 + 60)], ["X_2"])
    catalog = RunCatalog(logs.tensorboard, logs.runs)
    assert sorted(catalog.names()) == ["X", "X_2"]
    x, x_2 = catalog.resolve(["X", "X_2"])
    assert [d.name for d in x.log_dirs] == ["X"] and x.manifest is None
    assert [d.name for d in x_2.log_dirs] == ["X_2"] and x_2.manifest is not None


def test_run_json_lists_the_directories_and_nothing_is_guessed(logs: Logs) -> None:
    logs.write("R", loss(0, 100))
    logs.write("R_2", loss(0))  # not listed by R's run.json: another run
    logs.manifest("R", [(T0, T0 + 60)], ["R"], group="baseline", seed=3)
    (r,) = RunCatalog(logs.tensorboard, logs.runs).resolve(["R"])
    assert [d.name for d in r.log_dirs] == ["R"] and (r.group, r.seed) == ("baseline", 3)


def test_a_suffix_directory_named_on_the_command_line_stays_a_run_of_its_own(logs: Logs) -> None:
    logs.write("X", loss(0))
    logs.write("X_2", loss(100))
    x, x_2 = RunCatalog(logs.tensorboard, logs.runs).resolve(["X", "X_2"])
    assert [d.name for d in x.log_dirs] == ["X"] and [d.name for d in x_2.log_dirs] == ["X_2"]


def test_glob_patterns_and_directories_name_runs(logs: Logs) -> None:
    for name in ("bc_s0", "bc_s1", "base_s0"):
        logs.write(name, loss(0))
    catalog = RunCatalog(logs.tensorboard, logs.runs)
    assert [s.name for s in catalog.resolve(["bc_*"])] == ["bc_s0", "bc_s1"]
    assert [s.name for s in catalog.resolve([str(logs.tensorboard / "base_s0")])] == ["base_s0"]


def test_an_unknown_run_is_an_error_listing_what_exists(logs: Logs) -> None:
    logs.write("baseline", loss(0))
    logs.write("pretrained", loss(0))
    logs.manifest("bc", [(T0, T0 + 60)], ["pretrained"])
    catalog = RunCatalog(logs.tensorboard, logs.runs)
    with pytest.raises(AnalysisError) as error:
        catalog.resolve(["baselin"])
    message = str(error.value)
    assert "'baselin'" in message and "did you mean baseline" in message
    assert "bc" in message and "baseline" in message
    with pytest.raises(AnalysisError, match="no run matches 'nothing_\\*'"):
        catalog.resolve(["nothing_*"])


def test_an_unreadable_run_json_is_an_error_only_when_asked_for(logs: Logs) -> None:
    logs.write("good", loss(0))
    (logs.runs / "broken").mkdir(parents=True)
    (logs.runs / "broken" / "run.json").write_text("{not json")
    catalog = RunCatalog(logs.tensorboard, logs.runs)
    assert [s.name for s in catalog.resolve(["good"])] == ["good"]
    with pytest.raises(AnalysisError, match=r"broken/run\.json is not a readable run manifest"):
        catalog.resolve(["broken"])
