"""The run files are a room of their own: the readers of runs (analysis, data, study) never import the trainer."""

from __future__ import annotations

import subprocess
import sys

READERS = (
    "hairpin.analysis",
    "hairpin.data.replay",
    "hairpin.study.progress",
    "hairpin.study.report",
    "hairpin.study.executor",
    "hairpin.study.shipping",
    "hairpin.runfiles.best",
    "hairpin.runfiles.checkpoints",
    "hairpin.runfiles.manifest",
)


def _loaded_after_importing(modules: tuple[str, ...]) -> set[str]:
    """The modules a fresh interpreter holds after importing ``modules``."""
    probe = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_readers_of_runs_import_nothing_of_the_trainer() -> None:
    assert not {m for m in _loaded_after_importing(READERS) if m.startswith("hairpin.rl")}


def test_the_run_files_and_the_study_progress_need_no_torch() -> None:
    loaded = _loaded_after_importing(
        ("hairpin.runfiles.best", "hairpin.runfiles.checkpoints", "hairpin.study.progress")
    )
    assert "torch" not in loaded and "hairpin.runfiles.checkpoints" in loaded
