"""The CI learning check: a float-only agent learns to finish a short map within a fixed frame budget."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.rl.conftest import tiny_config

from hairpin.rl.trainer import Trainer


@pytest.mark.slow
def test_float_only_agent_finishes_the_short_map(tmp_path: Path) -> None:
    cfg = tiny_config(
        tmp_path,
        **{
            "training.max_frames": 150_000,
            "training.early_stop_minutes": None,
            "nn.floats.hidden": 128,
            "nn.decoder.advantage.hidden": 128,
            "nn.decoder.value.hidden": 128,
            "iqn.batch_size": 256,
            "memory.memory_size_schedule": [[0, 50_000]],
            "memory.memory_min_size": 2000,
            "memory.number_times_single_memory_is_used_before_discard": 32,
            "performance.cars_per_collector": 8,
            "exploration.epsilon_schedule": {
                "points": [[0, 1.0], [30_000, 0.1], [100_000, 0.03]],
                "mode": "exponential",
            },
            "training.checkpoint_every_minutes": 5,
        },
    )
    finished_at: list[int] = []

    def stop_at_first_eval_finish(status) -> None:  # type: ignore[no-untyped-def]
        tally = status.race_log.tallies.get(("short", "eval"))
        if tally is not None and tally.finished and not finished_at:
            finished_at.append(status.frames)
            status.stop_reason = "first eval finish"

    status = Trainer(cfg).run(on_status=stop_at_first_eval_finish)
    assert finished_at, f"no eval race finished in {status.frames} frames"
    assert status.race_log.tallies[("short", "eval")].best_ms < 20_000  # always-accelerate scrapes home in 9.8 s
