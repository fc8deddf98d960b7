"""A sweep of bad inputs and faults over every ``hairpin`` command (issue 13, "Faults and bad input").

Each case runs ``python -m hairpin.cli ARGS`` (the interpreter running this script) in its own fresh temporary
working directory, with a timeout, after its setup has made what the case needs there (a tiny config, a copy of a
small trained run, a damaged file…). It is then judged:

- ``clear``: the exit code the case expects (2 for a refusal), no ``Traceback`` in stdout or stderr, the message
  names what the case says it must name (a file, a key, a value), and every protected file is byte-identical.
  The message of a refusal is its ``error:`` lines (stdout and stderr) when it has any, else its whole output; the
  message of a case that expects exit code 0 is its whole output.
- ``traceback``: ``Traceback`` appears, or the output is only ``Aborted``.
- ``silent``: exit code 0 where a refusal was expected (the bad input was accepted).
- ``data loss``: a protected file changed or vanished (checked first: it outranks the others).
- ``unclear``: refused without a traceback, but not as the issue asks: another exit code, a message that misses a
  name it must hold (or holds one it must not), something left behind that must not exist, or a timeout.
- ``skipped``: the fault cannot be made on this machine (the case says why); ``setup error``: a fixture the case
  needs could not be built (a bug of the sweep or of the code under test; counted as failing).
- ``info``: an informational case (the CLI does not promise a refusal today); its would-be verdict is shown.

Small shared fixtures are built once, lazily, through the CLI: a 180 m map, a run ``tiny`` trained for 3,000
frames (float-only network, one collector of 4 cars), a 32 px dataset ``toy`` of two short generated maps, and a
visual pretraining run exported from it. Cases copy what they need into their own directory.

Faults that need the file system (a read-only runs folder, a full disk) use tmpfs and bind mounts when ``mount``
works here; ``chmod`` alone is used when it blocks writes (it does not for root); otherwise the case is skipped.

Prints one row per case to stderr (name, verdict, exit code, the first line of the message) and one JSON line to
stdout: ``{"cases", "clear", "traceback", "silent", "data_loss", "unclear", "skipped", "setup_error", "info",
"failing": [...], "seconds"}``. Exit code 0 when nothing is failing, 1 otherwise. Needs no network.

    python benchmarks/fault_sweep.py [--only SUBSTRING] [--keep] [--list]
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import pickle
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
HAIRPIN = [sys.executable, "-m", "hairpin.cli"]
DEFAULT_TIMEOUT_S = 150.0
TRAIN_TIMEOUT_S = 240.0
TINY_PRETRAIN_NN = [
    "nn.vis.channels=[4,8]",
    "nn.vis.kernels=[4,3]",
    "nn.vis.strides=[2,2]",
    "nn.vis.paddings=[1,1]",
    "nn.floats.hidden=16",
    "nn.iqn.embedding_dim=8",
    "nn.decoder.advantage.hidden=16",
    "nn.decoder.value.hidden=16",
]
VIS_32 = ["nn.vis.enabled=true", "nn.vis.paddings=[1,1,1,1]"]
"""The RL network's default image encoder, padded for 32 px images."""
TOY_RECORD = ["--generated", "2", "--generator-seed", "3", "--generated-blocks", "6", "--image-size", "32"]
TOY_RECORD += ["--episodes", "1", "--noise", "0.3", "--cars", "2"]
MISSING_WORDS = ("no such", "does not exist", "not found", "missing", "cannot find", "doesn't exist")
READ_ONLY_WORDS = ("read-only", "Read-only", "permission denied", "Permission denied")
DISK_FULL_WORDS = ("No space left", "disk is full")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("HAIRPIN_DEBUG", None)
    env.update(
        COLUMNS="400",  # rich wraps at the terminal width: keep paths and messages on one line
        LINES="50",
        NO_COLOR="1",
        TERM="dumb",
        PYTHONUNBUFFERED="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
    )
    return env


ENV = _env()


# ---------------------------------------------------------------------------------------------------- the model


class SkipError(Exception):
    """The fault cannot be made on this machine; the message says why."""


class FixtureError(Exception):
    """A shared fixture could not be built."""


@dataclass
class Ctx:
    """One case's working directory, the values its setup found (``<<name>>`` in argv and names), its clean-ups."""

    dir: Path
    values: dict[str, str] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def fmt(self, text: str) -> str:
        return re.sub(r"<<(\w+)>>", lambda m: self.values[m.group(1)], text)


@dataclass
class Outcome:
    rc: int | None
    out: str
    err: str
    seconds: float
    timed_out: bool = False
    extra_text: str = ""  # output of helper processes (the first trainer), searched for tracebacks too
    losses: list[str] = field(default_factory=list)  # data-loss findings of a custom runner
    problems: list[str] = field(default_factory=list)  # other findings of a custom runner


Name = str | tuple[str, ...]  # a string the message must hold, or alternatives of which one must be there


@dataclass
class Case:
    """One bad input or fault, declared: what to set up, what to run, and what the answer must be."""

    name: str
    argv: list[str]
    setup: Callable[[Ctx], None] | None = None
    rc: int = 2
    names: tuple[Name, ...] = ()
    protect: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()
    timeout: float = DEFAULT_TIMEOUT_S
    check: Callable[[Ctx, Outcome], str | None] | None = None
    run: Callable[[Case, Ctx], Outcome] | None = None
    informational: bool = False


@dataclass
class Row:
    name: str
    verdict: str
    rc: int | None
    message: str
    detail: str
    seconds: float


# ------------------------------------------------------------------------------------------------- processes


