"""``hairpin study FILE``: hold the study folder, record the study file and its plan, run the plan, write the report.

The study folder ``studies/<name>/`` belongs to one study process at a time (its ``study.lock``, the run lock of
``hairpin.run_lock``). ``study.yaml`` is a copy of the file that ran and ``plan.json`` the plan with its content
keys; the report (``hairpin.study.report``, when that module exists) is written at the end, also when some node
failed (it names what is missing).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from rich.console import Console

from hairpin.atomic import atomic_write_text
from hairpin.run_lock import RunLock
from hairpin.study.local import LocalExecutor
from hairpin.study.plan import Plan
from hairpin.study.spec import StudyError

__all__ = ["StudyOutcome", "check_ray", "run_study", "study_hash"]


def study_hash(path: Path) -> str:
    """SHA-256 of the study file's bytes (the report cites it)."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


class StudyOutcome:
    """What a study run ended with: each node's end and the report, if one was written."""

    def __init__(self, results: dict[str, str], report: Path | None) -> None:
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


def run_study(plan: Plan, *, jobs: int, cores: int, console: Console, command: str) -> StudyOutcome:
    """Run what is not done of ``plan`` on this machine, then write the report."""
    plan.study_dir.mkdir(parents=True, exist_ok=True)
    with RunLock(plan.study_dir, what="study"):
        _record(plan)
        results = LocalExecutor(plan, jobs=jobs, cores=cores, console=console).run()
        report = _write_report(plan, command)
    return StudyOutcome(results, report)


def _write_report(plan: Plan, command: str) -> Path | None:
    """``study.report.write_report`` when that module exists; None otherwise."""
    try:
        from hairpin.study.report import write_report
    except ModuleNotFoundError as error:
        if error.name != "hairpin.study.report":
            raise
        return None
    return write_report(plan.spec, plan.study_dir, command, study_hash(plan.spec.source))


def check_ray(address: str) -> None:
    """``--ray``: a clear error without the ray package, and (for now) with it: only the local executor exists."""
    try:
        import ray  # noqa: F401
    except ImportError as error:
        raise StudyError(
            f"--ray {address}: the ray package is not installed (pip install 'hairpin[ray]'); without --ray the "
            "study runs on this machine"
        ) from error
    raise StudyError(f"--ray {address}: the Ray executor is not implemented yet; run without --ray (local executor)")
