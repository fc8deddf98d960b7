"""The advantage spread of networks on demo frames, and the scale that puts an injected BC head on RL's."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.pretrain.conftest import bc_synthetic_demos
from typer.testing import CliRunner

from hairpin.cli import app
from hairpin.config.rl import RLConfig
from hairpin.errors import HairpinError
from hairpin.nets import IQNNetwork
from hairpin.rl.advantage_scale import advantage_spread, demo_inputs, injected_network, matching_scale
from hairpin.rl.collector import make_network
from hairpin.rl.inject import inject_pretrained
from hairpin.rl.trainer import Trainer
from hairpin.sim.race import float_layout

from .conftest import export_bc_run, tiny_config

Frames = tuple[torch.Tensor | None, torch.Tensor, np.ndarray]


@pytest.fixture
def frames(tiny: RLConfig) -> Frames:
    return demo_inputs(bc_synthetic_demos(), float_layout(tiny.env), frames=200, seed=0, images=False)


def _classifier_like(cfg: RLConfig, seed: int, gain: float) -> IQNNetwork:
    """A network whose A_head outputs ``gain`` times a fresh one's: logits far apart, as BC's are."""
    torch.manual_seed(seed)
    net = make_network(cfg)
    with torch.no_grad():
        net.A_head[-1].weight.mul_(gain)
        net.A_head[-1].bias.mul_(gain)
    return net


def test_demo_inputs_are_distinct_frames_at_mini_race_time_zero(tiny: RLConfig) -> None:
    demos = bc_synthetic_demos()
    layout = float_layout(tiny.env)
    img, floats, actions = demo_inputs(demos, layout, frames=50, seed=3, images=True)
    assert img is not None and img.shape == (50, *demos.images.shape[1:])
    assert torch.all(floats[:, layout.slices["mini_race_time"]] == 0)
    rows = {tuple(row) for row in floats.numpy().round(6)}
    assert len(rows) == 50  # drawn without replacement
    others = np.delete(np.arange(layout.size), layout.slices["mini_race_time"])
    match = [np.flatnonzero(np.all(np.isclose(demos.floats[:, others], f[others]), axis=1)) for f in floats.numpy()]
    assert all(len(m) == 1 and demos.actions[m[0]] == a for m, a in zip(match, actions, strict=True))


def test_the_matching_scale_gives_the_injected_head_the_reference_spread(
    tmp_path: Path, tiny: RLConfig, frames: Frames
) -> None:
    parts = ("float_head", "actions_head", "iqn_embedding")
    bc_dir = export_bc_run(tmp_path / "bc", _classifier_like(tiny, 1, 300.0), tiny, parts)
    reference = advantage_spread(_classifier_like(tiny, 2, 1.0), *frames)
    head = advantage_spread(injected_network(tiny, bc_dir), *frames)
    scale = matching_scale(reference, head)
    assert head.std > 50 * reference.std and scale < 0.02

    training = tiny.training.model_copy(
        update={
            "pretrain_float_head_path": str(bc_dir),
            "pretrain_actions_head_path": str(bc_dir),
            "pretrain_advantage_scale": scale,
        }
    )
    scaled = make_network(tiny)
    inject_pretrained(scaled, training, image_size=tiny.env.image_size, float_layout=float_layout(tiny.env))
    after = advantage_spread(scaled, *frames)
    assert after.std == pytest.approx(reference.std, rel=1e-4)
    assert after.agreement == head.agreement  # the greedy action of every frame is kept


def test_the_whole_network_is_measured_when_the_bc_run_exports_it(
    tmp_path: Path, tiny: RLConfig, frames: Frames
) -> None:
    source = _classifier_like(tiny, 4, 10.0)
    bc_dir = export_bc_run(tmp_path / "bc", source, tiny, ("actions_head", "iqn_embedding", "iqn_bc"))
    img, floats, _ = frames
    torch.manual_seed(0)
    expected = source.q_values(img, floats)
    torch.manual_seed(0)
    assert torch.equal(injected_network(tiny, bc_dir).q_values(img, floats), expected)


def test_a_bc_run_without_an_advantage_head_is_refused(tmp_path: Path, tiny: RLConfig) -> None:
    bc_dir = export_bc_run(tmp_path / "bc", make_network(tiny), tiny, ("float_head",))
    with pytest.raises(HairpinError, match=r"no A_head.*no whole network"):
        injected_network(tiny, bc_dir)


def test_the_command_prints_both_spreads_and_the_scale(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = tiny_config(tmp_path)
    bc_dir = export_bc_run(tmp_path / "bc", _classifier_like(base, 1, 300.0), base, ("actions_head", "iqn_embedding"))
    Trainer(tiny_config(tmp_path, run_name="trained")).run()
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    record = ["demos", "record", "--maps", str(tmp_path / "short.npy"), "--episodes", "1", "--out", "toy"]
    assert runner.invoke(app, record).exit_code == 0
    args = ["pretrain", "advantage-scale", str(bc_dir), "--rl", "trained", "--dataset", "toy", "--frames", "100"]
    result = runner.invoke(app, args, terminal_width=200)
    assert result.exit_code == 0, result.output
    assert "RL trained" in result.output and "BC bc injected" in result.output
    printed = float(re.search(r"pretrain_advantage_scale: (\S+)", result.output).group(1))  # type: ignore[union-attr]
    assert 0 < printed < 0.05  # a head 300× a fresh one's is far wider than a briefly trained network's

    missing = runner.invoke(app, [*args[:4], "nowhere", *args[5:]])
    assert missing.exit_code == 2 and "nowhere" in missing.output and "Traceback" not in missing.output