def invoke(argv: list[str], cwd: Path, timeout: float) -> Outcome:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*HAIRPIN, *argv],
        cwd=cwd,
        env=ENV,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its collectors too can be stopped as one group on a timeout
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _stop_group(proc, signal.SIGINT, 20)
        out, err = proc.communicate()
        timed_out = True
    return Outcome(proc.returncode, _text(out), _text(err), time.perf_counter() - start, timed_out)


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", "replace")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _stop_group(proc: subprocess.Popen[bytes], first: signal.Signals, grace_s: float) -> None:
    """Signal the process; after ``grace_s`` terminate, then kill, its whole group."""
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(first)
    deadline = time.monotonic() + grace_s
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None and not _group_alive(proc.pid):
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + 10
        while (proc.poll() is None or _group_alive(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.2)


def poll_until(condition: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


# -------------------------------------------------------------------------------------------------- fixtures


def _deep_set(tree: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = tree
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value


class Fixtures:
    """Shared inputs built once (lazily) under ``root``; a failed build is remembered and reported to each user."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._done: dict[str, Path | Exception] = {}

    def get(self, name: str) -> Path:
        if name not in self._done:
            target = self.root / name
            started = time.perf_counter()
            try:
                getattr(self, f"_build_{name}")(target)
                self._done[name] = target
                print(f"  (fixture {name}: {time.perf_counter() - started:.0f} s)", file=sys.stderr)
            except Exception as error:
                self._done[name] = error
        result = self._done[name]
        if isinstance(result, Exception):
            raise FixtureError(f"fixture {name}: {result}")
        return result

    def _cli(self, argv: list[str], cwd: Path, timeout: float = 600) -> str:
        outcome = invoke(argv, cwd, timeout)
        if outcome.rc != 0:
            text = (outcome.err + outcome.out).strip().splitlines()
            raise RuntimeError(f"hairpin {' '.join(argv)} exited {outcome.rc}: {' | '.join(text[-3:])}")
        return outcome.out

    def _build_map(self, target: Path) -> None:
        from hairpin.sim.generator import blocks_to_line

        target.mkdir(parents=True)
        np.save(target / "short.npy", blocks_to_line("S S R48 S S"))

    @property
    def map_file(self) -> Path:
        return self.get("map") / "short.npy"

    def rl_tree(self, run_name: str = "tiny") -> dict[str, Any]:
        """tests/rl/conftest.py's tiny config: a 180 m map, a float-only network, 3,000 frames."""
        line = str(self.map_file)
        return {
            "run_name": run_name,
            "paths": {"runs": "runs", "tensorboard": "tb"},
            "env": {"map": line, "image_size": 32},
            "nn": {
                "vis": {"enabled": False},
                "floats": {"hidden": 32},
                "iqn": {"embedding_dim": 16},
                "decoder": {"advantage": {"hidden": 32}, "value": {"hidden": 32}},
            },
            "iqn": {"batch_size": 32},
            "memory": {
                "memory_size_schedule": [[0, 5000]],
                "memory_min_size": 200,
                "buffer_test_ratio": 0.3,
                "number_times_single_memory_is_used_before_discard": 2,
            },
            "performance": {"gpu_collectors_count": 1, "cars_per_collector": 4},
            "map_cycle": {
                "entries": [
                    {"short_name": "short", "map": line, "repeat": 3},
                    {"short_name": "short", "map": line, "is_exploration": False, "fill_buffer": False},
                ]
            },
            "training": {"max_frames": 3000, "checkpoint_every_minutes": 0.01, "log_every_seconds": 0.5},
        }

    def write_rl(self, folder: Path, run_name: str = "tiny", edits: dict[str, Any] | None = None) -> Path:
        tree = copy.deepcopy(self.rl_tree(run_name))
        for key, value in (edits or {}).items():
            _deep_set(tree, key, value)
        path = folder / "run.yaml"
        path.write_text(yaml.safe_dump(tree, sort_keys=False))
        return path

    def _build_trained(self, target: Path) -> None:
        target.mkdir(parents=True)
        self.write_rl(target)
        self._cli(["train", "run.yaml"], target)
        if not (target / "runs/tiny/checkpoints/latest").exists():
            raise RuntimeError("the trained run has no checkpoints/latest")

    def _build_dataset(self, target: Path) -> None:
        target.mkdir(parents=True)
        self._cli(["demos", "record", *TOY_RECORD, "--out", "toy"], target)

    def _build_vis(self, target: Path) -> None:
        target.mkdir(parents=True)
        shutil.copytree(self.get("dataset") / "datasets", target / "datasets")
        sets = _sets("data.dataset=toy", "data.validation_maps=[gen-4]", "train.epochs=1", "run_name=v")
        self._cli(
            ["pretrain", "vis", str(CONFIGS / "pretrain/vis/v1_cpu.yaml"), *sets, *_sets(*TINY_PRETRAIN_NN)], target
        )
        shutil.rmtree(target / "datasets")


FX: Fixtures


def _sets(*values: str) -> list[str]:
    return [arg for value in values for arg in ("--set", value)]


VIS_CPU = ["pretrain", "vis", str(CONFIGS / "pretrain/vis/v1_cpu.yaml")]
BC_64 = ["pretrain", "bc", str(CONFIGS / "pretrain/bc/v1.1.yaml")]
TINY_RUN = _sets(*TINY_PRETRAIN_NN, "data.validation_maps=[gen-4]", "train.epochs=1")
"""A pretraining run that would end in seconds, were its bad input accepted."""


# ---------------------------------------------------------------------------------------------- setup blocks


Setup = Callable[[Ctx], None]


def steps(*setups: Setup) -> Setup:
    def run(ctx: Ctx) -> None:
        for setup in setups:
            setup(ctx)

    return run


def rl(edits: dict[str, Any] | None = None, run_name: str = "tiny") -> Setup:
    """run.yaml: the tiny RL config with ``edits`` (dotted keys), a few hundred frames."""

    def run(ctx: Ctx) -> None:
        FX.write_rl(ctx.dir, run_name, {"training.max_frames": 400, **(edits or {})})

    return run


def trained(edits: dict[str, Any] | None = None) -> Setup:
    """A copy of the trained run ``tiny`` (runs/ and tb/) and the run.yaml it was trained with (plus ``edits``);
    ``<<ckpt>>``: its latest checkpoint folder, ``<<frames>>``: its frames played, ``<<more>>``: 300 more."""

    def run(ctx: Ctx) -> None:
        source = FX.get("trained")
        shutil.copytree(source / "runs", ctx.dir / "runs", symlinks=True)
        if (source / "tb").exists():
            shutil.copytree(source / "tb", ctx.dir / "tb")
        FX.write_rl(ctx.dir, "tiny", edits)
        checkpoints = ctx.dir / "runs/tiny/checkpoints"
        ckpt = (checkpoints / "latest").read_text().strip()
        counters = json.loads((checkpoints / ckpt / "counters.json").read_text())["counters"]
        frames = int(counters["cumul_number_frames_played"])
        ctx.values.update(ckpt=ckpt, frames=str(frames), more=str(frames + 300))

    return run


def dataset(name: str = "toy") -> Setup:
    def run(ctx: Ctx) -> None:
        shutil.copytree(FX.get("dataset") / "datasets/toy", ctx.dir / "datasets" / name)

    return run


def vis_run(ctx: Ctx) -> None:
    shutil.copytree(FX.get("vis") / "runs", ctx.dir / "runs")


def write(relative: str, content: str | bytes) -> Setup:
    def run(ctx: Ctx) -> None:
        path = ctx.dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)

    return run


def mkdir(relative: str) -> Setup:
    def run(ctx: Ctx) -> None:
        (ctx.dir / relative).mkdir(parents=True, exist_ok=True)

    return run


def remove(relative: str) -> Setup:
    def run(ctx: Ctx) -> None:
        path = ctx.dir / ctx.fmt(relative)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)

    return run


def save_npy(relative: str, make: Callable[[], Any]) -> Setup:
    def run(ctx: Ctx) -> None:
        path = ctx.dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        array = make()
        np.save(path, array, allow_pickle=array.dtype == object)

    return run


def damage(relative: str, how: Callable[[bytes], bytes]) -> Setup:
    def run(ctx: Ctx) -> None:
        path = ctx.dir / ctx.fmt(relative)
        path.write_bytes(how(path.read_bytes()))

    return run


def _overwrite_middle(n: int) -> Callable[[bytes], bytes]:
    def how(data: bytes) -> bytes:
        if len(data) < 2 * n:
            raise RuntimeError(f"file of {len(data)} bytes is too small to overwrite {n} bytes in its middle")
        middle = len(data) // 2 - n // 2
        noise = np.random.default_rng(13).integers(0, 256, n, dtype=np.uint8).tobytes()
        return data[:middle] + noise + data[middle + n :]

    return how


def torch_save(relative: str, make: Callable[[], Any]) -> Setup:
    def run(ctx: Ctx) -> None:
        import torch

        torch.save(make(), ctx.dir / relative)

    return run


# ------------------------------------------------------------------------------------------ file-system faults


_MOUNT_OK: bool | None = None


def _mount_works() -> bool:
    global _MOUNT_OK
    if _MOUNT_OK is None:
        probe = Path(tempfile.mkdtemp(prefix="fault-mount-probe-"))
        _MOUNT_OK = _sh(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(probe)]) is None
        if _MOUNT_OK:
            _sh(["umount", str(probe)])
        probe.rmdir()
    return _MOUNT_OK


