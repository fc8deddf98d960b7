"""Injection of pretrained weights into a fresh RL network (DESIGN §5).

``training.pretrain_bc_heads_path`` (the whole network from a full-IQN bc run) is applied first; then
``pretrain_encoder_path`` (``img_head``), ``pretrain_float_head_path`` (``float_feature_extractor``) and
``pretrain_actions_head_path`` (``A_head``, with the τ embedding ``iqn_fc`` it was trained behind, from the same
run's ``iqn_fc.pt``: the head's inputs are then exactly those it learnt on) replace the parts they name.
Injection is strict and all-or-nothing: every artifact is read and checked before any weight is copied, and a
missing or mis-shaped tensor, an image normalisation, image size or float layout other than the RL network's is an
``InjectionError`` naming it and the config key. An encoder trained on stacked frames (``n_stack`` > 1) has its
first kernels summed into one channel, so that a single frame gets the response the stack of identical frames had.

The trainer applies it only when a run starts fresh (a resumed run keeps its trained weights) and records what was
loaded in run.json and TensorBoard.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hairpin.config.rl import TrainingConfig
from hairpin.errors import HairpinError
from hairpin.nets import IQNNetwork
from hairpin.nets.state_dict import compare_state_dict
from hairpin.obs import FloatLayout
from hairpin.pretrain.artifacts import ArtifactError, check_artifact_fits, read_artifact, single_frame_state

__all__ = ["INJECTION_KEYS", "Injected", "InjectionError", "inject_pretrained", "scale_advantages"]

INJECTION_KEYS = (
    ("pretrain_bc_heads_path", "iqn_bc", None),
    ("pretrain_encoder_path", "encoder", "img_head"),
    ("pretrain_float_head_path", "float_head", "float_feature_extractor"),
    ("pretrain_actions_head_path", "actions_head", "A_head"),
    ("pretrain_actions_head_path", "iqn_embedding", "iqn_fc"),
)
"""(training config key, artifact, network part or None for the whole network), in the order they are applied."""


class InjectionError(HairpinError, ValueError):
    """A pretrained artifact does not fit the RL network; nothing was loaded."""


@dataclass(frozen=True)
class Injected:
    """One artifact copied into the network, as recorded in run.json and TensorBoard."""

    key: str
    path: str
    artifact: str
    parts: list[str]
    tensors: int
    task: str
    best_epoch: int
    code_version: str
    stacked_channels_summed: int | None
    advantage_scale: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_shapes(key: str, target: nn.Module, state: dict[str, Tensor], what: str) -> None:
    diff = compare_state_dict(target, state)
    if not diff:
        return
    ours = target.state_dict()
    problems = [f"missing tensors {diff.missing}"] * bool(diff.missing)
    problems += [f"unexpected tensors {diff.unexpected}"] * bool(diff.unexpected)
    problems += [f"{k}: artifact {tuple(state[k].shape)}, network {tuple(ours[k].shape)}" for k in diff.mis_shaped]
    raise InjectionError(f"training.{key}: {what} does not fit the RL network: " + "; ".join(problems))


def inject_pretrained(
    net: IQNNetwork, cfg: TrainingConfig, *, image_size: int, float_layout: FloatLayout
) -> list[Injected]:
    """Copy every artifact the config names into ``net``; return what was loaded (empty when none is named)."""
    planned: list[tuple[nn.Module, dict[str, Tensor], Injected]] = []
    scale = cfg.pretrain_advantage_scale if cfg.pretrain_advantage_scale != 1.0 else None
    parts = net.parts()
    for key, artifact, part_name in INJECTION_KEYS:
        path = getattr(cfg, key)
        if path is None:
            continue
        if part_name is not None and part_name not in parts:
            raise InjectionError(f"training.{key}: the RL network has no {part_name} (is nn.vis.enabled false?)")
        if artifact == "iqn_embedding":
            path = Path(path).parent if Path(path).is_file() else Path(path)
        try:
            state, manifest = read_artifact(Path(path), artifact)
            check_artifact_fits(
                artifact, manifest, image_size=image_size, image_size_of="RL config (env.image_size)",
                float_layout=float_layout,
            )  # fmt: skip
        except ArtifactError as err:
            raise InjectionError(f"training.{key}: {err}") from err
        summed = None
        if artifact == "encoder":
            state, summed = single_frame_state(state, manifest)
        target = net if part_name is None else parts[part_name]
        parts_loaded = list(parts) if part_name is None else [part_name]
        _check_shapes(key, target, state, f"{artifact} from {path}")
        record = Injected(
            key=key,
            path=str(path),
            artifact=artifact,
            parts=parts_loaded,
            tensors=len(state),
            task=str(manifest.get("task")),
            best_epoch=int(manifest.get("best_epoch", -1)),
            code_version=str(manifest.get("code_version")),
            stacked_channels_summed=summed,
            advantage_scale=scale if "A_head" in parts_loaded else None,
        )
        planned.append((target, state, record))
    for target, state, _ in planned:
        target.load_state_dict(state, strict=True)
    if any(record.advantage_scale is not None for _, _, record in planned):
        scale_advantages(net, cfg.pretrain_advantage_scale)
    return [record for _, _, record in planned]


@torch.no_grad()
def scale_advantages(net: IQNNetwork, scale: float) -> None:
    """Multiply the output layer of ``A_head`` by ``scale``: every advantage scales, the greedy action stays."""
    output = net.A_head[-1]
    assert isinstance(output, nn.Linear)
    output.weight.mul_(scale)
    output.bias.mul_(scale)
