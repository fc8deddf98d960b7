"""Config models of pretraining (``hairpin pretrain vis`` and ``hairpin pretrain bc``) and of demo recording.

Both pretraining stages read a demonstration dataset, split it by map (never by frame), train with early stopping
on the validation loss and export the best epoch's weights as artifacts (DESIGN §5). Their ``nn`` section is the RL
network's, so the parts they export fit the RL network exactly: keep it equal to the RL config's ``nn``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from hairpin.config.base import ConfigModel, NonEmptyStr, Seed
from hairpin.config.nn import NNConfig

__all__ = ["BCConfig", "DataConfig", "OptimLoopConfig", "PretrainPaths", "VisConfigPretrain"]


class DataConfig(ConfigModel):
    """Which demonstrations to read and how to hold some out."""

    dataset: str = Field(min_length=1)
    """A dataset name under ``root``, or a path to a dataset directory."""
    root: str = "datasets"
    """Directory of named datasets (relative to the current directory)."""
    validation_maps: list[NonEmptyStr] = []
    """Maps whose episodes form the validation split. Empty: the last ``validation_fraction`` of the dataset's
    maps in sorted order (at least one map; a dataset of a single map is refused)."""
    validation_fraction: float = Field(0.2, gt=0, lt=1)
    """Share of the maps held out when ``validation_maps`` is empty."""

    @field_validator("validation_maps")
    @classmethod
    def _distinct(cls, maps: list[str]) -> list[str]:
        repeated = sorted({name for name in maps if maps.count(name) > 1})
        if repeated:
            raise ValueError(f"names a map more than once: {', '.join(repeated)}")
        return maps


class OptimLoopConfig(ConfigModel):
    """Epochs, batches, optimiser and early stopping."""

    epochs: int = Field(10, ge=1)
    """Passes over the training split."""
    batch_size: int = Field(256, ge=1)
    """Samples per gradient step."""
    lr: float = Field(1e-3, gt=0)
    """Adam learning rate."""
    weight_decay: float = Field(0.0, ge=0)
    """Decoupled weight decay (AdamW)."""
    early_stop_patience: int = Field(3, ge=1)
    """Stop after this many epochs without a lower validation loss; the best epoch is exported."""
    max_minutes: float | None = Field(None, gt=0)
    """Stop after the epoch that passes this much wall time (None: no limit)."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """auto: CUDA when present, else CPU."""
    threads: int = Field(1, ge=1)
    """torch threads on CPU."""


class PretrainPaths(ConfigModel):
    """Where pretraining runs are written."""

    runs: NonEmptyStr = "runs/pretrain"
    """Parent of ``<run_name>/`` (artifacts, manifest, metrics.csv, config.yaml)."""
    tensorboard: NonEmptyStr = "tensorboard/pretrain"
    """Parent of the TensorBoard directory ``<run_name>/``."""


class _PretrainBase(ConfigModel):
    run_name: str = Field(min_length=1)
    """Name of the run directory under ``paths.runs``."""
    seed: Seed = 0
    """Seeds torch and numpy; the same seed and dataset give the same weights on the same machine."""
    paths: PretrainPaths = PretrainPaths()
    data: DataConfig
    train: OptimLoopConfig = OptimLoopConfig()
    nn: NNConfig = NNConfig()
    """The RL network's config: the exported parts are built from it."""


class VisConfigPretrain(_PretrainBase):
    """``hairpin pretrain vis``: train ``img_head`` as an encoder without labels."""

    task: Literal["ae", "vae", "simclr"] = "ae"
    """ae: autoencoder; vae: variational autoencoder; simclr: contrastive views of one frame (Chen et al. 2020)."""
    image_size: int = Field(64, ge=16)
    """Side of the square frames; must equal the dataset's."""
    n_stack: int = Field(1, ge=1)
    """Consecutive frames of one episode stacked as channels. At injection the first convolution's kernels are
    summed over the stacked channels into one, so the encoder answers a single frame at the same scale."""
    vae_beta: float = Field(1.0, gt=0)
    """Weight of the KL term of the VAE (β-VAE)."""
    latent_dim: int = Field(128, ge=1)
    """Width of the VAE's latent and the SimCLR projection."""
    simclr_temperature: float = Field(0.1, gt=0)
    """Temperature of the NT-Xent loss."""
    recon_grid_images: int = Field(16, ge=1)
    """Validation frames shown in ``reconstructions.png`` (ae and vae)."""

    @model_validator(mode="after")
    def _images_fit_the_encoder(self) -> VisConfigPretrain:
        too_small = self.nn.vis.image_too_small(self.image_size)
        if too_small is not None:
            raise ValueError(too_small)
        return self


class BCConfig(_PretrainBase):
    """``hairpin pretrain bc``: behavioural cloning of the demonstrations' actions."""

    encoder_init_path: NonEmptyStr | None = None
    """Start ``img_head`` from this artifact (a vis or bc run directory, or an ``encoder.pt`` beside its manifest)."""
    bc_mode: Literal["backbone", "heads"] = "heads"
    """backbone: export only the encoder; heads: export the encoder and the heads that apply."""
    bc_time_offsets_ms: list[int] = [0]
    """One classification head per offset: the action this many ms after the frame, read from the 10 ms timeline;
    labels outside the frame's episode are masked. Multiples of 10; must include 0 when a head is exported."""
    use_floats: bool = True
    """Feed the float vector through ``float_feature_extractor`` (and export ``float_head.pt``)."""
    use_actions_head: bool = True
    """Heads shaped exactly like the RL ``A_head`` on the RL feature path (image and float features modulated by
    the τ embedding); the 0 ms one is exported as ``actions_head.pt``. False: plain linear heads on the features."""
    use_full_iqn: bool = False
    """Train the whole ``IQNNetwork`` (export ``iqn_bc.pt``): cross-entropy on the offset heads plus a large-margin
    loss on Q (DQfD), optionally with n-step TD on the demonstrations' rewards."""
    dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout on the features before the heads."""
    action_head_dropout: float = Field(0.0, ge=0, lt=1)
    """Dropout inside each head, after its hidden layer."""
    n_taus: int = Field(8, ge=1)
    """τ samples per frame for the quantile-modulated heads."""
    margin: float = Field(0.8, ge=0)
    """Large-margin loss: Q of the demonstrated action must exceed every other action's Q by this much."""
    margin_weight: float = Field(1.0, ge=0)
    """Weight of the margin loss (full IQN)."""
    td_weight: float = Field(0.0, ge=0)
    """Weight of n-step TD on the demonstrations' rewards (full IQN); 0 turns it off. TD is trained on but left
    out of the early-stopping loss (cross-entropy + margin): its targets move as Q spreads along the episodes."""
    td_n_steps: int = Field(3, ge=1)
    """n of the TD target."""
    gamma: float = Field(0.999, gt=0, le=1)
    """Discount of the TD target."""

    @model_validator(mode="after")
    def _offsets(self) -> BCConfig:
        offsets = self.bc_time_offsets_ms
        if not offsets or len(set(offsets)) != len(offsets) or any(o % 10 for o in offsets):
            raise ValueError(f"bc_time_offsets_ms must be distinct multiples of 10, got {offsets}")
        exports_head = self.bc_mode == "heads" and (self.use_actions_head or self.use_full_iqn)
        if exports_head and 0 not in offsets:
            raise ValueError("bc_time_offsets_ms must include 0: the 0 ms head is the one exported as the A_head")
        if self.use_full_iqn and not self.use_actions_head:
            raise ValueError("use_full_iqn needs use_actions_head: the IQN's A_head is the 0 ms head")
        return self