def _sh(argv: list[str]) -> str | None:
    """Run a system command; None on success, else its error."""
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    return None if result.returncode == 0 else (result.stderr.strip() or f"exit {result.returncode}")


def _chmod_blocks_writes(folder: Path) -> bool:
    probe = folder / ".chmod-probe"
    probe.mkdir()
    probe.chmod(0o555)
    try:
        (probe / "x").write_text("x")
    except OSError:
        return True
    else:
        (probe / "x").unlink()
        return False
    finally:
        probe.chmod(0o755)
        probe.rmdir()


def _unmount(path: Path) -> Callable[[], None]:
    def run() -> None:
        _sh(["umount", "-l", str(path)])

    return run


def read_only(relative: str) -> Setup:
    """Make ``relative`` (a folder, created if needed) read-only: a read-only bind mount, or chmod when that
    blocks writes here; skipped when neither can."""

    def run(ctx: Ctx) -> None:
        folder = ctx.dir / relative
        folder.mkdir(parents=True, exist_ok=True)
        if _chmod_blocks_writes(ctx.dir):
            for path in [folder, *folder.rglob("*")]:
                if path.is_dir():
                    path.chmod(0o555)
            ctx.cleanups.append(lambda: [p.chmod(0o755) for p in [folder, *folder.rglob("*")] if p.is_dir()])
            return
        if not _mount_works():
            raise SkipError("running as root (chmod does not block writes) and mount is not permitted here")
        error = _sh(["mount", "--bind", str(folder), str(folder)])
        if error:
            raise SkipError(f"bind mount failed: {error}")
        ctx.cleanups.append(_unmount(folder))
        error = _sh(["mount", "-o", "remount,bind,ro", str(folder)])
        if error:
            raise SkipError(f"read-only remount failed: {error}")

    return run


def small_disk(relative: str, size: str, free_kib: int | None = None) -> Setup:
    """Mount a tmpfs of ``size`` on ``relative`` (what the folder held moves onto it); with ``free_kib`` a filler
    file then leaves only that much space."""

    def run(ctx: Ctx) -> None:
        if not _mount_works():
            raise SkipError("mount is not permitted here: no small file system can be made to fill")
        folder = ctx.dir / relative
        stash = None
        if folder.exists():  # what is already there moves onto the small disk
            stash = ctx.dir / f".stash-{folder.name}"
            folder.rename(stash)
        folder.mkdir(parents=True)
        error = _sh(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)])
        if error:
            raise SkipError(f"tmpfs mount failed: {error}")
        ctx.cleanups.append(_unmount(folder))
        if stash is not None:
            for item in stash.iterdir():
                shutil.move(str(item), folder / item.name)
            stash.rmdir()
        if free_kib is not None:
            _fill(folder / ".filler", free_kib)

    return run


def _fill(path: Path, leave_kib: int) -> None:
    """Write zeros until the disk is full, then give back ``leave_kib``."""
    chunk = b"\0" * 4096
    with open(path, "wb", buffering=0) as file, contextlib.suppress(OSError):
        while True:
            file.write(chunk)
    size = path.stat().st_size
    os.truncate(path, max(0, size - leave_kib * 1024))


# --------------------------------------------------------------------------------------------------- maps


def _straight(n: int = 400) -> np.ndarray:
    points = np.zeros((n, 3), np.float64)
    points[:, 0] = np.arange(n) * 0.5
    return points


def _with_jump() -> np.ndarray:
    points = _straight()
    points[200:, 0] += 50.0  # 50 m between points 199 and 200
    return points


def _with_cliff() -> np.ndarray:
    points = _straight()
    points[200:, 1] += 6.0  # a 6 m step up over 0.5 m
    return points


def _doubling_back() -> np.ndarray:
    forward = _straight(200)
    return np.concatenate([forward, forward[::-1][1:]])  # 100 m out, then back over itself


def _with_nan() -> np.ndarray:
    points = _straight()
    points[150, 2] = np.nan
    return points


def _object_array() -> np.ndarray:
    array = np.empty(3, dtype=object)
    array[:] = [[0.0, 0.0, 0.0], "not a point", None]
    return array


MAP_FAULTS = {
    # name: (setup, what the message must name besides the file)
    "empty file (0 bytes)": (write("bad_0.5m_cl.npy", b""), ()),
    "not a .npy file (text inside)": (write("bad_0.5m_cl.npy", "x,height,z\n0,0,0\n1,0,0\n"), ()),
    "object array": (save_npy("bad_0.5m_cl.npy", _object_array), ()),
    "NaN values": (save_npy("bad_0.5m_cl.npy", _with_nan), (("nan", "NaN", "finite"),)),
    "jump between points": (save_npy("bad_0.5m_cl.npy", _with_jump), (("199", "200", "99.5", "100"),)),
    "cliff (6 m height step)": (save_npy("bad_0.5m_cl.npy", _with_cliff), (("199", "200", "99.5", "100"),)),
    "line doubles back": (save_npy("bad_0.5m_cl.npy", _doubling_back), (("198", "199", "200", "99", "100"),)),
    "too few points": (save_npy("bad_0.5m_cl.npy", lambda: _straight(2)), (("2 points", "points"),)),
    "wrong shape (N x 2)": (save_npy("bad_0.5m_cl.npy", lambda: _straight()[:, :2]), (("shape", "(400, 2)"),)),
    "1-D array": (save_npy("bad_0.5m_cl.npy", lambda: np.arange(30.0)), (("shape", "(30,)"),)),
}


# -------------------------------------------------------------------------------------------- custom runners


def _lock_holder(run_dir: Path) -> dict[str, Any] | None:
    try:
        holder = json.loads((run_dir / "run.lock").read_text())
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _start_trainer(ctx: Ctx, run_name: str, tag: str) -> tuple[subprocess.Popen[bytes], Path]:
    """Start a long trainer on ``run_name`` in the background; return it once it holds the run (its run.json and
    run.lock exist and the lock names it), polling the files."""
    argv = ["train", "run.yaml", *_sets("training.max_frames=100000000", "training.max_minutes=3")]
    out = open(ctx.dir / f"{tag}.out", "wb")  # noqa: SIM115 (closed by the clean-up)
    err = open(ctx.dir / f"{tag}.err", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [*HAIRPIN, *argv], cwd=ctx.dir, env=ENV, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
        start_new_session=True,
    )  # fmt: skip
    ctx.cleanups.append(lambda: (_stop_group(proc, signal.SIGINT, 30), out.close(), err.close()))
    run_dir = ctx.dir / "runs" / run_name

    def holds() -> bool:
        holder = _lock_holder(run_dir)
        return proc.poll() is not None or (
            (run_dir / "run.json").exists() and holder is not None and holder.get("pid") == proc.pid
        )

    if not poll_until(holds, 120) or proc.poll() is not None:
        tail = (ctx.dir / f"{tag}.err").read_text(errors="replace").strip().splitlines()[-3:]
        raise FixtureError(f"the first trainer did not come to hold its run (rc {proc.poll()}): {' | '.join(tail)}")
    return proc, run_dir


def _read(ctx: Ctx, tag: str) -> str:
    return "".join((ctx.dir / f"{tag}.{s}").read_text(errors="replace") for s in ("out", "err"))


