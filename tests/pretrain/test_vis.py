"""``run_vis`` end to end on tiny synthetic datasets: learning, export, the RL network's view of the encoder."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from hairpin.config.pretrain import VisConfigPretrain
from hairpin.data.arrays import DemoArrays
from hairpin.nets.iqn import IQNNetwork, normalise_image
from hairpin.obs import FloatLayout
from hairpin.pretrain.artifacts import read_artifact
from hairpin.pretrain.run import PretrainRun, PretrainRunError, split_demos
from hairpin.pretrain.vis import RECONSTRUCTIONS_NAME, VisTrainer, check_image_size, run_vis

ConfigFactory = Callable[..., VisConfigPretrain]


def metrics(run_dir: Path) -> list[dict[str, str]]:
    with (run_dir / "metrics.csv").open() as f:
        return list(csv.DictReader(f))


def img_head_shapes(cfg: VisConfigPretrain) -> dict[str, tuple[int, ...]]:
    net = IQNNetwork(cfg.nn, image_size=cfg.image_size, float_layout=FloatLayout(), in_channels=cfg.n_stack)
    return {k: tuple(v.shape) for k, v in net.img_head.state_dict().items()}  # type: ignore[union-attr]


def test_autoencoder_lowers_its_validation_loss(vis_make_config: ConfigFactory, vis_demos: DemoArrays) -> None:
    cfg = vis_make_config(task="ae", train={"epochs": 6, "early_stop_patience": 6})
    manifest = run_vis(cfg, demos=vis_demos)
    run_dir = Path(cfg.paths.runs) / cfg.run_name
    rows = metrics(run_dir)
    assert len(rows) == 6
    val = [float(r["val_loss"]) for r in rows]
    assert val[-1] < 0.5 * val[0], val
    assert {"train_loss", "val_loss"} <= set(rows[0])
    assert list(manifest["files"]) == ["encoder"]
    assert manifest["best_epoch"] == int(np.argmin(val)) + 1  # epochs count from 1
    assert (run_dir / RECONSTRUCTIONS_NAME).is_file()
    state, _ = read_artifact(run_dir, "encoder")
    assert {k: tuple(v.shape) for k, v in state.items()} == img_head_shapes(cfg)


@pytest.mark.parametrize(("task", "n_stack"), [("vae", 1), ("simclr", 2)])
def test_vae_and_simclr_export_an_img_head(
    vis_make_config: ConfigFactory, vis_demos: DemoArrays, task: str, n_stack: int
) -> None:
    cfg = vis_make_config(task=task, n_stack=n_stack)
    manifest = run_vis(cfg, demos=vis_demos)
    run_dir = Path(cfg.paths.runs) / cfg.run_name
    state, read_back = read_artifact(run_dir, "encoder")
    assert {k: tuple(v.shape) for k, v in state.items()} == img_head_shapes(cfg)
    assert list(manifest["files"]) == ["encoder"]
    assert read_back["task"] == task and read_back["n_stack"] == n_stack and read_back["image_size"] == 32
    row = metrics(run_dir)[0]
    assert all(np.isfinite(float(row[k])) for k in ("train_loss", "val_loss"))
    if task == "vae":
        assert float(row["recon_mse"]) > 0 and float(row["kl"]) >= 0
        assert float(row["val_loss"]) == pytest.approx(
            float(row["recon_mse"]) + cfg.vae_beta * float(row["kl"]) / (32 * 32), rel=1e-4
        )
        assert (run_dir / RECONSTRUCTIONS_NAME).is_file()
    else:
        assert not (run_dir / RECONSTRUCTIONS_NAME).exists()


def test_exported_encoder_gives_the_trained_features_in_the_rl_network(
    vis_make_config: ConfigFactory, vis_demos: DemoArrays
) -> None:
    cfg = vis_make_config(task="ae", n_stack=2)
    train, val = split_demos(vis_demos, cfg.data)
    trainer = VisTrainer(cfg, train, val, device=torch.device("cpu"))
    trainer.train_epoch(np.random.default_rng(0))
    run = PretrainRun(cfg)
    run.epoch_done(0, {"val_loss": trainer.evaluate()["loss"]}, {"encoder": trainer.model.encoder.state_dict()})
    run.export(task="ae", image_size=32, n_stack=2, float_layout=None)
    state, _ = read_artifact(run.dir, "encoder")
    net = IQNNetwork(cfg.nn, image_size=32, float_layout=FloatLayout(), in_channels=2)
    assert net.img_head is not None
    net.img_head.load_state_dict(state, strict=True)
    img = trainer.batch(np.arange(10), "val")  # (10, 2, 32, 32) uint8
    floats = torch.from_numpy(np.tile(FloatLayout().mean, (10, 1)))
    with torch.no_grad():
        trained = trainer.model.encoder(normalise_image(img))  # (10, Di)
        in_rl = net.features(img, floats)[:, : trained.shape[1]]  # image part of (10, D)
    torch.testing.assert_close(in_rl, trained, rtol=0, atol=0)


def test_image_size_mismatch_names_both_sizes(vis_make_config: ConfigFactory, vis_demos: DemoArrays) -> None:
    cfg = vis_make_config(image_size=48)
    with pytest.raises(ValueError, match=r"32×32 px.*image_size is 48"):
        run_vis(cfg, demos=vis_demos)
    assert not (Path(cfg.paths.runs) / cfg.run_name).exists()
    check_image_size(vis_demos, 32)  # the right size passes


def test_same_seed_same_encoder(vis_make_config: ConfigFactory, vis_demos: DemoArrays) -> None:
    a = vis_make_config(task="simclr", run_name="a")
    b = vis_make_config(task="simclr", run_name="b")
    run_vis(a, demos=vis_demos)
    run_vis(b, demos=vis_demos)
    state_a, _ = read_artifact(Path(a.paths.runs) / "a", "encoder")
    state_b, _ = read_artifact(Path(b.paths.runs) / "b", "encoder")
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)


def test_a_passed_deadline_ends_the_epoch_after_one_batch(
    vis_make_config: ConfigFactory, vis_demos: DemoArrays
) -> None:
    cfg = vis_make_config()
    train, val = split_demos(vis_demos, cfg.data)
    trainer = VisTrainer(cfg, train, val, device=torch.device("cpu"))
    done: list[int] = []
    trainer.train_epoch(np.random.default_rng(0), deadline=0.0, on_batch=lambda: done.append(1))
    assert len(done) == 1 < trainer.n_batches()


def test_batch_is_uint8_stacked_frames(vis_make_config: ConfigFactory, vis_demos: DemoArrays) -> None:
    cfg = vis_make_config(n_stack=3)
    train, val = split_demos(vis_demos, cfg.data)
    trainer = VisTrainer(cfg, train, val, device=torch.device("cpu"))
    img = trainer.batch(np.array([0, 5, 7]))
    assert img.shape == (3, 3, 32, 32) and img.dtype == torch.uint8
    np.testing.assert_array_equal(img[1, -1].numpy(), train.images[5, 0])


def test_manifest_is_json_with_the_resolved_config(vis_make_config: ConfigFactory, vis_demos: DemoArrays) -> None:
    cfg = vis_make_config(task="ae")
    run_vis(cfg, demos=vis_demos)
    manifest = json.loads((Path(cfg.paths.runs) / cfg.run_name / "manifest.json").read_text())
    assert manifest["config"]["task"] == "ae" and manifest["float_layout"] is None


def test_a_stored_dataset_of_another_size_is_refused(
    vis_make_config: ConfigFactory, vis_demos: DemoArrays, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    from hairpin.data import store

    asked: list[tuple[str, str]] = []

    def fake_load(name: str, root: str) -> tuple[DemoArrays, object]:
        asked.append((name, root))
        return vis_demos, SimpleNamespace(name=name, image_size=32)

    monkeypatch.setattr(store, "load_demos", fake_load)
    cfg = vis_make_config(image_size=48, data={"dataset": "demo32", "root": "somewhere"})
    with pytest.raises(store.DatasetError, match=r"images are 32 px, expected 48 px"):
        run_vis(cfg)
    assert asked == [("demo32", "somewhere")]
    run_vis(vis_make_config())  # the right size loads through the same path and trains


def test_a_loss_that_is_never_finite_is_an_error(vis_make_config: ConfigFactory, vis_demos: DemoArrays) -> None:
    cfg = vis_make_config(train={"lr": 1e30, "epochs": 2})
    with pytest.raises(PretrainRunError, match=r"never finite"):
        run_vis(cfg, demos=vis_demos)
