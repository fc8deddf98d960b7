"""The Ray collector backend on a local Ray started by the test (skipped without the ``ray`` extra): every race
taken once and in sequence per collector life, collectors killed (SIGKILL and ``ray.kill``) and restarted with the
event logged, weights catching up, held collectors advancing nothing and dropping nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.rl.ray_learner import Learner, assert_each_life_gap_free, ray_config

from hairpin.rl.collector import make_network
from hairpin.rl.ray_collectors import RayCollectors

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def test_killed_collectors_are_restarted_and_every_race_is_taken_once(local_ray: None, tmp_path: Path) -> None:
    cfg = ray_config(tmp_path)
    collectors = RayCollectors(cfg, make_network(cfg), seed=0)
    learner = Learner(collectors)
    collectors.start()
    try:
        learner.until(lambda: all(learner.lives(c) for c in (0, 1)), "races from both collectors")
        pid = collectors.remotes[0].pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        learner.until(lambda: len(learner.lives(0)) == 2, "races from collector 0's second life")
        ray.kill(collectors.remotes[1].actor, no_restart=False)
        learner.until(lambda: len(learner.lives(1)) == 2, "races from collector 1's second life")
        learner.answered(1)
    finally:
        collectors.stop()
    restarts = [message for kind, message in learner.events if kind == "collector_restarted"]
    assert len(restarts) == 2 and "collector 0" in restarts[0] and "collector 1" in restarts[1]
    assert "at most 2" in restarts[0]  # its share of max_pending_races: what may be lost with it
    assert_each_life_gap_free(learner)


def test_weights_catch_up_and_held_collectors_advance_nothing(local_ray: None, tmp_path: Path) -> None:
    cfg = ray_config(tmp_path)
    net = make_network(cfg)
    collectors = RayCollectors(cfg, net, seed=0)
    learner = Learner(collectors)
    collectors.start()
    try:
        learner.until(lambda: len(learner.races) >= 4, "races")
        version = collectors.publish(net)
        learner.answered(2)
        assert [remote.held_version for remote in collectors.remotes] == [version, version]
        assert all(r.weights_version <= version for r in learner.races)

        collectors.set_may_run(False)
        learner.answered(2)  # the hold reaches every collector; what they had finished comes in
        held = len(learner.races)
        learner.answered(10)
        assert len(learner.races) == held
        collectors.set_may_run(True)
        learner.until(lambda: len(learner.races) >= held + 4, "races after the release")
        learner.until(lambda: learner.races[-1].weights_version == version, "a race driven with the new weights")
    finally:
        collectors.stop()
    assert_each_life_gap_free(learner)
    assert learner.events == []


def test_a_collector_that_fails_tells_the_learner_why(local_ray: None, tmp_path: Path) -> None:
    cfg = ray_config(tmp_path, **{"performance.gpu_collectors_count": 1})
    (tmp_path / "short.npy").unlink()  # the map the config named is gone when the collector opens it
    collectors = RayCollectors(cfg, make_network(cfg), seed=0)
    learner = Learner(collectors)
    collectors.start()
    try:
        learner.until(lambda: any(kind == "collector_failed" for kind, _ in learner.events), "failure report")
    finally:
        collectors.stop()
    message = next(message for kind, message in learner.events if kind == "collector_failed")
    assert "short.npy" in message and learner.races == []