def two_trainers(case: Case, ctx: Ctx) -> Outcome:
    """A trainer holds run ``duo``; a second on the same run must be refused naming the holder's pid; then the
    first is stopped with SIGINT and must end cleanly with its one session in run.json."""
    first, run_dir = _start_trainer(ctx, "duo", "first")
    ctx.values["pid"] = str(first.pid)
    second = invoke(case.argv, ctx.dir, case.timeout)
    first.send_signal(signal.SIGINT)
    try:
        first.wait(90)
    except subprocess.TimeoutExpired:
        second.problems.append("the first trainer did not stop within 90 s of SIGINT")
    _stop_group(first, signal.SIGINT, 5)
    second.extra_text = _read(ctx, "first")
    if first.returncode not in (0, None):
        second.problems.append(f"the first trainer exited {first.returncode} after SIGINT")
    try:
        sessions = json.loads((run_dir / "run.json").read_text())["sessions"]
        if len(sessions) != 1:
            second.losses.append(f"run.json holds {len(sessions)} sessions, not the first trainer's one")
    except (OSError, ValueError, KeyError, TypeError) as error:
        second.losses.append(f"run.json unreadable after both trainers: {error}")
    return second


def killed_trainer(case: Case, ctx: Ctx) -> Outcome:
    """SIGKILL a trainer once it has a checkpoint: its collectors must exit promptly without a traceback, and the
    next start takes the run over with a note naming the dead pid and removes the dead learner's spool."""
    first, run_dir = _start_trainer(ctx, "tiny", "killed")
    has_checkpoint = poll_until(lambda: (run_dir / "checkpoints/latest").exists() or first.poll() is not None, 120)
    pid = first.pid
    ctx.values["pid"] = str(pid)
    first.kill()
    first.wait()
    problems = [] if has_checkpoint else ["no checkpoint within 120 s before the kill"]
    if not poll_until(lambda: not _group_alive(pid), 30):
        problems.append("its collectors were still alive 30 s after the learner was killed")
    counters = run_dir / "checkpoints" / (run_dir / "checkpoints/latest").read_text().strip() / "counters.json"
    frames = json.loads(counters.read_text())["counters"]["cumul_number_frames_played"]
    more = _sets(f"training.max_frames={frames + 300}", "training.max_minutes=3")  # max_minutes as the first had
    resumed = invoke([*case.argv, *more], ctx.dir, case.timeout)
    resumed.extra_text = _read(ctx, "killed")
    resumed.problems += problems
    spools = _spool_root().glob(f"hairpin-races-{pid}-*")
    resumed.problems += [f"the dead learner's spool {s} is still there" for s in spools]
    return resumed


def _spool_root() -> Path:
    try:
        from hairpin.rl.race_channel import spool_root

        return spool_root()
    except ImportError:
        return Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())


# ------------------------------------------------------------------------------------------------- checks


def options_exist(command: list[str]) -> Callable[[Ctx, Outcome], str | None]:
    """Every ``--option`` the message names must be an option of ``hairpin COMMAND --help``."""

    def check(ctx: Ctx, outcome: Outcome) -> str | None:
        help_text = invoke([*command, "--help"], ctx.dir, 60).out
        named = set(re.findall(r"--[a-z][a-z-]*[a-z]", outcome.err + outcome.out))
        unknown = sorted(option for option in named if option not in help_text)
        return f"names options that `hairpin {' '.join(command)}` does not have: {unknown}" if unknown else None

    return check


def run_json_parses(ctx: Ctx, outcome: Outcome) -> str | None:
    try:
        json.loads((ctx.dir / "runs/tiny/run.json").read_text())
    except (OSError, ValueError) as error:
        return f"run.json no longer parses: {error}"
    return None


def folder_empty(relative: str) -> Callable[[Ctx, Outcome], str | None]:
    def check(ctx: Ctx, outcome: Outcome) -> str | None:
        left = sorted(p.name for p in (ctx.dir / relative).iterdir() if p.name != ".filler")
        return f"left behind in {relative}: {left}" if left else None

    return check


def plot_refuses_overwrite(ctx: Ctx) -> None:
    """Informational unless ``hairpin plot`` has an --overwrite option (then it must refuse without it)."""
    ctx.values["plot_has_overwrite"] = str("--overwrite" in invoke(["plot", "--help"], ctx.dir, 60).out)


# ------------------------------------------------------------------------------------------------- the cases


def _pickled_object() -> bytes:
    return pickle.dumps({"weights": argparse.Namespace(note="an object, not a tensor")})


def _config_cases() -> list[Case]:
    train = ["train", "run.yaml"]
    bad_yaml = "run_name: tiny\niqn: {batch_size: [32}\n"
    cases = [
        Case("config: missing file (train)", ["train", "nosuch.yaml"], names=("nosuch.yaml", MISSING_WORDS)),
        Case("config: missing file (sim config -c)", ["sim", "config", "-c", "nosuch.yaml"], names=("nosuch.yaml",)),
        Case("config: empty file (train)", ["train", "empty.yaml"], write("empty.yaml", ""), names=("empty.yaml",)),
        Case(
            "config: empty file (sim config)", ["sim", "config", "-c", "e.yaml"], write("e.yaml", ""), names=("e.yaml",)
        ),
        Case(
            "config: comment-only file (train)",
            ["train", "c.yaml"],
            write("c.yaml", "# nothing but a comment\n"),
            names=("c.yaml",),
        ),
        Case("config: YAML syntax error", ["train", "bad.yaml"], write("bad.yaml", bad_yaml), names=("bad.yaml",)),
        Case(
            "config: unknown key in the file",
            ["train", "u.yaml"],
            write("u.yaml", "run_name: tiny\niqn:\n  batchsize: 32\n"),
            names=("u.yaml", "batchsize"),
        ),
        Case("config: --set without '='", [*train, "--set", "iqn.batch_size"], rl(), names=("iqn.batch_size",)),
        Case("config: --set unknown key", [*train, "--set", "iqn.nosuchkey=3"], rl(), names=("nosuchkey",)),
        Case("config: wrong type", [*train, "--set", "iqn.batch_size=abc"], rl(), names=("batch_size", "abc")),
        Case(
            "config: _base_ cycle",
            ["train", "a.yaml"],
            steps(write("a.yaml", "_base_: b.yaml\nseed: 1\n"), write("b.yaml", "_base_: a.yaml\nseed: 2\n")),
            names=("a.yaml", "b.yaml"),
        ),
        Case(
            "config: _base_ missing file",
            ["train", "a.yaml"],
            write("a.yaml", "_base_: nobase.yaml\n"),
            names=("nobase.yaml",),
        ),
    ]
    meaningless = {
        "lr 0": ({"schedules.lr_schedule": [[0, 0.0]]}, "lr_schedule"),
        "lr negative": ({"schedules.lr_schedule": [[0, -1.0e-3]]}, "lr_schedule"),
        "epsilon > 1": ({"exploration.epsilon_schedule": [[0, 1.5]]}, "epsilon_schedule"),
        "boltzmann epsilon < 0": ({"exploration.epsilon_boltzmann_schedule": [[0, -0.1]]}, "epsilon_boltzmann"),
        "negative seed": ({"seed": -1}, "seed"),
        "nan reward": ({"env.reward.per_ms": float("nan")}, "per_ms"),
        "infinite reward": ({"env.reward.finish_bonus": float("inf")}, "finish_bonus"),
        "memory_min_size above capacity": ({"memory.memory_min_size": 10000}, "memory_min_size"),
        "schedule points out of order": ({"exploration.epsilon_schedule": [[1000, 0.5], [0, 1.0]]}, "epsilon_schedule"),
        "gamma > 1": ({"schedules.gamma_schedule": [[0, 1.5]]}, "gamma_schedule"),
        "batch size 0": ({"iqn.batch_size": 0}, "batch_size"),
        "image size 0": ({"env.image_size": 0}, "image_size"),
        "buffer_test_ratio > 1": ({"memory.buffer_test_ratio": 1.5}, "buffer_test_ratio"),
        "cars_per_collector 0": ({"performance.cars_per_collector": 0}, "cars_per_collector"),
    }
    for label, (edits, key) in meaningless.items():
        cases.append(Case(f"config: {label}", train, rl(edits), names=("run.yaml", key), timeout=TRAIN_TIMEOUT_S))
    unknown_cycle_map = {"map_cycle.entries": [{"short_name": "x", "map": "nosuchmap"}]}
    cases += [
        Case(
            "config: image size 0 (sim config --set)",
            ["sim", "config", "--set", "env.image_size=0"],
            names=("image_size",),
        ),
        Case(
            "config: expert noise 2 (sim drive --noise)", ["sim", "drive", "sprint", "--noise", "2"], names=("noise",)
        ),
        Case(
            "config: unknown map in env.map (train)",
            [*train, "--set", "env.map=nosuchmap"],
            rl(),
            names=("nosuchmap",),
            timeout=TRAIN_TIMEOUT_S,
        ),
        Case(
            "config: unknown map in map_cycle (train)",
            train,
            rl(unknown_cycle_map),
            names=("nosuchmap",),
            timeout=TRAIN_TIMEOUT_S,
        ),
        Case(
            "config: pretrain lr 0",
            [*VIS_CPU, *TINY_RUN, *_sets("data.dataset=toy", "train.lr=0")],
            dataset(),
            names=("train.lr",),
            absent=("runs/pretrain/vis_v1_cpu/manifest.json",),
        ),
    ]
    return cases


