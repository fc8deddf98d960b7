"""Nodes run away from the study folder: the shipping both ways (``study.shipping``, no Ray needed) and the Ray
backend on a local Ray started by the test, including a worker killed mid-run (skipped without Ray)."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from tests.study.conftest import base_study, write_study

from hairpin.runfiles.manifest import RunManifest
from hairpin.study.executor import StudyExecutor
from hairpin.study.plan import Node, Plan, build_plan
from hairpin.study.shipping import (
    WORKER_ROOT_PREFIX,
    apply_result,
    node_inputs,
    node_payload,
    pack,
    rewrite,
    run_node,
)
from hairpin.study.spec import load_study
from hairpin.study.state import read_states


def _plan(tmp_path: Path, study: dict[str, Any], only: tuple[str, ...] = ()) -> Plan:
    return build_plan(load_study(write_study(tmp_path, study)), tmp_path / "studies" / study["name"], only=only)


def _done(study_dir: Path) -> dict[str, str]:
    return {name: state.state for name, state in read_states(study_dir).items()}


def _text_files_naming_a_worker(study_dir: Path) -> list[Path]:
    return [
        path
        for path in study_dir.rglob("*")
        if path.suffix in (".json", ".yaml")
        and WORKER_ROOT_PREFIX in path.read_text(encoding="utf-8", errors="replace")
    ]


def test_rewrite_replaces_whole_path_components_only() -> None:
    mapping = {"/s/tiny": "/w/study", "/data/ds": "/w/external/1/ds"}
    text = 'a: /s/tiny/runs\nb: "/s/tiny2/x"\nc: /data/ds/f.h5 /s/tiny\nd: /x/s/tiny\ne: ["/s/tiny"]'
    assert rewrite(text, mapping) == (
        'a: /w/study/runs\nb: "/s/tiny2/x"\nc: /w/external/1/ds/f.h5 /w/study\nd: /x/s/tiny\ne: ["/w/study"]'
    )


def test_a_result_deletes_only_inside_the_study_folder(tmp_path: Path) -> None:
    study_dir = tmp_path / "study"
    old = study_dir / "runs" / "r" / "checkpoints" / "ckpt-1" / "weights.pt"
    old.parent.mkdir(parents=True)
    old.write_bytes(b"w")
    outside = tmp_path / "keep.txt"
    outside.write_text("x")
    (tmp_path / "made").mkdir()
    (tmp_path / "made" / "new.json").write_text("{}")
    result = {
        "code": 0,
        "files": pack([tmp_path / "made" / "new.json"], tmp_path / "made"),
        "deleted": ["runs/r/checkpoints/ckpt-1/weights.pt", "../keep.txt"],
        "log": "trained\n",
        "host": "w1",
        "pid": 7,
    }
    log = tmp_path / "node.log"
    assert apply_result(result, study_dir, log) == 0
    assert (study_dir / "new.json").is_file() and outside.is_file()
    assert not (study_dir / "runs" / "r" / "checkpoints").exists(), "emptied folders go with their files"
    assert "(ran on w1, pid 7)\ntrained" in log.read_text()


class _Finished:
    """A ``NodeProcess`` whose work ended before ``start`` returned."""

    pid = None

    def __init__(self, code: int) -> None:
        self.code = code

    def poll(self) -> int:
        return self.code

    def interrupt(self) -> None:
        pass

    def wait(self, timeout: float) -> int:
        return self.code

    def kill(self) -> None:
        pass


class _ShippedInline:
    """A backend that runs each node as a Ray worker would (``run_node`` on packed inputs, elsewhere on disk), in
    this process: the shipping without Ray."""

    where = "inline"

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def fits(self, node: Node, running: list[Node]) -> bool:
        return True

    def start(self, node: Node, command: list[str], log: Path, config_file: Path) -> _Finished:
        inputs = node_inputs(node, self.plan, config_file)
        result = run_node(node_payload(self.plan, command, inputs), *(pack([p], p.parent) for p in inputs))
        return _Finished(apply_result(result, self.plan.study_dir, log))


def test_shipped_stages_leave_the_study_folder_as_local_runs_would(tmp_path: Path) -> None:
    """demos → bc: each stage run from a copy of its inputs elsewhere, its outputs brought back
    (the Ray test below does the same for an RL run)."""
    study = base_study(tmp_path)
    plan = _plan(tmp_path, study, only=("bc",))
    executor = StudyExecutor(plan, _ShippedInline(plan), jobs=1, console=Console(file=io.StringIO()))
    assert executor.run() == {"demo": "done", "bc": "done"}
    manifest = json.loads((plan.nodes["bc"].output / "manifest.json").read_text())
    assert str(plan.nodes["demo"].output) in json.dumps(manifest), "the dataset it read is named at its home"
    assert (plan.study_dir / "stages" / "bc" / "tensorboard" / "bc").is_dir()
    assert not _text_files_naming_a_worker(plan.study_dir), "every path came back as the study folder's"


# -- the Ray backend on a local Ray ---------------------------------------------------------------------------------


@pytest.fixture
def local_ray() -> Any:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _worker_running(config_name: str) -> tuple[int, Path] | None:
    """(pid of the Ray worker, worker root) of the hairpin command a Ray worker runs with ``config_name``."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().decode(errors="replace").split("\0")
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        config = next((a for a in argv if a.endswith(config_name) and WORKER_ROOT_PREFIX in a), None)
        if config is not None and parent != os.getpid():
            return parent, Path(config).parents[2]
    return None


