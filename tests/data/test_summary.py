from __future__ import annotations

import numpy as np

from hairpin.actions import N_ACTIONS
from hairpin.data.meta import DatasetMeta
from hairpin.data.store import load_actions
from hairpin.data.summary import summarise


def test_summary_counts_per_map_and_per_action(tiny_dataset: DatasetMeta) -> None:
    actions = load_actions(tiny_dataset)
    s = summarise(tiny_dataset, actions)
    assert (s.episodes, s.frames, s.finished) == (4, tiny_dataset.n_frames, 4)
    assert [m.map for m in s.maps] == ["gen-3", "gen-4"]
    assert sum(m.frames for m in s.maps) == s.frames and [m.episodes for m in s.maps] == [2, 2]
    gen3 = [e.race_time_ms for e in tiny_dataset.episodes if e.map == "gen-3"]
    assert s.maps[0].mean_finished_ms == np.mean(gen3)
    assert s.action_counts.shape == (N_ACTIONS,) and s.action_counts.sum() == s.frames
    assert s.action_counts[0] == np.count_nonzero(actions == 0)
    assert s.bytes_on_disk > s.frames * 32 * 32  # raw uint8 images, no JPEG
