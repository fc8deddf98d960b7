"""The CI learning check: a float-only agent learns to finish a short map reliably within a fixed frame budget,
with collectors on this machine and, when the ``ray`` extra is installed, as Ray actors."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.rl.conftest import tiny_config

from hairpin.rl.trainer import Trainer


@pytest.mark.slow
@pytest.mark.parametrize("collectors", ["local", pytest.param("ray", marks=pytest.mark.extended)])
def test_float_only_agent_finishes_the_short_map(
    tmp_path: Path, collectors: str, request: pytest.FixtureRequest
) -> None:
    if collectors == "ray":
        ray = pytest.importorskip("ray")
        request.addfinalizer(ray.shutdown)  # the run started a Ray of its own
    cfg = tiny_config(
        tmp_path,
        **{
            "performance.collectors": collectors,
            "training.max_frames": 250_000,
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
            "memory.shaping_mini_race_time": True,  # as cpu.yaml
        },
    )
    learned_at: list[int] = []

    def stop_when_eval_races_finish(status) -> None:  # type: ignore[no-untyped-def]
        tally = status.race_log.tallies.get(("short", "eval"))
        if tally is not None and sum(list(tally.recent)[-5:]) >= 4 and not learned_at:
            learned_at.append(status.frames)
            status.stop_reason = "4 of the last 5 eval races finished"

    trainer = Trainer(cfg)
    status = trainer.run(on_status=stop_when_eval_races_finish)
    assert learned_at, f"eval races did not finish reliably within {status.frames} frames"
    assert trainer.collectors is not None
    ledger = trainer.collectors.ledger  # the learner's frames are the sum of the races it took, each once
    assert status.frames == ledger.frames and ledger.duplicates == 0 and ledger.missing == 0
