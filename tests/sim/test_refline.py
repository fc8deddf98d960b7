from __future__ import annotations

import numpy as np
import pytest
from tests.conftest import straight_line

from hairpin.sim.refline import ReferenceLineError, load_reference_line, validate_reference_line


def test_valid_line_is_returned_unchanged() -> None:
    line = straight_line(50)
    np.testing.assert_array_equal(validate_reference_line(line), line)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (np.zeros((30, 2)), r"\(N, 3\).*shape \(30, 2\)"),
        (np.zeros(90), r"shape \(90,\)"),
        (straight_line(5), "at least 20 points, got 11"),
    ],
)
def test_malformed_shapes_are_named(points: np.ndarray, message: str) -> None:
    with pytest.raises(ReferenceLineError, match=message):
        validate_reference_line(points)


def test_nan_is_named_with_its_index() -> None:
    line = straight_line(50)
    line[7, 1] = np.nan
    with pytest.raises(ReferenceLineError, match="NaN or infinity, first at index 7"):
        validate_reference_line(line)


def test_repeated_points_are_named() -> None:
    line = straight_line(50)
    line[12] = line[11]
    with pytest.raises(ReferenceLineError, match=r"repeated point.*index 12"):
        validate_reference_line(line)


def test_wrong_spacing_is_resampled_with_a_warning() -> None:
    line = straight_line(100)[::4]  # 2 m apart
    with pytest.warns(UserWarning, match="2.000 m apart"):
        out = validate_reference_line(line)
    steps = np.linalg.norm(np.diff(out, axis=0), axis=1)
    np.testing.assert_allclose(steps, 0.5, atol=1e-9)
    np.testing.assert_allclose(out[-1], line[-1])


def test_load_errors(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ReferenceLineError, match="no such file"):
        load_reference_line(tmp_path / "missing.npy")
    np.save(tmp_path / "ok.npy", straight_line(40))
    assert load_reference_line(tmp_path / "ok.npy").shape == (81, 3)


def test_real_line_loads_without_resampling(hockolicious_path) -> None:  # type: ignore[no-untyped-def]
    line = load_reference_line(hockolicious_path)
    assert line.shape == (8062, 3)
