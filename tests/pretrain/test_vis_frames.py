"""Frame stacking: oldest first, the episode's first frame repeated at its start, never the previous episode."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from hairpin.data.arrays import DemoArrays
from hairpin.pretrain.vis_frames import FrameStacker, stack_indices


def test_stack_indices_by_hand() -> None:
    frames = np.array([0, 1, 2, 3, 4, 5])
    first = np.array([0, 0, 0, 3, 3, 3])  # episodes [0, 3) and [3, 6)
    expected = [[0, 0, 0], [0, 0, 1], [0, 1, 2], [3, 3, 3], [3, 3, 4], [3, 4, 5]]
    np.testing.assert_array_equal(stack_indices(frames, first, 3), expected)


@pytest.mark.parametrize("n_stack", [1, 2, 4])
def test_stacks_stay_inside_their_episode(vis_make_demos: Callable[..., DemoArrays], n_stack: int) -> None:
    demos = vis_make_demos(n_maps=2, episodes_per_map=2, frames_per_episode=6, pixel_is_row=True, size=8)
    stacker = FrameStacker(demos, n_stack)
    rows = np.arange(demos.n_frames)
    batch = stacker.batch(rows)
    assert batch.shape == (demos.n_frames, n_stack, 8, 8)
    assert batch.dtype == np.uint8
    source = batch[:, :, 0, 0].astype(np.int64)  # (T, n_stack) the row each channel came from
    first = demos.episode_starts[demos.episode]  # (T,)
    assert np.all(source[:, -1] == rows)  # the frame itself is the last channel
    assert np.all(source >= first[:, None])  # never a frame of the previous episode
    assert np.all(np.diff(source, axis=1) >= 0)  # oldest first
    expected = np.maximum(rows[:, None] - np.arange(n_stack - 1, -1, -1)[None, :], first[:, None])
    np.testing.assert_array_equal(source, expected)
    for start in demos.episode_starts[:-1]:  # at an episode's start: its first frame, repeated
        assert np.all(source[start] == start)


def test_stacker_reads_the_dataset_without_copying_it(vis_demos: DemoArrays) -> None:
    stacker = FrameStacker(vis_demos, 3)
    assert np.shares_memory(stacker.images, vis_demos.images)
    assert len(stacker) == vis_demos.n_frames


def test_multichannel_images_are_refused(vis_demos: DemoArrays) -> None:
    from dataclasses import replace

    two_channels = replace(vis_demos, images=np.repeat(vis_demos.images, 2, axis=1))
    with pytest.raises(ValueError, match=r"single-channel"):
        FrameStacker(two_channels, 2)
