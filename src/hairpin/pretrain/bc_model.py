"""The behavioural-cloning model: the RL ``IQNNetwork``'s own parts plus one classification head per time offset,
so that what BC trains is exactly what RL loads.

Feature path (DESIGN §4): features (B, D) = [img_head(image), float_feature_extractor(floats)], then
- ``use_actions_head``: x = features ⊙ LeakyReLU(iqn_fc(cos(π·i·τ))) (B, N, D), and each head, shaped like the RL
  ``A_head`` (Linear → LeakyReLU → Linear), maps x to (B, N, A) logits, averaged over the N τ samples. The 0 ms head
  *is* ``net.A_head``, so ``actions_head.pt`` is its state dict and loads into RL unchanged.
- otherwise: a plain Linear(D, A) per offset on the features.
With ``use_full_iqn`` the network's ``V_head`` is trained too and Q_τ = V_τ + A_τ − mean_a A_τ, with A_τ the 0 ms
head's output, exactly as ``IQNNetwork.forward`` computes it.

``use_floats: false`` replaces the float features by zeros of the same width Df, so D and every exported shape stay
those of the RL network; such an A_head has never seen float features, and RL feeds it real ones after injection.
``dropout`` acts on the features; ``action_head_dropout`` acts inside the offset heads, after the hidden
LeakyReLU, applied between the head's layers at call time so the head keeps the RL ``A_head`` keys
(``0.weight, 0.bias, 2.weight, 2.bias``). ``V_head`` has no dropout.

``nn.*.freeze`` and ``lr_mult`` are RL settings (the ``nn`` section is copied from the RL config); BC trains every
part it uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional

from hairpin.config.pretrain import BCConfig
from hairpin.nets.iqn import IQNNetwork
from hairpin.nets.parts import cosine_embedding, dueling_head
from hairpin.nets.state_dict import compare_state_dict
from hairpin.obs import FloatLayout
from hairpin.pretrain.artifacts import ArtifactError, check_artifact_fits, read_artifact, single_frame_state
from hairpin.pretrain.run import PretrainRunError

__all__ = ["BCModel", "BCOutput", "check_bc_config", "load_encoder_init", "load_strict"]


class BCOutput(NamedTuple):
    """What the model predicts for a batch."""

    logits: Tensor  # (B, O, A) action logits of each offset head
    quantiles: Tensor | None  # (B, N, A) Z_τ(s, a) of the full IQN, None otherwise


def check_bc_config(cfg: BCConfig) -> None:
    """Refuse settings that leave nothing to learn or to export, or that would export weights RL cannot use."""
    vis = cfg.nn.vis.enabled
    if not vis and not cfg.use_floats:
        raise PretrainRunError(
            "bc: nn.vis.enabled and use_floats are both false, so the model has no input to learn from"
        )
    if not vis and cfg.bc_mode == "backbone":
        raise PretrainRunError("bc_mode 'backbone' exports only img_head, but nn.vis.enabled is false")
    if not vis and cfg.encoder_init_path is not None:
        raise PretrainRunError(f"encoder_init_path {cfg.encoder_init_path} is set but nn.vis.enabled is false")
    if cfg.use_full_iqn and not cfg.use_floats:
        raise PretrainRunError(
            "use_full_iqn exports the whole network, which RL runs with its floats; a network trained with "
            "use_floats: false has an untrained float_feature_extractor. Set use_floats: true"
        )


class BCModel(nn.Module):
    """An ``IQNNetwork`` and one action head per offset of ``cfg.bc_time_offsets_ms``."""

    def __init__(self, cfg: BCConfig, *, image_size: int, float_layout: FloatLayout) -> None:
        super().__init__()
        check_bc_config(cfg)
        self.cfg = cfg
        self.net = IQNNetwork(cfg.nn, image_size=image_size, float_layout=float_layout)
        self.offsets_ms = tuple(cfg.bc_time_offsets_ms)
        width, n_actions = self.net.feature_width, self.net.n_actions
        self.float_width = cfg.nn.floats.hidden  # Df, the last columns of the features
        extra: dict[str, nn.Module] = {}
        for i, offset in enumerate(self.offsets_ms):
            if cfg.use_actions_head and offset == 0:
                continue  # the network's own A_head
            extra[f"offset_{i}"] = (
                dueling_head(width, cfg.nn.decoder.advantage, n_actions, cfg.nn.leaky_relu_slope)
                if cfg.use_actions_head
                else nn.Linear(width, n_actions)
            )
        self.extra_heads = nn.ModuleDict(extra)
        self.feature_dropout = nn.Dropout(cfg.dropout)
        self.head_dropout = nn.Dropout(cfg.action_head_dropout)

    def heads(self) -> list[nn.Module]:
        """The head of each offset, in ``offsets_ms`` order (``net.A_head`` for 0 ms with ``use_actions_head``)."""
        return [
            self.net.A_head if self.cfg.use_actions_head and offset == 0 else self.extra_heads[f"offset_{i}"]
            for i, offset in enumerate(self.offsets_ms)
        ]

    def features(self, img: Tensor | None, floats: Tensor) -> Tensor:
        """The network's features (B, D), float columns zeroed when ``use_floats`` is false, before dropout."""
        features = self.net.features(img, floats)  # (B, D)
        if self.cfg.use_floats:
            return features
        zeros = features.new_zeros(features.shape[0], self.float_width)  # (B, Df)
        return torch.cat([features[:, : -self.float_width], zeros], dim=1)  # (B, D)

    def _run_head(self, head: nn.Module, x: Tensor) -> Tensor:
        if isinstance(head, nn.Sequential):  # Linear → LeakyReLU → Linear, dropout between at call time
            return head[2](self.head_dropout(head[1](head[0](x))))
        return head(x)

    def forward(self, img: Tensor | None, floats: Tensor, taus: Tensor) -> BCOutput:
        """img (B, 1, H, W) uint8 or None, floats (B, F), taus (B, N) → logits (B, O, A) and quantiles (B, N, A)."""
        features = self.feature_dropout(self.features(img, floats))  # (B, D)
        if not self.cfg.use_actions_head:
            return BCOutput(torch.stack([head(features) for head in self.heads()], dim=1), None)  # (B, O, A)
        cosines = cosine_embedding(taus, self.net.embedding_dim)  # (B, N, E)
        x = features[:, None, :] * functional.leaky_relu(self.net.iqn_fc(cosines), self.net.slope)  # (B, N, D)
        per_offset, advantage = [], None
        for offset, head in zip(self.offsets_ms, self.heads(), strict=True):
            out = self._run_head(head, x)  # (B, N, A)
            if offset == 0:
                advantage = out
            per_offset.append(out.mean(dim=1))  # (B, A)
        logits = torch.stack(per_offset, dim=1)  # (B, O, A)
        if not self.cfg.use_full_iqn:
            return BCOutput(logits, None)
        assert advantage is not None  # use_full_iqn implies a 0 ms offset (BCConfig)
        value = self.net.V_head(x)  # (B, N, 1)
        return BCOutput(logits, value + advantage - advantage.mean(dim=2, keepdim=True))  # (B, N, A)

    def artifact_states(self) -> dict[str, dict[str, Tensor]]:
        """Artifact name → state dict to export (not copies): ``backbone`` the encoder; ``heads`` every part that
        applies: encoder (with an image), actions_head and the iqn_embedding behind it (``use_actions_head``),
        float_head (``use_floats``), iqn_bc (``use_full_iqn``)."""
        cfg, net = self.cfg, self.net
        states: dict[str, dict[str, Tensor]] = {}
        if net.img_head is not None:
            states["encoder"] = net.img_head.state_dict()
        if cfg.bc_mode == "backbone":
            return states
        if cfg.use_actions_head and 0 in self.offsets_ms:
            states["actions_head"] = net.A_head.state_dict()
            states["iqn_embedding"] = net.iqn_fc.state_dict()  # the head's input: injected with it
        if cfg.use_floats:
            states["float_head"] = net.float_feature_extractor.state_dict()
        if cfg.use_full_iqn:
            states["iqn_bc"] = net.state_dict()
        return states


