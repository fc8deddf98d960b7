"""Shipping a study node to another machine and its outputs back: what a Ray worker runs (``run_node``).

A node's command and config name paths inside the study folder (and, for an existing dataset, outside it). On the
worker the study folder is rebuilt under a temporary root from the node's inputs (its config, the outputs of the
nodes it depends on, its own run when it resumes), every such path is rewritten to its place there, the command
runs as it would locally, and every file it created or changed comes back as one tar archive with the worker's
paths rewritten to the study folder's, together with the files it deleted (old checkpoints) and its log. So the
study folder on the driver ends exactly as a local run would leave it, and the report needs nothing from the
worker. Paths are rewritten in text files (JSON, YAML, text, CSV) and in the command's arguments; binary files
(weights, datasets, TensorBoard events) hold no paths. While it runs, the node reports how far its files say it is
(``Watch``), and stops when asked, its outputs coming back as at any end.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hairpin.runfiles.manifest import MANIFEST
from hairpin.study.plan import Node, Plan
from hairpin.study.progress import Progress, node_progress
from hairpin.study.spec import StudyError

__all__ = [
    "LOG_TAIL_BYTES",
    "REPORT_S",
    "TEXT_SUFFIXES",
    "WORKER_ROOT_PREFIX",
    "Watch",
    "apply_result",
    "node_inputs",
    "node_payload",
    "pack",
    "rewrite",
    "rewrite_tree",
    "run_node",
]

TEXT_SUFFIXES = frozenset({".json", ".yaml", ".yml", ".txt", ".md", ".csv"})
"""Files whose paths are rewritten on the way in and out."""
LOG_TAIL_BYTES = 2_000_000
"""The end of a node's output that comes back as its log."""
WORKER_ROOT_PREFIX = "hairpin-node-"
"""Each node runs in a temporary folder of this name on its worker."""
REPORT_S = 2.0
"""How often a watched node reports its progress (and learns whether it is asked to stop)."""
OWNERS = "owners.json"
"""In that folder: the pids of the worker and of its command (a later node removes the folder once both are gone)."""


@dataclass(frozen=True)
class Watch:
    """What a node run away from the study folder tells the driver while it runs."""

    node: Node
    eval_maps: list[str]
    post: Callable[[Progress], bool]
    """Sends the node's progress as its files here say; True when the driver asks the node to stop (its command
    then gets SIGINT: an RL run saves a checkpoint, and what it made comes back as at any end)."""


def rewrite(text: str, mapping: Mapping[str, str]) -> str:
    """``text`` with each path prefix of ``mapping`` replaced, in one pass (longest first), where it ends a whole
    path component (``/study`` is not a prefix of ``/study2``, nor part of ``/x/study``)."""
    if not mapping:
        return text
    alternatives = "|".join(re.escape(old) for old in sorted(mapping, key=len, reverse=True))
    pattern = r"(?<![\w.\-/\\])" + f"({alternatives})" + r"(?=[/\\'\"\s,:\]}]|$)"
    return re.sub(pattern, lambda match: mapping[match.group(1)], text)


def rewrite_tree(paths: Iterable[Path], mapping: Mapping[str, str]) -> None:
    """Rewrite the paths in the text files among ``paths`` (files, or folders walked)."""
    for path in paths:
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
        for file in files:
            if file.suffix not in TEXT_SUFFIXES:
                continue
            try:
                text = file.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            new = rewrite(text, mapping)
            if new != text:
                file.write_text(new, encoding="utf-8")


def pack(paths: Iterable[Path], base: Path) -> bytes:
    """An uncompressed tar of ``paths`` (files or folders), named relative to ``base``."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for path in paths:
            archive.add(path, arcname=str(path.relative_to(base)))
    return buffer.getvalue()


def _unpack(blob: bytes, into: Path) -> None:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as archive:
        archive.extractall(into, filter="data")


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """``{relative path: (size, mtime_ns)}`` of every file under ``root``."""
    out: dict[str, tuple[int, int]] = {}
    for file in root.rglob("*"):
        if file.is_file():
            stat = file.stat()
            out[str(file.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return out


def _remove_orphans(tmp: Path) -> None:
    """Remove the roots that killed workers left (their worker and command both gone)."""
    from hairpin.processes import pid_alive

    for root in tmp.glob(f"{WORKER_ROOT_PREFIX}*"):
        try:
            owners = json.loads((root / OWNERS).read_text())
        except (OSError, ValueError):
            continue  # being set up, or not ours
        if not any(pid_alive(int(pid)) for pid in owners):
            shutil.rmtree(root, ignore_errors=True)


def _place(inputs: list[str], study_dir: str, root: Path) -> dict[str, str]:
    """Where each input lives on the worker: the study folder under ``root/study``, others under ``root/external``."""
    mapping = {study_dir: str(root / "study")}
    for index, source in enumerate(inputs):
        if not (source == study_dir or source.startswith(study_dir + os.sep)):
            mapping[source] = str(root / "external" / str(index) / Path(source).name)
    return mapping


def _wait(process: subprocess.Popen[bytes], watch: Watch | None, mapping: Mapping[str, str]) -> int:
    """The command's exit code; meanwhile, every ``REPORT_S``, its progress to ``watch`` (and SIGINT when asked)."""
    if watch is None:
        return process.wait()
    node = replace(watch.node, output=Path(rewrite(str(watch.node.output), mapping)))
    asked = False
    while True:
        if watch.post(node_progress(node, watch.eval_maps)) and not asked:
            process.send_signal(signal.SIGINT)
            asked = True
        try:
            return process.wait(timeout=REPORT_S)
        except subprocess.TimeoutExpired:
            pass


