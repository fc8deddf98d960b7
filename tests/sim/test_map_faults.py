"""Faults of maps: unreadable files and lines no car could drive are errors that say where (index, metres).

Each fault is checked twice: by ``load_reference_line`` (the message names the point and the metres along the line)
and through ``hairpin sim drive FILE`` (exit code 2, one line naming the file, no traceback, nothing driven).
The real lines in ../shared/maps must still load, with warnings turned into errors.
"""

from __future__ import annotations

import errno
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.conftest import SHARED_MAPS, straight_line, u_turn_line
from typer.testing import CliRunner

from hairpin.cli import app
from hairpin.cli_errors import DEBUG_ENV
from hairpin.sim.maps import load_map
from hairpin.sim.refline import (
    MAX_JUMP_FACTOR,
    MAX_SLOPE,
    MAX_STEP_SLOPE,
    MAX_TURN_DEG,
    ReferenceLineError,
    line_length_m,
    load_reference_line,
    validate_reference_line,
)
from hairpin.sim.track import Track

runner = CliRunner()


# --- lines with one geometric fault, and where the fault is ---------------------------------------------------------


def jump_line() -> np.ndarray:
    line = straight_line(100.0)  # 201 points along +z
    line[100:, 2] += 10.0  # a 10.5 m gap between points 99 and 100
    return line


def cliff_line() -> np.ndarray:
    line = straight_line(100.0)
    line[100:, 1] += 1.5  # 1.5 m up over 0.5 m: slope 3, but a 3-D step of 1.58 m, no gap
    return line


def tall_cliff_line() -> np.ndarray:
    line = straight_line(100.0)
    line[100:, 1] += 6.0  # longer than a gap, but a step up: named as a cliff, not a jump
    return line


def wall_line() -> np.ndarray:
    line = straight_line(100.0)
    line[100:110, 1] = 0.6 * np.arange(1, 11)  # slope 1.2 for 5 m: every step climbable, the whole not
    line[110:, 1] = 6.0
    return line


def doubling_back_line() -> np.ndarray:
    z = np.concatenate([np.arange(0.0, 50.25, 0.5), np.arange(49.5, 19.75, -0.5)])  # up to 50 m, then back down
    return np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)


def spin_on_the_spot_line() -> np.ndarray:
    """A straight with a full circle of radius 0.6 m in its middle: the line turns round on the spot."""
    head = straight_line(50.0)
    angles = np.arange(0.5 / 0.6, 2 * np.pi, 0.5 / 0.6)
    loop = np.stack([0.6 - 0.6 * np.cos(angles), np.zeros_like(angles), 50.0 + 0.6 * np.sin(angles)], axis=1)
    tail = straight_line(50.0)[1:] + np.array([0.0, 0.0, 50.0])
    return np.concatenate([head, loop, tail])


