"""How the hairpin command words a failure: one line for hairpin's own errors and disk errors, None for bugs."""

from __future__ import annotations

import errno

import pytest
from typer.testing import CliRunner

from hairpin.cli import app
from hairpin.cli_errors import DEBUG_ENV, MAX_DETAIL_LINES, describe_failure
from hairpin.errors import HairpinError


def test_a_multi_line_message_becomes_one_line_with_its_details_counted() -> None:
    details = "\n".join(f"  missing tensor {i}" for i in range(MAX_DETAIL_LINES + 3))
    line = describe_failure(HairpinError(f"x.pt does not fit:\n{details}"))
    assert line is not None and "\n" not in line
    assert line.startswith("x.pt does not fit; missing tensor 0") and line.endswith("… and 3 more")


def test_disk_errors_name_the_file_and_the_way_out() -> None:
    line = describe_failure(OSError(errno.ENOSPC, "No space left on device", "runs/a/run.json"))
    assert line is not None and line.startswith("runs/a/run.json: No space left on device") and "disk is full" in line
    assert describe_failure(ValueError("a bug")) is None


@pytest.mark.parametrize("how", ["option", "env"])
def test_debug_shows_the_error_itself(tmp_path, monkeypatch, how: str) -> None:  # type: ignore[no-untyped-def]
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    args = ["sim", "config", "-c", str(empty)]
    if how == "env":
        monkeypatch.setenv(DEBUG_ENV, "1")
    result = CliRunner().invoke(app, ["--debug", *args] if how == "option" else args)
    assert isinstance(result.exception, HairpinError) and "empty" in str(result.exception)
    plain = CliRunner().invoke(app, args, env={DEBUG_ENV: "0"})
    assert plain.exit_code == 2 and plain.output.startswith("error: ") and "Traceback" not in plain.output
