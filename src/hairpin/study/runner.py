"""``hairpin study FILE``: hold the study folder, record the study file and its plan, run the plan, write the report.

The study folder ``studies/<name>/`` belongs to one study process at a time (its ``study.lock``, the run lock of
``hairpin.run_lock``). ``study.yaml`` is a copy of the file that ran and ``plan.json`` the plan with its content
keys; the report (``hairpin.study.report``) is written at the end, also when some node failed (it names what is
missing).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import threading
from pathlib import Path

from rich.console import Console

from hairpin.atomic import atomic_write_text
from hairpin.run_lock import RunLock
from hairpin.study.executor import Backend, StudyExecutor
from hairpin.study.plan import Plan

__all__ = ["StudyOutcome", "run_study", "study_hash"]


def study_hash(path: Path) -> str:
    """SHA-256 of the study file's bytes (the report cites it)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class StudyOutcome:
    """What a study run ended with: each node's end and the report."""

    def __init__(self, results: dict[str, str], report: Path) -> None:
        self.results, self.report = results, report

    @property
    def failed(self) -> list[str]:
        return [name for name, end in self.results.items() if end == "failed"]

    @property
    def blocked(self) -> list[str]:
        return [name for name, end in self.results.items() if end == "blocked"]


def _record(plan: Plan) -> None:
    """Copy the study file and write plan.json."""
    source = plan.spec.source
    copy = plan.study_dir / "study.yaml"
    if not copy.exists() or copy.read_bytes() != source.read_bytes():
        atomic_write_text(copy, source.read_text(encoding="utf-8"))
    body = {**plan.as_json(), "study_file": str(source), "study_hash": study_hash(source), "selected": plan.selected}
    atomic_write_text(plan.study_dir / "plan.json", json.dumps(body, indent=2) + "\n")


def run_study(plan: Plan, backend: Backend, *, jobs: int, console: Console, command: str) -> StudyOutcome:
    """Run what is not done of ``plan`` through ``backend``, then write the report."""
    plan.study_dir.mkdir(parents=True, exist_ok=True)
    # the report's modules (matplotlib, the analysis) load while the first nodes run
    threading.Thread(target=importlib.import_module, args=("hairpin.study.report",), daemon=True).start()
    with RunLock(plan.study_dir, what="study"):
        _record(plan)
        results = StudyExecutor(plan, backend, jobs=jobs, console=console).run()
        report = _write_report(plan, command)
    return StudyOutcome(results, report)


def _write_report(plan: Plan, command: str) -> Path:
    from hairpin.study.report import write_report  # matplotlib and the analysis: only when a study runs

    return write_report(plan.spec, plan.study_dir, command, study_hash(plan.spec.source))
