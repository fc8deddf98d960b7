"""BC batches: offset labels masked at episode edges, and n-step TD transitions at finished and cut-off ends."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hairpin.data.arrays import DemoArrays
from hairpin.pretrain.bc_data import BCSplit, TDSettings, check_frame_step, make_batch

CPU = torch.device("cpu")
REWARDS = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0], np.float32)


def hand_demos(gap_ms: int = 50) -> DemoArrays:
    """Two episodes of three frames (the first finished, the second cut off); frame i plays action i on its 5 ticks,
    except that the second tick of frame 1 is action 9."""
    timeline = np.repeat(np.arange(6), 5).astype(np.int8)
    timeline[6] = 9
    return DemoArrays(
        images=np.arange(6, dtype=np.uint8)[:, None, None, None].repeat(4, 2).repeat(4, 3),
        floats=np.stack([np.zeros(6), np.arange(6)], 1).astype(np.float32),  # (T, 2): [mini_race_time, frame index]
        actions=np.arange(6, dtype=np.int64),
        rewards=REWARDS,
        race_time_ms=np.array([0, 1, 2, 0, 1, 2]) * gap_ms,
        episode=np.array([0, 0, 0, 1, 1, 1]),
        episode_starts=np.array([0, 3, 6]),
        finished=np.array([True, False]),
        timeline=timeline,
        timeline_starts=np.array([0, 15, 30]),
        frame_tick=np.array([0, 5, 10, 0, 5, 10]),
        maps=("a", "b"),
    )


def test_offset_labels_are_masked_outside_the_episode() -> None:
    split = BCSplit.from_demos(hand_demos(), [0, 10, 50, -50])
    assert split.labels[:, 0].tolist() == [0, 1, 2, 3, 4, 5]
    assert split.labels[:, 1].tolist() == [0, 9, 2, 3, 4, 5]  # 10 ms: the second tick
    assert split.valid[:, 2].tolist() == [True, True, False, True, True, False]  # +50 ms past each episode's end
    assert split.labels[:, 2].tolist() == [1, 2, 0, 4, 5, 0]  # never the next episode's first action
    assert split.valid[:, 3].tolist() == [False, True, True, False, True, True]  # −50 ms before each start
    assert split.labels[[1, 2, 4, 5], 3].tolist() == [0, 1, 3, 4]
    assert split.steps_to_end.tolist() == [3, 2, 1, 3, 2, 1]
    assert split.finished.tolist() == [True, True, True, False, False, False]


def test_batch_shapes_and_images_only_when_asked() -> None:
    split = BCSplit.from_demos(hand_demos(), [0, 50])
    batch = make_batch(split, np.array([4, 0]), device=CPU, images=True)
    assert batch.img is not None and batch.img.shape == (2, 1, 4, 4) and batch.img.dtype == torch.uint8
    assert batch.img[:, 0, 0, 0].tolist() == [4, 0]
    assert batch.floats.shape == (2, 2) and batch.labels.shape == (2, 2) and batch.valid.dtype == torch.bool
    assert batch.action.tolist() == [4, 0] and batch.td is None
    assert make_batch(split, np.array([1]), device=CPU, images=False).img is None


def test_td_transitions_at_a_finish_and_at_a_cut_off_end() -> None:
    split = BCSplit.from_demos(hand_demos(), [0])
    td = TDSettings(n_steps=2, gamma=0.5, mini_race_steps=None, step_s=0.05, time_slice=slice(0, 1))
    batch = make_batch(split, np.arange(6), device=CPU, images=True, td=td, rng=np.random.default_rng(0))
    assert batch.td is not None
    # finished episode: 1 + .5·2 then bootstrap from frame 2; the finish lies within both later windows (terminal)
    assert batch.td.reward[:3].tolist() == pytest.approx([2.0, 2.0 + 0.5 * 4.0, 4.0])
    assert batch.td.discount[:3].tolist() == pytest.approx([0.25, 0.0, 0.0])
    assert batch.td.mask[:3].tolist() == [True, True, True]
    assert batch.td.next_floats[0, 1].item() == 2.0  # frame 0's next observation is frame 2
    # cut-off episode: not terminal; windows that reach its end have no stored next frame and are masked
    assert batch.td.reward[3:].tolist() == pytest.approx([8.0 + 8.0, 16.0 + 16.0, 32.0])
    assert batch.td.discount[3:].tolist() == pytest.approx([0.25, 0.25, 0.5])
    assert batch.td.mask[3:].tolist() == [True, False, False]
    assert batch.td.next_img is not None and batch.td.next_img[3, 0, 0, 0].item() == 5


def test_mini_race_time_is_written_and_ends_the_return() -> None:
    split = BCSplit.from_demos(hand_demos(), [0])
    td = TDSettings(n_steps=2, gamma=1.0, mini_race_steps=2, step_s=0.05, time_slice=slice(0, 1))
    index = np.array([3] * 64)  # a mid-episode frame of the cut-off episode, many draws of the mini-race time
    batch = make_batch(split, index, device=CPU, images=False, td=td, rng=np.random.default_rng(1))
    assert batch.td is not None
    time = batch.floats[:, 0] / 0.05  # (B,) steps into the mini-race
    assert set(torch.round(time).tolist()) == {0.0, 1.0}
    n = torch.where(time.round() == 0, 2.0, 1.0)  # a mini-race of 2 steps leaves 2 − t steps of return
    assert torch.allclose(batch.td.next_floats[:, 0], (time + n) * 0.05)
    assert torch.all(batch.td.discount == 0)  # every window reaches the end of the mini-race: terminal
    assert torch.allclose(batch.td.reward, torch.where(n == 2, 8.0 + 16.0, 8.0))
    assert torch.all(batch.td.mask)  # terminal, so usable even though the episode was cut off


def test_td_needs_an_rng() -> None:
    split = BCSplit.from_demos(hand_demos(), [0])
    td = TDSettings(n_steps=1, gamma=0.9, mini_race_steps=None, step_s=0.05, time_slice=slice(0, 1))
    with pytest.raises(ValueError, match="needs an rng"):
        make_batch(split, np.arange(2), device=CPU, images=False, td=td)


def test_frame_step_check_names_the_gap() -> None:
    check_frame_step(hand_demos(50), 50)
    with pytest.raises(ValueError, match=r"capture_every_steps 1.*\[100\] ms apart"):
        check_frame_step(hand_demos(100), 50)