def run_node(payload: Mapping[str, Any], *blobs: bytes, watch: Watch | None = None) -> dict[str, Any]:
    """Run one node here (a Ray task): ``payload`` holds ``study_dir``, ``command``, ``inputs`` (their paths on the
    driver, one blob each, packed relative to their parent) and ``version`` (the driver's code version); ``watch``
    hears how far it is.

    Returns ``code`` (the command's exit code), ``files`` (a tar of what it created or changed, with the driver's
    paths, relative to the study folder), ``deleted`` (files of its inputs it removed), ``log``, and ``host`` and
    ``pid`` of the process that ran it.
    """
    from hairpin.study.local import hairpin_process
    from hairpin.version import code_version

    host = socket.gethostname()
    here = code_version()
    if payload["version"] != here:
        log = f"{host} runs hairpin {here}, the study {payload['version']}: install the same commit on every worker\n"
        return {"code": 3, "files": b"", "deleted": [], "log": log, "host": host, "pid": os.getpid()}
    _remove_orphans(Path(tempfile.gettempdir()))
    root = Path(tempfile.mkdtemp(prefix=WORKER_ROOT_PREFIX))
    try:
        study_dir = payload["study_dir"]
        mapping = _place(list(payload["inputs"]), study_dir, root)
        for source, blob in zip(payload["inputs"], blobs, strict=True):
            target = Path(rewrite(source, mapping))
            target.parent.mkdir(parents=True, exist_ok=True)
            _unpack(blob, target.parent)
            rewrite_tree([target], mapping)
        study = root / "study"
        study.mkdir(exist_ok=True)
        before = _snapshot(study)
        command = [rewrite(arg, mapping) for arg in payload["command"]]
        log_path = root / "node.log"
        process = hairpin_process(command, log_path, python=sys.executable, cwd=root)
        (root / OWNERS).write_text(json.dumps([os.getpid(), process.pid]))
        try:
            code = _wait(process, watch, mapping)
        except BaseException:  # a cancelled task: let the command save what it can, then go
            process.send_signal(signal.SIGINT)
            process.wait()
            raise
        after = _snapshot(study)
        changed = [study / rel for rel, stat in after.items() if before.get(rel) != stat]
        back = {target: source for source, target in mapping.items()}
        rewrite_tree(changed, back)
        with log_path.open("rb") as file:
            file.seek(max(0, log_path.stat().st_size - LOG_TAIL_BYTES))
            log = file.read().decode("utf-8", errors="replace")
        return {
            "code": code,
            "files": pack(changed, study),
            "deleted": sorted(set(before) - set(after)),
            "log": rewrite(log, back),
            "host": host,
            "pid": os.getpid(),
        }
    finally:
        shutil.rmtree(root, ignore_errors=True)


def node_inputs(node: Node, plan: Plan, config_file: Path) -> list[Path]:
    """What ``node`` reads: its config, its dependencies' outputs (the weights an ``init_from`` starts from, not the
    whole other run), and its own run when it resumes."""
    resuming = node.kind == "rl" and (node.output / MANIFEST).is_file()
    init = node.init_from
    paths = [config_file]
    paths += [plan.nodes[dep].output for dep in node.deps if init is None or dep != init.node]
    if init is not None and not resuming:
        paths.append(init.weights)
    if resuming:
        paths.append(node.output)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise StudyError(f"{node.name}: inputs missing: {', '.join(missing)}")
    return paths


def node_payload(plan: Plan, command: list[str], inputs: list[Path]) -> dict[str, Any]:
    """The ``payload`` of ``run_node`` (the blobs go beside it, one ``pack([path], path.parent)`` per input)."""
    return {
        "study_dir": str(plan.study_dir),
        "command": command,
        "inputs": [str(p) for p in inputs],
        "version": plan.code_version,
    }


def apply_result(result: Mapping[str, Any], study_dir: Path, log: Path) -> int:
    """Bring a node's result into the study folder (its files extracted, the files it deleted removed, its output
    at the end of ``log``); its exit code."""
    with log.open("a", encoding="utf-8") as file:
        file.write(f"(ran on {result['host']}, pid {result['pid']})\n{result['log']}")
    if result["files"]:
        _unpack(result["files"], study_dir)
    root = study_dir.resolve()
    for rel in result["deleted"]:
        path = (root / rel).resolve()
        if path.is_relative_to(root) and path.is_file():
            path.unlink()
            parent = path.parent
            while parent != root and parent.is_dir() and not any(parent.iterdir()):
                parent.rmdir()
                parent = parent.parent
    return int(result["code"])