def load_strict(module: nn.Module, state: dict[str, Tensor], what: str) -> None:
    """Load ``state`` into ``module`` only if every key is present and every shape equal; else name the tensors."""
    diff = compare_state_dict(module, state)
    if diff:
        ours = module.state_dict()
        wrong = [f"{k}: {tuple(state[k].shape)} in {what}, {tuple(ours[k].shape)} expected" for k in diff.mis_shaped]
        raise ArtifactError(
            f"{what} does not fit: missing {diff.missing}, unexpected {diff.unexpected}, shapes {wrong}"
        )
    module.load_state_dict(state, strict=True)


def load_encoder_init(net: IQNNetwork, path: str | Path, image_size: int) -> dict[str, Any]:
    """Copy the ``encoder`` artifact at ``path`` into ``net.img_head``; return its manifest.

    The artifact must normalise images as the network does and be trained at ``image_size``. An encoder trained on
    stacked frames has its first kernels summed over the input channels (``single_frame_state``), so a single
    frame gets the response the stack of identical frames had.
    """
    if net.img_head is None:
        raise ArtifactError(f"encoder_init_path {path}: the network has no img_head (nn.vis.enabled is false)")
    try:
        state, manifest = read_artifact(path, "encoder")
        check_artifact_fits("encoder", manifest, image_size=image_size, image_size_of="dataset")
        state, _ = single_frame_state(state, manifest)
        load_strict(net.img_head, state, f"encoder from {path}")
    except ArtifactError as err:
        raise ArtifactError(f"encoder_init_path {path}: {err}") from err
    return manifest