def _train_cases() -> list[Case]:
    train = ["train", "run.yaml"]
    ckpt = "runs/tiny/checkpoints/<<ckpt>>"
    run = ("runs/tiny",)
    fresh = rl(run_name="fresh")
    return [
        Case(
            "train: two trainers on one run",
            train,
            rl(run_name="duo"),
            names=("<<pid>>",),
            run=two_trainers,
            timeout=TRAIN_TIMEOUT_S,
        ),
        Case(
            "train: SIGKILLed trainer, then resume (take-over note)",
            train,
            rl(run_name="tiny"),
            rc=0,
            names=("<<pid>>",),
            run=killed_trainer,
            timeout=TRAIN_TIMEOUT_S,
        ),
        Case(
            "train: truncated checkpoint .pt",
            train,
            steps(trained(), damage(f"{ckpt}/online.pt", lambda b: b[:100])),
            names=("<<ckpt>>/online.pt",),
            protect=run,
        ),
        Case(
            "train: corrupted bytes in a checkpoint .pt",
            train,
            steps(trained(), damage(f"{ckpt}/target.pt", lambda b: b[:200] + b"\xff" * 40 + b[240:])),
            names=("<<ckpt>>/target.pt",),
            protect=run,
        ),
        Case(
            "train: counters.json of the checkpoint broken",
            train,
            steps(trained(), damage(f"{ckpt}/counters.json", lambda b: b[:20])),
            names=("counters.json",),
            protect=run,
        ),
        Case(
            "train: run.json invalid JSON",
            train,
            steps(trained(), write("runs/tiny/run.json", "{not json")),
            names=("run.json",),
            protect=run,
        ),
        Case(
            "train: run.json wrong schema",
            train,
            steps(trained(), write("runs/tiny/run.json", '{"run_name": 3}')),
            names=("run.json",),
            protect=run,
        ),
        Case(
            "train: latest names a missing folder",
            train,
            steps(trained(), write("runs/tiny/checkpoints/latest", "ckpt-000999\n")),
            names=("ckpt-000999", "latest"),
            protect=run,
        ),
        Case(
            "train: resume with a mis-sized network",
            [*train, "--allow-config-change", "--set", "nn.floats.hidden=48"],
            trained(),
            names=("float_feature_extractor",),
            protect=run,
        ),
        Case(
            "train: resume with a changed network, no --allow-config-change",
            [*train, "--set", "nn.floats.hidden=48"],
            trained(),
            names=("nn.floats.hidden", "--allow-config-change"),
            protect=run,
            check=options_exist(["train"]),
        ),
        Case(
            "train: resume with a changed config",
            [*train, "--set", "iqn.batch_size=16"],
            trained(),
            names=("iqn.batch_size", "--allow-config-change"),
            protect=run,
            check=options_exist(["train"]),
        ),
        Case(
            "train: --init-from a missing path",
            [*train, "--init-from", "nothere/weights.pt"],
            fresh,
            names=("nothere/weights.pt", MISSING_WORDS),
            absent=("runs/fresh/run.json",),
        ),
        Case(
            "train: --init-from a pickled object",
            [*train, "--init-from", "obj.pt"],
            steps(fresh, write("obj.pt", _pickled_object())),
            names=("obj.pt", ("pickle", "code")),
            forbid=("weights_only=False", "unsafe"),
            absent=("runs/fresh/run.json",),
        ),
        Case(
            "train: --init-from a .pt holding a list",
            [*train, "--init-from", "list.pt"],
            steps(fresh, torch_save("list.pt", lambda: [__import__("torch").zeros(3)])),
            names=("list.pt", ("state dict", "state_dict")),
            absent=("runs/fresh/run.json",),
        ),
        Case(
            "train: --init-from a .pt holding a tensor",
            [*train, "--init-from", "tensor.pt"],
            steps(fresh, torch_save("tensor.pt", lambda: __import__("torch").zeros(3))),
            names=("tensor.pt", ("state dict", "state_dict")),
            absent=("runs/fresh/run.json",),
        ),
        Case(
            "train: --init-from a text file",
            [*train, "--init-from", "notes.pt"],
            steps(fresh, write("notes.pt", "these are not weights\n")),
            names=("notes.pt",),
            absent=("runs/fresh/run.json",),
        ),
        Case(
            "train: --init-from a mis-sized state dict",
            [*train, "--init-from", "runs/tiny", "--set", "run_name=fresh", "--set", "nn.floats.hidden=48"],
            trained(),
            names=("float_feature_extractor",),
            protect=run,
            absent=("runs/fresh/run.json",),
        ),
        Case(
            "train: --init-from on a run that already exists",
            [*train, "--init-from", "runs/tiny"],
            trained(),
            names=("already exists", "runs/tiny"),
            protect=run,
        ),
        Case(
            "train: --reset-schedules without --init-from",
            [*train, "--reset-schedules"],
            trained(),
            names=("--reset-schedules", "--init-from"),
            protect=run,
        ),
        Case(
            "train: read-only runs folder, fresh run",
            train,
            steps(rl(), read_only("runs")),
            names=("runs", READ_ONLY_WORDS),
            timeout=TRAIN_TIMEOUT_S,
        ),
        Case(
            "train: read-only runs folder, resume",
            [*train, "--set", "training.max_frames=<<more>>"],
            steps(trained(), read_only("runs")),
            names=("runs/tiny", READ_ONLY_WORDS),
            protect=run,
            timeout=TRAIN_TIMEOUT_S,
        ),
        Case(
            "train: full disk, fresh run",
            train,
            steps(rl(), small_disk("runs", "96k")),
            names=("runs/tiny", DISK_FULL_WORDS),
            timeout=TRAIN_TIMEOUT_S,
        ),
        Case(
            "train: full disk on resume keeps the last checkpoint",
            [*train, "--set", "training.max_frames=<<more>>"],
            steps(trained(), small_disk("runs", "8m", free_kib=24)),
            names=("runs/tiny", DISK_FULL_WORDS),
            protect=(f"{ckpt}", "runs/tiny/checkpoints/latest"),
            check=run_json_parses,
            timeout=TRAIN_TIMEOUT_S,
        ),
        Case(
            "train: injection from a missing artifact path",
            [*train, *_sets("training.pretrain_encoder_path=runs/pretrain/nosuch", *VIS_32)],
            rl(),
            names=("runs/pretrain/nosuch", "pretrain_encoder_path"),
            absent=("runs/tiny/run.json",),
        ),
        Case(
            "train: injection of a mis-sized artifact",
            [*train, *_sets("training.pretrain_encoder_path=runs/pretrain/v", *VIS_32)],
            steps(rl(), vis_run),
            names=("runs/pretrain/v", "pretrain_encoder_path"),
            protect=("runs/pretrain/v",),
            absent=("runs/tiny/run.json",),
        ),
        Case(
            "train: injection of a float head from a vis run (no such artifact)",
            [*train, "--set", "training.pretrain_float_head_path=runs/pretrain/v"],
            steps(rl(), vis_run),
            names=("runs/pretrain/v", "float_head"),
            protect=("runs/pretrain/v",),
            absent=("runs/tiny/run.json",),
        ),
    ]