def _kill_the_worker_once_training(config_name: str, run_name: str, killed: list[int], deadline: float) -> None:
    """SIGKILL the Ray worker running ``config_name`` once its run has written a checkpoint."""
    while time.monotonic() < deadline and not killed:
        found = _worker_running(config_name)
        if found is not None and (found[1] / "study" / "runs" / run_name / "checkpoints" / "latest").is_file():
            os.kill(found[0], signal.SIGKILL)
            killed.append(found[0])
        time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the Ray worker through /proc")
def test_ray_runs_the_study_and_a_killed_worker_has_its_run_done_elsewhere(tmp_path: Path, local_ray: Any) -> None:
    from hairpin.study.ray_backend import RayBackend, connect

    study = base_study(tmp_path)
    study["stages"] = {"demo": study["stages"]["demo"]}
    study["variants"] = {"base": study["variants"]["base"]}
    study["budget"] = {"frames": 4000}
    study["questions"] = []
    plan = _plan(tmp_path, study)
    connect("auto")  # joins the Ray this test started
    killed: list[int] = []
    killer = threading.Thread(
        target=_kill_the_worker_once_training, args=("base-s0.yaml", "base-s0", killed, time.monotonic() + 240)
    )
    killer.start()
    try:
        executor = StudyExecutor(plan, RayBackend(plan), jobs=4, console=Console(file=io.StringIO()))
        assert executor.run() == {"demo": "done", "base-s0": "done"}
    finally:
        killer.join()
    assert killed, "the worker running base-s0 was found and killed"
    log = (plan.study_dir / "logs" / "base-s0.log").read_text()
    ran_on = [int(line.rsplit("pid ", 1)[1].rstrip(")")) for line in log.splitlines() if line.startswith("(ran on")]
    assert ran_on and killed[0] not in ran_on, "the run that came back is the one Ray ran again on a live worker"
    assert _done(plan.study_dir) == {"demo": "done", "base-s0": "done"}
    run = RunManifest.load(plan.study_dir / "runs" / "base-s0")
    assert (run.sessions[-1].frames_end or 0) >= 4000
    assert json.loads((plan.study_dir / "stages/demo/datasets/demo/hairpin.json").read_text())["episodes"]
    assert not _text_files_naming_a_worker(plan.study_dir)
