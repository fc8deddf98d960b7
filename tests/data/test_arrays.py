from __future__ import annotations

import numpy as np
import pytest

from hairpin.actions import ACTION_KEYS, N_ACTIONS
from hairpin.data.arrays import DemoArrays, keys_to_actions


def hand_made() -> DemoArrays:
    """Two episodes: map a with 3 frames over 15 ticks, map b with 2 frames over 10 ticks; a frame every step."""
    timeline = np.concatenate([np.arange(15) % N_ACTIONS, (np.arange(10) + 3) % N_ACTIONS]).astype(np.int8)
    frame_tick = np.array([0, 5, 10, 0, 5])
    episode = np.array([0, 0, 0, 1, 1])
    starts = np.array([0, 15, 25])
    return DemoArrays(
        images=np.zeros((5, 1, 4, 4), np.uint8),
        floats=np.zeros((5, 3), np.float32),
        actions=timeline[starts[episode] + frame_tick].astype(np.int64),
        rewards=np.zeros(5, np.float32),
        race_time_ms=frame_tick * 10,
        episode=episode,
        episode_starts=np.array([0, 3, 5]),
        finished=np.array([True, False]),
        timeline=timeline,
        timeline_starts=starts,
        frame_tick=frame_tick,
        maps=("a", "b"),
    )


def test_labels_at_zero_are_the_actions() -> None:
    demos = hand_made()
    labels, valid = demos.labels_at([0])
    assert valid.all()
    np.testing.assert_array_equal(labels[:, 0], demos.actions)


def test_labels_are_masked_outside_their_episode() -> None:
    demos = hand_made()
    labels, valid = demos.labels_at([-10, 40, 50])
    # episode a: ticks 0..14; frame ticks 0, 5, 10. Episode b: ticks 0..9; frame ticks 0, 5.
    np.testing.assert_array_equal(valid[:, 0], [False, True, True, False, True])  # 1 tick back
    assert valid[:, 1].all()  # 4 ticks on: the last tick of each episode at most
    np.testing.assert_array_equal(valid[:, 2], [True, True, False, True, False])  # 5 ticks on: a's tick 15 is b's
    assert labels[2, 2] == 0 and labels[1, 2] == demos.timeline[10]
    assert labels[2, 1] == demos.timeline[14] and labels[4, 1] == demos.timeline[15 + 9]
    assert labels[1, 0] == demos.timeline[4]  # one tick before frame 1
    assert labels[4, 0] == demos.timeline[15 + 4]  # b's own tick 4, never a's


def test_negative_offset_at_an_episode_start_never_reads_the_previous_episode() -> None:
    demos = hand_made()
    labels, valid = demos.labels_at([-50])
    assert not valid[3, 0] and labels[3, 0] == 0  # frame 0 of b: tick -5 would be a's tick 10
    assert valid[1, 0] and labels[1, 0] == demos.timeline[0]


def test_offsets_must_be_whole_ticks() -> None:
    with pytest.raises(ValueError, match="multiples of 10 ms"):
        hand_made().labels_at([15])


def test_split_by_map_never_puts_one_map_on_both_sides() -> None:
    demos = hand_made()
    train, val = demos.split_by_map(["b"])
    assert set(train.maps) == {"a"} and set(val.maps) == {"b"}
    assert train.n_frames + val.n_frames == demos.n_frames
    np.testing.assert_array_equal(val.timeline, demos.timeline[15:])
    np.testing.assert_array_equal(val.labels_at([0])[0][:, 0], val.actions)
    with pytest.raises(ValueError, match="not in the dataset"):
        demos.split_by_map(["c"])
    with pytest.raises(ValueError, match="leave no episode"):
        demos.split_by_map(["a", "b"])


def test_keys_to_actions_inverts_action_keys_and_cancels_left_with_right() -> None:
    np.testing.assert_array_equal(keys_to_actions(ACTION_KEYS), np.arange(N_ACTIONS))
    assert keys_to_actions(np.array([1, 0, 1, 1])) == 0  # accel, left+right → accel