def _eval_cases() -> list[Case]:
    return [
        Case("eval: unknown run", ["eval", "nosuchrun", "--map", "short"], mkdir("runs"), names=("nosuchrun",)),
        Case(
            "eval: run without a checkpoint",
            ["eval", "tiny", "--map", "short"],
            steps(trained(), remove("runs/tiny/checkpoints")),
            names=("runs/tiny", "checkpoint"),
            protect=("runs/tiny",),
        ),
        Case(
            "eval: unknown map",
            ["eval", "tiny", "--map", "nosuchmap"],
            trained(),
            names=("nosuchmap",),
            protect=("runs/tiny",),
        ),
        Case(
            "eval: broken run.json",
            ["eval", "tiny", "--map", "short"],
            steps(trained(), write("runs/tiny/run.json", "[1, 2")),
            names=("run.json",),
            protect=("runs/tiny",),
        ),
        Case(
            "eval: --gif onto an existing file",
            ["eval", "tiny", "--map", "short", "--gif", "lap.gif"],
            steps(trained(), write("lap.gif", b"GIF89a an existing picture")),
            names=("lap.gif", "--overwrite"),
            protect=("lap.gif", "runs/tiny"),
        ),
    ]


def _sim_cases() -> list[Case]:
    existing_drive = steps(
        write("out/lap.gif", b"GIF89a existing"), write("out/lap.json", "{}\n"), write("out/map.png", b"\x89PNG old")
    )
    cases = [
        Case(
            "sim: drive onto an existing --out",
            ["sim", "drive", "sprint", "--out", "out"],
            existing_drive,
            names=("out", "--overwrite"),
            protect=("out",),
        ),
        Case(
            "sim: generate onto an existing --out",
            ["sim", "generate", "--seed", "7", "--out", "my_map.npy"],
            write("my_map.npy", b"an existing map file"),
            names=("my_map.npy", "--overwrite"),
            protect=("my_map.npy",),
        ),
        Case(
            "sim: generate --out without .npy reports the path written",
            ["sim", "generate", "--seed", "7", "--out", "maps/noext"],
            rc=0,
            names=("maps/noext.npy",),
            check=lambda ctx, o: None if (ctx.dir / "maps/noext.npy").exists() else "maps/noext.npy was not written",
        ),
        Case(
            "sim: drive --out onto a file",
            ["sim", "drive", "sprint", "--out", "afile"],
            write("afile", "an existing file\n"),
            names=("afile",),
            protect=("afile",),
        ),
        Case("sim: drive an unknown map", ["sim", "drive", "nosuchmap", "--out", "d"], names=("nosuchmap",)),
        Case(
            "sim: drive a missing map file",
            ["sim", "drive", "nothere_0.5m_cl.npy", "--out", "d"],
            names=("nothere_0.5m_cl.npy",),
        ),
        Case(
            "sim: drive a .csv map",
            ["sim", "drive", "line.csv", "--out", "d"],
            write("line.csv", "0,0,0\n0.5,0,0\n"),
            names=("line.csv",),
        ),
    ]
    for label, (setup, extra) in MAP_FAULTS.items():
        cases.append(
            Case(
                f"sim: map file, {label}",
                ["sim", "drive", "bad_0.5m_cl.npy", "--out", "d"],
                setup,
                names=("bad_0.5m_cl.npy", *extra),
                absent=("d/lap.json",),
            )
        )
    return cases


def _map_elsewhere_cases() -> list[Case]:
    """The same map checks through the other commands that read a map."""
    jump = save_npy("bad_0.5m_cl.npy", _with_jump)
    return [
        Case(
            "train: env.map / map_cycle with a jump",
            ["train", "run.yaml"],
            steps(
                rl(
                    {"env.map": "bad_0.5m_cl.npy", "map_cycle.entries": [{"short_name": "b", "map": "bad_0.5m_cl.npy"}]}
                ),
                jump,
            ),
            names=("bad_0.5m_cl.npy",),
            absent=("runs/tiny/run.json",),
            timeout=TRAIN_TIMEOUT_S,
        ),
        Case(
            "demos: record on a map with NaN values",
            ["demos", "record", "--maps", "bad_0.5m_cl.npy", "--episodes", "1", "--cars", "1", "--out", "x"],
            save_npy("bad_0.5m_cl.npy", _with_nan),
            names=("bad_0.5m_cl.npy",),
            absent=("datasets/x",),
        ),
        Case(
            "eval: a map file that is empty",
            ["eval", "tiny", "--map", "bad_0.5m_cl.npy"],
            steps(trained(), write("bad_0.5m_cl.npy", b"")),
            names=("bad_0.5m_cl.npy",),
            protect=("runs/tiny",),
        ),
    ]


def _demos_cases() -> list[Case]:
    record = ["demos", "record", *TOY_RECORD]
    toy = ("datasets/toy",)
    hdf5 = "datasets/toy/hairpin/toy-v0/data/main_data.hdf5"
    corrupted = steps(dataset(), damage(hdf5, _overwrite_middle(4000)))
    return [
        Case(
            "demos: record over an existing dataset",
            [*record, "--out", "toy"],
            dataset(),
            names=("toy", "--overwrite"),
            protect=toy,
        ),
        Case("demos: record with a bad name", [*record, "--out", "bad name!"], names=("bad name!",)),
        Case("demos: record with a name holding '/'", [*record, "--out", "../up"], names=("../up",), absent=("up",)),
        Case(
            "demos: record on an unknown map",
            ["demos", "record", "--maps", "nosuchmap", "--episodes", "1", "--out", "x"],
            names=("nosuchmap",),
            absent=("datasets/x",),
        ),
        Case(
            "demos: record onto a full disk",
            [*record, "--out", "x"],
            small_disk("datasets", "160k"),
            names=("datasets", DISK_FULL_WORDS),
            check=folder_empty("datasets"),
        ),
        Case("demos: info on a missing dataset", ["demos", "info", "nosuch"], mkdir("datasets"), names=("nosuch",)),
        Case(
            "demos: info --verify on 4,000 overwritten bytes",
            ["demos", "info", "toy", "--verify"],
            corrupted,
            names=("main_data.hdf5",),
            protect=toy,
        ),
        Case(
            "demos: info on a dataset without hairpin.json",
            ["demos", "info", "toy"],
            steps(dataset(), remove("datasets/toy/hairpin.json")),
            names=("toy", "hairpin.json"),
            protect=toy,
        ),
        Case(
            "pretrain: vis on a dataset with 4,000 overwritten bytes",
            [*VIS_CPU, *TINY_RUN, *_sets("data.dataset=toy", "run_name=c")],
            corrupted,
            names=("main_data.hdf5",),
            protect=toy,
            absent=("runs/pretrain/c/manifest.json",),
        ),
        Case(
            "demos: export-best from a run without best races",
            ["demos", "export-best", "runs/tiny", "--out", "ex"],
            steps(trained(), remove("runs/tiny/best")),
            names=("runs/tiny", "best"),
            protect=("runs/tiny",),
            absent=("datasets/ex",),
        ),
        Case(
            "demos: export-best from a non-run",
            ["demos", "export-best", "notarun", "--out", "ex"],
            write("notarun/readme.txt", "not a run\n"),
            names=("notarun", "run.json"),
            absent=("datasets/ex",),
        ),
        Case(
            "demos: export-best from a missing folder",
            ["demos", "export-best", "nothere", "--out", "ex"],
            names=("nothere",),
            absent=("datasets/ex",),
        ),
    ]


