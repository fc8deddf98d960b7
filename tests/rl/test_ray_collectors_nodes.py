"""Ray collectors on two Ray nodes of one machine (``ray.cluster_utils.Cluster``): a collector whose node is removed
comes back, as a new life, on a node added later (skipped without the ``ray`` extra)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.rl.ray_learner import Learner, assert_each_life_gap_free, ray_config

from hairpin.rl.collector import make_network
from hairpin.rl.ray_collectors import RayCollectors

ray = pytest.importorskip("ray")


def test_a_collector_whose_node_is_removed_comes_back_on_a_new_node(tmp_path: Path) -> None:
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})  # collectors go on worker nodes only
    node = cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False, configure_logging=False)
    cfg = ray_config(tmp_path, **{"performance.gpu_collectors_count": 1})
    collectors = RayCollectors(cfg, make_network(cfg), seed=0)
    learner = Learner(collectors)
    try:
        collectors.start()
        learner.until(lambda: len(learner.races) >= 2, "races on the first node")
        cluster.remove_node(node)
        cluster.add_node(num_cpus=1)
        learner.until(lambda: len(learner.lives(0)) == 2, "races from the collector's second life")
        learner.answered(1)
        collectors.stop()
    finally:
        ray.shutdown()
        cluster.shutdown()
    restarts = [message for kind, message in learner.events if kind == "collector_restarted"]
    assert len(restarts) == 1 and "life 2" in restarts[0]
    assert_each_life_gap_free(learner)
