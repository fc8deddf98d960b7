from __future__ import annotations

import numpy as np
import pytest

from hairpin.obs import CarState, FloatLayout, build_floats, float_layout_differences, float_layout_record


def orientation(yaw: float, pitch: float = 0.0) -> np.ndarray:
    """Columns: right, up, forward of a car with heading ``yaw`` and nose-up ``pitch``."""
    sy, cy, sp, cp = np.sin(yaw), np.cos(yaw), np.sin(pitch), np.cos(pitch)
    right = [cy, 0.0, -sy]
    up = [-sy * sp, cp, -cy * sp]
    forward = [sy * cp, sp, cy * cp]
    return np.array([right, up, forward]).T


def test_default_layout_has_184_floats_in_order() -> None:
    layout = FloatLayout()
    assert layout.size == 184
    assert layout.prev_actions == slice(1, 21)
    assert layout.ref_points == slice(62, 182)
    assert layout.distance_to_finish == slice(182, 183)
    assert layout.mean.shape == layout.std.shape == (184,)
    assert np.all(layout.std > 0)


def test_rotated_moving_car_in_car_frame() -> None:
    layout = FloatLayout(n_prev_actions=2, n_ref_points=2)
    # facing +x (east, yaw 90°): its right is -z (south), its left +z
    car = CarState(
        position=np.array([100.0, 5.0, 200.0]),
        orientation=orientation(np.pi / 2),
        velocity=np.array([10.0, 0.0, 2.0]),
        angular_velocity=np.array([0.0, 0.5, 0.0]),
        gear=3.0,
        rpm=6000.0,
    )
    refs = np.array([[100.0, 5.0, 205.0], [120.0, 7.0, 200.0]])  # 5 m north; 20 m east and 2 m up
    f = build_floats(car, refs, prev_actions=[2, 7], distance_to_finish=900.0, layout=layout)
    np.testing.assert_allclose(f[layout.velocity], [-2.0, 0.0, 10.0], atol=1e-6)  # 2 m/s to its left
    np.testing.assert_allclose(f[layout.angular_velocity], [0.0, 0.5, 0.0], atol=1e-6)
    np.testing.assert_allclose(f[layout.world_up], [0.0, 1.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(f[layout.ref_points], [-5.0, 0.0, 0.0, 0.0, 2.0, 20.0], atol=1e-5)
    np.testing.assert_array_equal(f[layout.prev_actions], [1, 0, 0, 1, 0, 1, 1, 0])  # accel+right, brake+left
    assert f[layout.distance_to_finish][0] == 700.0  # capped
    assert f[layout.gear][0] == 3.0 and f[layout.rpm][0] == 6000.0
    np.testing.assert_array_equal(f[layout.wheel_material], np.tile([1, 0, 0, 0], 4))


def test_pitched_car_sees_world_up_tilted_back() -> None:
    layout = FloatLayout(n_prev_actions=0, n_ref_points=1)
    pitch = 0.3
    car = CarState(
        position=np.zeros(3),
        orientation=orientation(0.0, pitch),
        velocity=np.array([0.0, 3.0, 10.0]),
        angular_velocity=np.zeros(3),
    )
    f = build_floats(car, np.array([[0.0, 0.0, 10.0]]), [], 100.0, layout)
    np.testing.assert_allclose(f[layout.world_up], [0.0, np.cos(pitch), np.sin(pitch)], atol=1e-6)
    np.testing.assert_allclose(
        f[layout.velocity],
        [0.0, 3 * np.cos(pitch) - 10 * np.sin(pitch), 3 * np.sin(pitch) + 10 * np.cos(pitch)],
        atol=1e-5,
    )


def test_bad_ref_points_shape_is_an_error() -> None:
    layout = FloatLayout(n_ref_points=3)
    car = CarState(position=np.zeros(3), orientation=np.eye(3), velocity=np.zeros(3), angular_velocity=np.zeros(3))
    with pytest.raises(ValueError, match=r"\(3, 3\)"):
        build_floats(car, np.zeros((2, 3)), [], 0.0, layout)


def test_a_layout_records_the_line_its_reference_points_lie_on() -> None:
    """Floats of the same shape whose points lie on another line mean something else: datasets and artifacts say so."""
    centre, racing = FloatLayout(), FloatLayout(reference_line="racing")
    assert "reference_line" not in float_layout_record(centre)  # records written before the option still match
    assert float_layout_differences(float_layout_record(centre), centre) == []
    assert float_layout_differences(float_layout_record(racing), racing) == []
    assert float_layout_differences(float_layout_record(centre), racing) == [
        "reference points lie on the centre line, expected the racing line"
    ]
    assert float_layout_differences(float_layout_record(racing), centre) == [
        "reference points lie on the racing line, expected the centre line"
    ]