def _pretrain_cases() -> list[Case]:
    vis = ["pretrain", "vis", str(CONFIGS / "pretrain/vis/v1_cpu.yaml")]
    bc = ["pretrain", "bc", str(CONFIGS / "pretrain/bc/v1.1_cpu.yaml")]
    tiny = [*_sets(*TINY_PRETRAIN_NN, "data.validation_maps=[gen-4]", "train.epochs=1")]
    with_encoder = _sets("encoder_init_path=runs/pretrain/v")
    protected_v = ("runs/pretrain/v",)
    return [
        Case(
            "pretrain: vis on a missing dataset",
            [*vis, *_sets("data.dataset=nosuch", "run_name=m")],
            mkdir("datasets"),
            names=("nosuch",),
            absent=("runs/pretrain/m/manifest.json",),
        ),
        Case(
            "pretrain: bc on a missing dataset",
            [*bc, *tiny, *with_encoder, *_sets("data.dataset=nosuch", "run_name=m")],
            steps(mkdir("datasets"), vis_run),
            names=("nosuch",),
            protect=protected_v,
            absent=("runs/pretrain/m/manifest.json",),
        ),
        Case(
            "pretrain: vis on a dataset of another image size",
            ["pretrain", "vis", str(CONFIGS / "pretrain/vis/v1.yaml"), *_sets("data.dataset=toy", "run_name=m")],
            dataset(),
            names=("64", "32", "toy"),
            absent=("runs/pretrain/m/manifest.json",),
        ),
        Case(
            "pretrain: bc on a dataset of another image size",
            [
                *BC_64,
                *_sets("data.dataset=toy", "data.validation_maps=[gen-4]", "encoder_init_path=null", "run_name=m"),
            ],
            dataset(),
            names=("32", "toy", "nn.vis"),  # BC takes its image size from the dataset: the config names no 64
            absent=("runs/pretrain/m/manifest.json",),
        ),
        Case(
            "pretrain: validation maps that the dataset does not hold",
            [*bc, *tiny, *with_encoder, *_sets("data.dataset=toy", "data.validation_maps=[nosuchmap]", "run_name=m")],
            steps(dataset(), vis_run),
            names=("nosuchmap", "validation_maps"),
            protect=protected_v,
            absent=("runs/pretrain/m/manifest.json",),
        ),
        Case(
            "pretrain: vis onto a run that holds an export",
            [*vis, *tiny, *_sets("data.dataset=toy", "run_name=v")],
            steps(dataset(), vis_run),
            names=("runs/pretrain/v",),
            protect=protected_v,
        ),
        Case(
            "pretrain: bc onto a run that holds an export",
            [*bc, *tiny, *with_encoder, *_sets("data.dataset=toy", "run_name=v")],
            steps(dataset(), vis_run),
            names=("runs/pretrain/v",),
            protect=protected_v,
        ),
        Case(
            "pretrain: bc with a missing encoder_init_path",
            [*bc, *tiny, *_sets("data.dataset=toy", "encoder_init_path=runs/pretrain/nosuch", "run_name=m")],
            dataset(),
            names=("runs/pretrain/nosuch", "encoder_init_path"),
            absent=("runs/pretrain/m/manifest.json",),
        ),
        Case(
            "pretrain: bc with an encoder of another network",
            [
                *bc,
                *with_encoder,
                *_sets("data.dataset=toy", "data.validation_maps=[gen-4]", "train.epochs=1", "run_name=m"),
            ],
            steps(dataset(), vis_run),
            names=("runs/pretrain/v", "encoder_init_path"),
            protect=protected_v,
            absent=("runs/pretrain/m/manifest.json",),
        ),
    ]


def _analysis_cases() -> list[Case]:
    run = ("runs/tiny", "tb")
    analyze = ["analyze", "tiny", "--logdir", "tb"]
    registry = str(CONFIGS / "experiments.yaml")
    return [
        Case("analyze: unknown run", ["analyze", "nosuchrun"], trained(), names=("nosuchrun",), protect=run),
        Case(
            "analyze: --group matching nothing",
            [*analyze, "--group", "v=zz*"],
            trained(),
            names=("zz*",),
            protect=run,
        ),
        Case("analyze: bad --format", [*analyze, "--format", "xml"], trained(), names=("xml",), protect=run),
        Case("analyze: bad --interval", [*analyze, "--interval", "5q"], trained(), names=("5q",), protect=run),
        Case(
            "analyze: bad --step-interval",
            [*analyze, "--time-axis", "frames", "--step-interval", "lots"],
            trained(),
            names=("lots",),
            protect=run,
        ),
        Case("analyze: negative --window", [*analyze, "--window", "-3m"], trained(), names=("-3m",), protect=run),
        Case("analyze: unknown --time-axis", [*analyze, "--time-axis", "parsecs"], trained(), names=("parsecs",)),
        Case("analyze: unknown metric", [*analyze, "--metrics", "nosuchtag"], trained(), names=("nosuchtag",)),
        Case(
            "analyze: --plot into a file",
            [*analyze, "--plot", "--output-dir", "afile"],
            steps(trained(), write("afile", "an existing file\n")),
            names=("afile",),
            protect=("afile", *run),
        ),
        Case("plot: unknown run", ["plot", "nosuchrun"], trained(), names=("nosuchrun",), protect=run),
        Case(
            "plot: unknown experiment",
            ["plot", "--experiments", "nosuchexp", "--registry", registry],
            names=("nosuchexp",),
        ),
        Case(
            "plot: missing registry file",
            ["plot", "--experiments", "x", "--registry", "noreg.yaml"],
            names=("noreg.yaml",),
        ),
        Case(
            "plot: registry with a YAML error",
            ["plot", "--experiments", "x", "--registry", "reg.yaml"],
            write("reg.yaml", "experiments: {x: [\n"),
            names=("reg.yaml",),
        ),
        Case(
            "plot: over an existing report without being asked",
            ["plot", "tiny", "--logdir", "tb", "--output-dir", "plots"],
            steps(trained(), write("plots/report.md", "# an existing report\n"), plot_refuses_overwrite),
            names=("plots", "--overwrite"),
            protect=("plots/report.md",),
            informational=True,  # the CLI promises no refusal here (unless plot grows --overwrite: see below)
        ),
    ]