FAULTS: dict[str, tuple[Callable[[], np.ndarray], str]] = {
    "jump": (jump_line, r"jumps 10\.50 m from point 99 \(49\.5 m along the line\) to point 100"),
    "cliff": (cliff_line, r"height step of \+1\.50 m over 0\.50 m horizontally from point 99 \(49\.5 m along"),
    "tall cliff": (tall_cliff_line, r"height step of \+6\.00 m over 0\.50 m horizontally from point 99 \(49\.5 m"),
    "wall": (
        wall_line,
        r"height changes by \+2\.40 m over 2\.00 m horizontally from point 99 \(\d+\.\d m along.*to point 103",
    ),
    "doubling back": (doubling_back_line, r"doubles back at point 100 \(50\.0 m along the line\): it turns 180°"),
    "spin on the spot": (spin_on_the_spot_line, r"doubles back at point 10\d \(5\d\.\d m along the line\)"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_geometric_fault_names_its_point_and_metres(fault: str) -> None:
    make, message = FAULTS[fault]
    with pytest.raises(ReferenceLineError, match=message):
        validate_reference_line(make(), source="map 'x'")


@pytest.mark.parametrize("fault", list(FAULTS))
def test_each_geometric_fault_is_refused_from_a_file(tmp_path: Path, fault: str) -> None:
    make, message = FAULTS[fault]
    path = tmp_path / f"{fault.replace(' ', '-')}.npy"
    np.save(path, make())
    with pytest.raises(ReferenceLineError, match=message) as info:
        load_map(path)
    assert str(info.value).startswith(str(path))


def test_a_jump_is_found_before_resampling_could_bridge_it() -> None:
    line = straight_line(200.0)[::2]  # 1 m apart: resampled, with a warning, when valid
    line[50:, 0] += 6.0  # a 6.1 m step: more than 5 × 1 m
    with pytest.raises(ReferenceLineError, match=r"jumps 6\.08 m from point 49 \(49\.0 m along"):
        validate_reference_line(line)


def test_the_bounds_are_what_the_docs_say() -> None:
    """The thresholds the messages quote, with a line just inside and just outside each."""
    assert (MAX_JUMP_FACTOR, MAX_STEP_SLOPE, MAX_SLOPE, MAX_TURN_DEG) == (5.0, 2.0, 1.0, 150.0)
    inside, outside = straight_line(100.0), straight_line(100.0)
    inside[100:, 0] += 2.4  # a 2.45 m step: under 5 × 0.5 m
    outside[100:, 0] += 2.5  # 2.55 m
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_reference_line(inside)
    with pytest.raises(ReferenceLineError, match=r"jumps 2\.55 m"):
        validate_reference_line(outside)


@pytest.mark.parametrize("radius", [4.0, 8.0, 16.0])
def test_tight_hairpins_rounded_to_a_tenth_of_a_metre_are_valid(radius: float) -> None:
    line = np.round(u_turn_line(radius=radius), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = validate_reference_line(line)
    assert out.shape == line.shape


def test_a_steep_ramp_rounded_to_a_tenth_of_a_metre_is_valid() -> None:
    """A 0.67 ramp (the steepest in real maps), points 0.5 m apart in 3-D, coordinates rounded to 0.1 m."""
    s = np.arange(0.0, 100.0, 0.5)
    run = s / np.sqrt(1 + 0.67**2)
    line = np.round(np.stack([np.zeros_like(s), 0.67 * run, run], axis=1), 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        validate_reference_line(line)


# --- files that are not lines -----------------------------------------------------------------------------------------


def write_empty(path: Path) -> None:
    path.write_bytes(b"")


def write_text(path: Path) -> None:
    path.write_text("x,height,z\n1,2,3\n")


def write_object_array(path: Path) -> None:
    np.save(path, np.array([{"x": 1}, "two", 3], dtype=object), allow_pickle=True)


def write_no_points(path: Path) -> None:
    np.save(path, np.zeros((0, 3)))


def write_nan(path: Path) -> None:
    line = straight_line(50.0)
    line[30, 0] = np.nan
    np.save(path, line)


def write_truncated(path: Path) -> None:
    np.save(path, straight_line(50.0))
    path.write_bytes(path.read_bytes()[:400])


def write_npz(path: Path) -> None:
    with path.open("wb") as file:
        np.savez(file, line=straight_line(50.0))


def write_wrong_shape(path: Path) -> None:
    np.save(path, straight_line(50.0)[:, :2])


def write_complex(path: Path) -> None:
    np.save(path, straight_line(50.0).astype(np.complex128))


BAD_FILES: dict[str, tuple[Callable[[Path], None], str]] = {
    "zero-byte": (write_empty, r"the file is empty \(0 bytes\)"),
    "text renamed .npy": (write_text, r"not a \.npy file"),
    "object array": (write_object_array, r"holds Python objects \(pickled data\), not numbers"),
    "no points": (write_no_points, "the line holds no points"),
    "nan": (write_nan, "NaN or infinity, first at index 30"),
    "truncated": (write_truncated, r"a truncated or corrupted \.npy file"),
    "npz": (write_npz, r"a \.npz archive"),
    "wrong shape": (write_wrong_shape, r"expected an \(N, 3\) array.*shape \(101, 2\)"),
    "complex": (write_complex, "expected real numbers, got dtype complex128"),
}


@pytest.mark.parametrize("fault", list(BAD_FILES))
def test_each_bad_file_is_a_reference_line_error_naming_the_file(tmp_path: Path, fault: str) -> None:
    write, message = BAD_FILES[fault]
    path = tmp_path / "bad.npy"
    write(path)
    with pytest.raises(ReferenceLineError, match=message) as info:
        load_reference_line(path)
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    assert "allow_pickle" not in text and "unsafe" not in text  # a pickle is never suggested


def test_a_folder_is_not_a_line(tmp_path: Path) -> None:
    (tmp_path / "dir.npy").mkdir()
    with pytest.raises(ReferenceLineError, match="a folder, not a reference-line"):
        load_reference_line(tmp_path / "dir.npy")


def test_an_unreadable_file_is_a_reference_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "locked.npy"
    np.save(path, straight_line(50.0))
    real_open = Path.open

    def refuse(self: Path, *args: Any, **kwargs: Any) -> Any:  # as a file without read permission (even for root)
        if self == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ReferenceLineError, match=r"locked\.npy: cannot be read \(Permission denied\); check its"):
        load_reference_line(path)


# --- the driven length ------------------------------------------------------------------------------------------------


def test_length_is_the_driven_length_not_the_point_count() -> None:
    z = np.arange(0.0, 100.0, 0.55)  # 0.55 m apart: within tolerance, so not resampled
    line = np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)
    track = Track("x", line)
    assert track.length_m == pytest.approx((len(z) - 1) * 0.55)
    assert track.length_m == pytest.approx(line_length_m(line))
    assert track.finish_s_m == pytest.approx((len(z) - 1) * 0.5)  # progress, which the simulator counts by point
    assert abs(track.length_m - track.finish_s_m) > 9.0


def test_length_of_a_ramp_counts_its_height() -> None:
    run = np.arange(0.0, 60.0, 0.4)
    line = np.stack([np.zeros_like(run), 0.75 * run, run], axis=1)  # 0.5 m apart in 3-D, 0.4 m horizontally
    assert Track("ramp", line).length_m == pytest.approx((len(run) - 1) * 0.5)


# --- the real lines ---------------------------------------------------------------------------------------------------


def real_lines() -> list[Path]:
    return sorted(SHARED_MAPS.glob("*.npy")) if SHARED_MAPS.is_dir() else []


@pytest.mark.parametrize("path", real_lines() or [None], ids=lambda p: p.name if p else "absent")
def test_real_lines_load_without_error_or_warning(path: Path | None) -> None:
    if path is None:
        pytest.skip("../shared/maps holds no reference lines")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        track = Track.from_file(path)
    raw = np.load(path, allow_pickle=False)
    assert track.n_points == len(raw)
    assert track.length_m == pytest.approx(line_length_m(raw))


def test_hockolicious_length_is_its_driven_length(hockolicious_path: Path) -> None:
    track = Track.from_file(hockolicious_path)
    assert track.length_m == pytest.approx(4048.66, abs=0.01)  # the points are rounded: 0.45 % over 8,061 × 0.5 m
    assert track.finish_s_m == 4030.5


# --- through the command ----------------------------------------------------------------------------------------------


def drive(map_file: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = runner.invoke(app, [*extra, "sim", "drive", str(map_file), "--out", str(out)])
    return result.exit_code, result.output


@pytest.mark.parametrize("fault", [*FAULTS, *BAD_FILES])
def test_sim_drive_on_a_bad_map_is_one_line_exit_2(tmp_path: Path, fault: str) -> None:
    path = tmp_path / "bad.npy"
    if fault in FAULTS:
        np.save(path, FAULTS[fault][0]())
    else:
        BAD_FILES[fault][0](path)
    before = path.read_bytes()
    code, output = drive(path, tmp_path / "out")
    assert code == 2, output
    assert "Traceback" not in output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    assert str(path) in " ".join(output.split())
    assert not (tmp_path / "out").exists()  # nothing was driven nor written, not even the folder
    assert path.read_bytes() == before


def test_sim_drive_debug_shows_the_error_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DEBUG_ENV, raising=False)  # the option alone must show it
    path = tmp_path / "empty.npy"
    path.write_bytes(b"")
    result = runner.invoke(app, ["--debug", "sim", "drive", str(path), "--out", str(tmp_path / "out")])
    assert isinstance(result.exception, ReferenceLineError)
    assert "0 bytes" in str(result.exception)
