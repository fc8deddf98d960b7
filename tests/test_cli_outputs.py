"""Nothing is overwritten without being asked: ``sim generate --out``, ``sim drive --out`` and ``eval --gif``.

A refusal exits with code 2 and one line naming the path and ``--overwrite``, and leaves what was there
byte-identical; ``--overwrite`` replaces it; the path reported is the path written.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import hairpin.rl.evaluate as evaluate_module
from hairpin.cli import app
from hairpin.outputs import (
    OutputExistsError,
    OutputPathError,
    check_writable_output,
    check_writable_outputs,
    output_with_suffix,
)
from hairpin.sim.generator import blocks_to_line, generate_blocks
from hairpin.sim.refline import line_length_m, load_reference_line

runner = CliRunner()
SMALL = ["--set", "env.image_size=32", "--set", "env.human_size=64", "--gif-every", "10"]
DRIVE_FILES = ("lap.gif", "map.png", "lap.json", "config.yaml")


def cli(args: list[str]) -> tuple[int, str]:
    """Exit code and the output with rich's line wrapping undone; a traceback fails the test."""
    result = runner.invoke(app, args)
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split())


def assert_one_line_refusal(output: str, path: Path) -> None:
    assert output.startswith("error: ") and output.count("error:") == 1, output
    assert str(path) in output and "--overwrite" in output, output


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the helpers ------------------------------------------------------------------------------------------------------


def test_check_writable_output(tmp_path: Path) -> None:
    path = tmp_path / "a" / "x.npy"
    assert check_writable_output(path, overwrite=False) == path  # nothing there: fine, even in a new folder
    path.parent.mkdir()
    path.write_bytes(b"old")
    with pytest.raises(OutputExistsError, match=r"x\.npy already exists: pass --overwrite"):
        check_writable_output(path, overwrite=False)
    assert check_writable_output(path, overwrite=True) == path
    with pytest.raises(OutputPathError, match="is a folder, not a file"):
        check_writable_output(tmp_path / "a", overwrite=True)  # a folder is never replaced by a file


def test_check_writable_outputs_names_every_existing_file(tmp_path: Path) -> None:
    (tmp_path / "lap.json").write_text("{}")
    (tmp_path / "map.png").write_bytes(b"png")
    with pytest.raises(OutputExistsError, match=r"already holds map\.png, lap\.json: pass --overwrite to replace them"):
        check_writable_outputs(tmp_path, DRIVE_FILES, overwrite=False)
    assert check_writable_outputs(tmp_path, DRIVE_FILES, overwrite=True) == tmp_path
    assert check_writable_outputs(tmp_path / "new", DRIVE_FILES, overwrite=False) == tmp_path / "new"
    with pytest.raises(OutputPathError, match="is a file, not a folder"):
        check_writable_outputs(tmp_path / "lap.json", DRIVE_FILES, overwrite=True)


def test_output_with_suffix() -> None:
    assert output_with_suffix(Path("maps/noext"), ".npy") == Path("maps/noext.npy")
    assert output_with_suffix(Path("maps/a.npy"), ".npy") == Path("maps/a.npy")
    with pytest.raises(OutputPathError, match=r"must be a \.npy file, not \.txt"):
        output_with_suffix(Path("maps/a.txt"), ".npy")


# --- sim generate -----------------------------------------------------------------------------------------------------


def generate(out: Path, *extra: str, seed: int = 5) -> tuple[int, str]:
    return cli(["sim", "generate", "--seed", str(seed), "--blocks", "8", "--out", str(out), *extra])


def test_generate_refuses_an_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "map.npy"
    np.save(out, np.arange(6.0))
    before = out.read_bytes()
    code, output = generate(out)
    assert code == 2
    assert_one_line_refusal(output, out)
    assert out.read_bytes() == before


def test_generate_overwrite_replaces_and_reports_the_path(tmp_path: Path) -> None:
    out = tmp_path / "map.npy"
    out.write_bytes(b"not a map")
    code, output = generate(out, "--overwrite")
    assert code == 0, output
    expected = blocks_to_line(generate_blocks(5, 8))
    np.testing.assert_array_equal(load_reference_line(out), expected)
    assert f"wrote {out}:" in output
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temporary file


def test_generate_without_a_suffix_writes_and_reports_the_npy(tmp_path: Path) -> None:
    out = tmp_path / "maps" / "noext"
    code, output = generate(out)
    assert code == 0, output
    written = tmp_path / "maps" / "noext.npy"
    assert written.is_file() and not out.exists()
    assert f"wrote {written}:" in output
    record = json.loads(output[output.index("{") :])
    assert record["path"] == str(written)
    assert record["length_m"] == pytest.approx(line_length_m(np.load(written)))
    # the path really written is the one checked: a second run refuses it
    before = written.read_bytes()
    code, output = generate(out, seed=6)
    assert code == 2
    assert_one_line_refusal(output, written)
    assert written.read_bytes() == before


def test_generate_refuses_another_suffix(tmp_path: Path) -> None:
    code, output = generate(tmp_path / "map.txt")
    assert code == 2 and "must be a .npy file, not .txt" in output, output
    assert not any(tmp_path.iterdir())