def all_cases() -> list[Case]:
    cases = [
        *_config_cases(),
        *_train_cases(),
        *_eval_cases(),
        *_sim_cases(),
        *_map_elsewhere_cases(),
        *_demos_cases(),
        *_pretrain_cases(),
        *_analysis_cases(),
    ]
    names = [c.name for c in cases]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise SystemExit(f"duplicate case names: {sorted(duplicates)}")
    return cases


# ------------------------------------------------------------------------------------------------ the verdict


def snapshot(root: Path, relatives: Iterable[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for relative in relatives:
        path = root / relative
        if not path.exists():
            raise RuntimeError(f"protected path {relative} does not exist after the setup")
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        for file in candidates:
            if file.name != ".filler":
                files[str(file.relative_to(root))] = file.read_bytes()
    return files


def _changed(root: Path, before: dict[str, bytes]) -> list[str]:
    found = []
    for relative, data in before.items():
        path = root / relative
        if not path.is_file():
            found.append(f"{relative} vanished")
        elif path.read_bytes() != data:
            found.append(f"{relative} changed")
    return found


def _contains(text: str, needle: str) -> bool:
    return needle in text or needle in " ".join(text.split()) or needle in text.replace("\n", "")


def _first_line(text_err: str, text_out: str) -> str:
    """The message's first line: hairpin's ``error:`` line, else the body of click's error box, else the first."""
    box = "─━│╭╮╰╯ "
    for text in (text_err, text_out):
        lines = [line.strip() for line in text.splitlines()]
        for line in lines:
            if line.startswith("error:") or line.startswith("config error:"):
                return line
        for i, line in enumerate(lines):
            if "─ Error ─" in line or "─ Traceback " in line:
                for body in lines[i + 1 :]:
                    if body.strip(box):
                        return body.strip(box).strip()
    for text in (text_err, text_out):
        for line in text.splitlines():
            if line.strip(box):
                return line.strip()
    return "(no output)"


def _message(text: str) -> str:
    """What a refusal says: its ``error:`` lines when there are any (a trainer's banner, printed before it failed,
    does not count as naming the run), else the whole output (click's usage errors have no such line)."""
    lines = [line.strip() for line in text.splitlines()]
    errors = [line for line in lines if line.startswith(("error:", "config error:"))]
    return "\n".join(errors) if errors else text


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def judge(case: Case, ctx: Ctx, outcome: Outcome, changed: list[str]) -> tuple[str, str]:
    """(verdict, detail) of one case's outcome."""
    text = outcome.out + outcome.err
    if changed or outcome.losses:
        return "data loss", "; ".join([*changed, *outcome.losses])
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for where, body in (("", text), ("first trainer: ", outcome.extra_text)):
        if "Traceback" in body:
            return "traceback", f"{where}{_last_line(body.split('Traceback')[-1])}"
    if lines and all(line.rstrip(".!") == "Aborted" for line in lines):
        return "traceback", "the output is only 'Aborted'"
    verdict, problems = "clear", list(outcome.problems)
    if outcome.timed_out:
        problems.append(f"timed out after {case.timeout:.0f} s")
    elif case.rc != 0 and outcome.rc == 0:
        verdict = "silent"
    elif outcome.rc != case.rc:
        problems.append(f"exit code {outcome.rc}, expected {case.rc}")
    message = _message(text) if case.rc != 0 else text
    for name in case.names:
        options = (name,) if isinstance(name, str) else name
        options = tuple(ctx.fmt(o) for o in options)
        if not any(_contains(message, o) for o in options):
            problems.append("does not name " + " / ".join(repr(o) for o in options))
    problems += [f"holds {ctx.fmt(f)!r}" for f in case.forbid if _contains(text, ctx.fmt(f))]
    problems += [f"left {ctx.fmt(a)} behind" for a in case.absent if (ctx.dir / ctx.fmt(a)).exists()]
    if case.check is not None and verdict == "clear":
        found = case.check(ctx, outcome)
        if found:
            problems.append(found)
    if verdict == "clear" and problems:
        verdict = "unclear"
    return verdict, "; ".join(problems)


def _informational(case: Case, ctx: Ctx, verdict: str, detail: str) -> tuple[str, str]:
    if not case.informational or verdict in ("clear", "traceback"):
        return verdict, detail
    if ctx.values.get("plot_has_overwrite") == "True":
        return verdict, detail  # the option exists now: the refusal is promised
    return "info", f"would be {verdict}: {detail}" if detail else f"would be {verdict}"


def run_case(case: Case, base: Path, keep: bool) -> Row:
    slug = re.sub(r"[^a-z0-9]+", "-", case.name.lower()).strip("-")[:50]
    ctx = Ctx(Path(tempfile.mkdtemp(prefix=f"{slug}-", dir=base)))
    start = time.perf_counter()
    outcome: Outcome | None = None
    try:
        if case.setup is not None:
            case.setup(ctx)
        before = snapshot(ctx.dir, [ctx.fmt(p) for p in case.protect])
        argv = [ctx.fmt(a) for a in case.argv]
        outcome = case.run(case, ctx) if case.run else invoke(argv, ctx.dir, case.timeout)
        verdict, detail = judge(case, ctx, outcome, _changed(ctx.dir, before))
        verdict, detail = _informational(case, ctx, verdict, detail)
    except SkipError as why:
        verdict, detail = "skipped", str(why)
    except Exception as error:  # a fixture or setup that failed: reported, and the sweep goes on
        verdict, detail = "setup error", f"{type(error).__name__}: {error}"
    finally:
        for cleanup in reversed(ctx.cleanups):
            with contextlib.suppress(Exception):
                cleanup()
        if not keep:
            shutil.rmtree(ctx.dir, ignore_errors=True)
    message = _first_line(outcome.err, outcome.out) if outcome else ""
    return Row(case.name, verdict, outcome.rc if outcome else None, message, detail, time.perf_counter() - start)


def _print_row(row: Row) -> None:
    rc = "-" if row.rc is None else str(row.rc)
    print(f"{row.name:<66} {row.verdict:<11} rc={rc:<3} {row.seconds:5.1f}s  {row.message[:220]}", file=sys.stderr)
    if row.detail and row.verdict != "clear":
        print(f"{'':<66} {'':<11}        └ {row.detail[:400]}", file=sys.stderr)


VERDICT_KEYS = {
    "clear": "clear",
    "traceback": "traceback",
    "silent": "silent",
    "data loss": "data_loss",
    "unclear": "unclear",
    "skipped": "skipped",
    "setup error": "setup_error",
    "info": "info",
}
FAILING = {"traceback", "silent", "data loss", "unclear", "setup error"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", help="run only the cases whose name holds this substring (case-insensitive)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories (their path is printed)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    args = parser.parse_args()
    cases = all_cases()
    if args.only:
        cases = [c for c in cases if args.only.lower() in c.name.lower()]
    if args.list:
        for case in cases:
            print(case.name)
        return 0
    global FX
    base = Path(tempfile.mkdtemp(prefix="hairpin-fault-sweep-"))
    FX = Fixtures(base / "fixtures")
    print(f"{len(cases)} cases; working under {base}", file=sys.stderr)
    started = time.perf_counter()
    rows = []
    try:
        for case in cases:
            rows.append(run_case(case, base, args.keep))
            _print_row(rows[-1])
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    counts = {key: 0 for key in VERDICT_KEYS.values()}
    for row in rows:
        counts[VERDICT_KEYS[row.verdict]] += 1
    failing = [row.name for row in rows if row.verdict in FAILING]
    summary = {"cases": len(rows), **counts, "failing": failing, "seconds": round(time.perf_counter() - started)}
    print(json.dumps(summary))
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())
