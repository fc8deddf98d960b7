"""Nodes run away from the study folder: the shipping both ways (``study.shipping``, no Ray needed) and the Ray
backend on a local Ray started by the test, including a worker killed mid-run (skipped without Ray)."""

from __future__ import annotations

import _thread
import io
import json
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from tests.study.conftest import base_study, write_study

from hairpin.runfiles.manifest import RunManifest
from hairpin.study.executor import StudyExecutor
from hairpin.study.plan import Node, Plan, build_plan
from hairpin.study.progress import Progress, checkpoint_counters
from hairpin.study.shipping import (
    WORKER_ROOT_PREFIX,
    Watch,
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

    pid: int | None = None

    def __init__(self, code: int) -> None:
        self.code = code

    def poll(self) -> int:
        return self.code

    def progress(self, eval_maps: list[str], offset: dict[str, float]) -> Progress:
        return Progress()

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

    def __init__(self, plan: Plan, post: Callable[[Progress], bool] | None = None) -> None:
        self.plan, self.post = plan, post

    def fits(self, node: Node, running: list[Node]) -> bool:
        return True

    def start(self, node: Node, command: list[str], log: Path, config_file: Path) -> _Finished:
        inputs = node_inputs(node, self.plan, config_file)
        watch = Watch(node, self.plan.spec.eval.maps, self.post) if self.post else None
        result = run_node(node_payload(self.plan, command, inputs), *(pack([p], p.parent) for p in inputs), watch=watch)
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


def _demo_and_base(tmp_path: Path, frames: int) -> dict[str, Any]:
    """The demo stage and the base variant (which does not need it), one seed, ``frames`` frames."""
    study = base_study(tmp_path)
    study["stages"] = {"demo": study["stages"]["demo"]}
    study["variants"] = {"base": study["variants"]["base"]}
    study["budget"] = {"frames": frames}
    study["questions"] = []
    return study


def test_a_shipped_run_reports_its_progress_and_stops_when_asked_its_checkpoint_coming_back(tmp_path: Path) -> None:
    """What Ctrl-C does to a Ray task, without Ray: the run stops (SIGINT) once it reports frames, and its files
    come back (the Ray test below resumes from them)."""
    plan = _plan(tmp_path, _demo_and_base(tmp_path, frames=1_000_000), only=("base-s0",))
    node = plan.nodes["base-s0"]
    reports: list[Progress] = []

    def stop_once_training(progress: Progress) -> bool:
        reports.append(progress)
        return (progress.frames or 0) > 0

    backend = _ShippedInline(plan, stop_once_training)
    assert StudyExecutor(plan, backend, jobs=1, console=Console(file=io.StringIO())).run() == {"base-s0": "failed"}
    assert reports[0].frames is None, "the first report comes before any checkpoint"
    first = reports[-1].frames or 0
    assert first > 0
    assert (checkpoint_counters(node.output) or {})["cumul_number_frames_played"] >= first, "its checkpoint came back"
    assert "interrupted (Ctrl-C)" in (read_states(plan.study_dir)["base-s0"].error or "")


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


def _once_training(config_name: str, run_name: str, act: Callable[[int], None], done: list[int]) -> None:
    """``act(worker pid)`` once the Ray worker running ``config_name`` has a checkpoint of its run with frames in it
    (within 240 s)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and not done:
        found = _worker_running(config_name)
        counters = checkpoint_counters(found[1] / "study" / "runs" / run_name) if found is not None else None
        if found is not None and counters and counters.get("cumul_number_frames_played", 0) > 0:
            act(found[0])
            done.append(found[0])
        time.sleep(0.1)


def _run_beside(thread: threading.Thread, executor: StudyExecutor) -> dict[str, str]:
    thread.start()
    try:
        return executor.run()
    finally:
        thread.join()


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the Ray worker through /proc")
def test_ray_runs_the_study_resumes_after_ctrl_c_and_a_killed_worker_has_its_run_done_elsewhere(
    tmp_path: Path, local_ray: Any
) -> None:
    from hairpin.study.ray_backend import RayBackend, connect

    plan = _plan(tmp_path, _demo_and_base(tmp_path, frames=20_000))
    connect("auto")  # joins the Ray this test started
    console = Console(file=io.StringIO())
    run = plan.study_dir / "runs" / "base-s0"

    interrupted: list[int] = []
    ctrl_c = threading.Thread(target=_once_training, args=("base-s0.yaml", "base-s0", _ctrl_c, interrupted))
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # ignored when pytest runs in the background
    try:
        with pytest.raises(KeyboardInterrupt):
            _run_beside(ctrl_c, StudyExecutor(plan, RayBackend(plan), jobs=4, console=console))
    finally:
        signal.signal(signal.SIGINT, previous)
    assert interrupted, "Ctrl-C came while base-s0 trained on a worker"
    assert "interrupted (Ctrl-C)" in (read_states(plan.study_dir)["base-s0"].error or "")
    stopped_at = int((checkpoint_counters(run) or {}).get("cumul_number_frames_played", 0))
    assert 0 < stopped_at < 20_000, "the stopped run's checkpoint came back"

    killed: list[int] = []
    kill = threading.Thread(target=_once_training, args=("base-s0.yaml", "base-s0", _sigkill, killed))
    executor = StudyExecutor(plan, RayBackend(plan), jobs=4, console=console)
    assert _run_beside(kill, executor) == {"demo": "cached", "base-s0": "done"}
    assert killed, "the worker running base-s0 was found and killed"
    last_attempt = (plan.study_dir / "logs" / "base-s0.log").read_text().rsplit("=== attempt", 1)[1]
    ran_on = [int(ln.rsplit("pid ", 1)[1].rstrip(")")) for ln in last_attempt.splitlines() if ln.startswith("(ran on")]
    assert ran_on and killed[0] not in ran_on, "the run that came back is the one Ray ran again on a live worker"
    assert _done(plan.study_dir) == {"demo": "done", "base-s0": "done"}
    sessions = RunManifest.load(run).sessions
    assert (sessions[-1].frames_end or 0) >= 20_000
    assert sessions[-1].frames_start >= stopped_at, "the last attempt resumed from the checkpoint Ctrl-C left"
    assert json.loads((plan.study_dir / "stages/demo/datasets/demo/hairpin.json").read_text())["episodes"]
    assert not _text_files_naming_a_worker(plan.study_dir)


@pytest.mark.slow
def test_ray_never_runs_more_than_the_cluster_s_cpus_at_once(tmp_path: Path, local_ray: Any) -> None:
    """Two runs of 2 CPUs each on a 3-CPU Ray go one after the other: a task that reports its progress must not
    lend its CPUs back to Ray (as a task blocked in ``ray.get`` does) for a queued run to start beside it."""
    from hairpin.study.ray_backend import RayBackend, connect

    study = _demo_and_base(tmp_path, frames=2000)
    study["seeds"] = [0, 1]
    plan = _plan(tmp_path, study, only=("base-s0", "base-s1"))
    assert [node.cpus for node in plan.nodes.values()] == [2, 2]
    connect("auto")
    executor = StudyExecutor(plan, RayBackend(plan), jobs=4, console=Console(file=io.StringIO()))
    assert executor.run() == {"base-s0": "done", "base-s1": "done"}
    spans = sorted(
        (session.start, session.end or "")
        for name in plan.nodes
        for session in RunManifest.load(plan.study_dir / "runs" / name).sessions
    )
    assert len(spans) == 2 and spans[0][1] <= spans[1][0], f"the runs overlapped: {spans}"


def _ctrl_c(pid: int) -> None:
    _thread.interrupt_main()


def _sigkill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