# --- sim drive --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("existing", DRIVE_FILES)
def test_drive_refuses_a_folder_holding_any_of_its_files(tmp_path: Path, existing: str) -> None:
    out = tmp_path / "drive"
    out.mkdir()
    (out / existing).write_bytes(b"an earlier lap's " + existing.encode())
    (out / "notes.txt").write_text("kept")
    before = snapshot(out)
    code, output = cli(["sim", "drive", "technical", "--out", str(out), *SMALL])
    assert code == 2
    assert_one_line_refusal(output, out)
    assert existing in output
    assert snapshot(out) == before  # nothing replaced, nothing added


def test_drive_refuses_a_file_as_its_folder(tmp_path: Path) -> None:
    out = tmp_path / "drive"
    out.write_bytes(b"a file")
    code, output = cli(["sim", "drive", "technical", "--out", str(out), *SMALL])
    assert code == 2 and f"{out} is a file, not a folder" in output, output
    assert out.read_bytes() == b"a file"


def test_drive_overwrite_replaces_an_earlier_lap(tmp_path: Path) -> None:
    out = tmp_path / "drive"
    out.mkdir()
    for name in DRIVE_FILES:
        (out / name).write_bytes(b"old")
    code, output = cli(["sim", "drive", "technical", "--out", str(out), "--overwrite", *SMALL])
    assert code == 0, output
    summary = json.loads((out / "lap.json").read_text())
    assert summary["map"] == "technical"
    assert (out / "lap.gif").read_bytes()[:6] == b"GIF89a"
    assert (out / "map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "image_size: 32" in (out / "config.yaml").read_text()
    assert summary["files"]["gif"] == str(out / "lap.gif") and str(out / "lap.gif") in output


# --- eval --gif -------------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_race(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``eval`` without a trained run: load_run, resolve_map and race_greedy replaced; returns the calls made."""
    calls: list[str] = []

    def load_run(run: str, runs: Path) -> tuple[Any, Any]:
        calls.append("load_run")
        return SimpleNamespace(env=None), None

    def race_greedy(
        net: Any, env: Any, map_: str, races: int, frames: list[np.ndarray] | None = None, start_speed: float = 0.0
    ) -> list[Any]:
        calls.append("race")
        if frames is not None:
            frames.extend(np.full((8, 8, 3), 40 * i, dtype=np.uint8) for i in range(4))
        return [SimpleNamespace(finished=True, race_time_ms=12_340)]

    monkeypatch.setattr(evaluate_module, "load_run", load_run)
    monkeypatch.setattr(evaluate_module, "resolve_map", lambda cfg, name: name)
    monkeypatch.setattr(evaluate_module, "race_greedy", race_greedy)
    import hairpin.rl.limits as limits_module

    monkeypatch.setattr(limits_module, "map_limit", lambda cfg, name: 10_000)
    return calls


def test_eval_refuses_an_existing_gif_before_racing(tmp_path: Path, fake_race: list[str]) -> None:
    gif = tmp_path / "race.gif"
    gif.write_bytes(b"GIF89a an earlier race")
    before = gif.read_bytes()
    code, output = cli(["eval", "somerun", "--map", "sprint", "--gif", str(gif)])
    assert code == 2
    assert_one_line_refusal(output, gif)
    assert gif.read_bytes() == before
    assert fake_race == []  # refused before loading or racing anything


def test_eval_overwrite_replaces_the_gif(tmp_path: Path, fake_race: list[str]) -> None:
    gif = tmp_path / "race.gif"
    gif.write_bytes(b"old")
    code, output = cli(["eval", "somerun", "--map", "sprint", "--gif", str(gif), "--overwrite"])
    assert code == 0, output
    assert fake_race == ["load_run", "race"]
    assert gif.read_bytes()[:6] == b"GIF89a" and f"GIF: {gif}" in output
    assert "12.34 s (1.234× the limit)" in output and "limit of sprint: 10.00 s" in output


def test_eval_gif_without_a_suffix_writes_and_reports_the_gif(tmp_path: Path, fake_race: list[str]) -> None:
    code, output = cli(["eval", "somerun", "--map", "sprint", "--gif", str(tmp_path / "out" / "race")])
    assert code == 0, output
    written = tmp_path / "out" / "race.gif"
    assert written.read_bytes()[:6] == b"GIF89a" and f"GIF: {written}" in output


def test_eval_says_how_far_a_dnf_got_and_what_it_held(monkeypatch: pytest.MonkeyPatch, fake_race: list[str]) -> None:
    from hairpin.actions import ACTION_NAMES

    held = np.array([ACTION_NAMES.index("left")] * 38 + [ACTION_NAMES.index("brake")] * 2)
    standing = SimpleNamespace(finished=False, race_time_ms=2_000, actions=held, progress=0.0)
    monkeypatch.setattr(evaluate_module, "race_greedy", lambda *args, **kwargs: [standing])
    code, output = cli(["eval", "somerun", "--map", "sprint"])
    assert code == 0, output
    assert "race 0: DNF at 2.00 s, after 0.0% of the lap; held most: left ×38, brake ×2" in output
    assert "finished 0/1" in output
