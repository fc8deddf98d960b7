"""The study file (DESIGN §1, issue 10): one YAML that names the pretraining stages, the RL variants, the seeds, the
matched budget and the questions of one experiment.

``load_study(path)`` validates it as pydantic models (unknown keys are errors naming the key and the file), then
checks what a schema cannot: every config file exists, every stage or variant a key names exists and is of a kind
that can be used there, and no chain of inputs (``dataset``, ``encoder_init``, ``inject``, ``init_from``) loops
back on itself. Everything is refused here, before anything runs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, field_validator, model_validator

from hairpin.config.base import ConfigModel, NonEmptyStr, Seed
from hairpin.config.loader import ConfigError, load_config

__all__ = [
    "INJECT_KEYS",
    "METRICS",
    "PART_KEYS",
    "Budget",
    "DemosArgs",
    "EvalSpec",
    "InitFrom",
    "InjectSpec",
    "PartSettings",
    "Question",
    "StageSpec",
    "StudyError",
    "StudySpec",
    "VariantSpec",
    "load_study",
]

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
"""Stage, variant and study names: they become directory and run names (``<variant>-s<seed>``)."""

INJECT_KEYS = {
    "encoder": "training.pretrain_encoder_path",
    "float_head": "training.pretrain_float_head_path",
    "actions_head": "training.pretrain_actions_head_path",
    "network": "training.pretrain_bc_heads_path",
}
"""``inject`` key → the RL config key that loads that artifact (DESIGN §5)."""

PART_KEYS = {
    "vis": "nn.vis",
    "floats": "nn.floats",
    "iqn": "nn.iqn",
    "advantage": "nn.decoder.advantage",
    "value": "nn.decoder.value",
}
"""``parts`` key → the RL config section of that network part (DESIGN §4)."""

METRICS = {
    "best_s": True,
    "mean_s": True,
    "median_s": True,
    "best_to_limit": True,
    "first_finish": True,
    "best_progress": False,
    "finish_rate": False,
    "window_finish_rate": False,
    "loss": True,
    "loss_test": True,
}
"""Question metrics by name → whether lower is better (their default ``lower_is_better``). A TensorBoard tag
(a name holding ``/``, e.g. ``RL/avg_Q_trained_sprint``) is accepted too, lower is better unless the question says
otherwise."""


class StudyError(ConfigError):
    """A study file that cannot run: a missing config, an unknown stage or variant, a cycle; names key and file."""


class DemosArgs(ConfigModel):
    """Options of ``hairpin demos record`` (None: the command's default)."""

    maps: NonEmptyStr | list[NonEmptyStr]
    """Built-in maps or reference-line files, a comma-separated string or a list."""
    generated: int | None = Field(None, ge=0)
    """Add this many maps from the block generator."""
    generator_seed: int | None = None
    """Seed of the first generated map."""
    generated_blocks: int | None = Field(None, ge=3)
    """Blocks per generated map."""
    episodes: int | None = Field(None, ge=1)
    """Episodes per map."""
    noise: float | None = Field(None, ge=0, le=1)
    """Expert noise."""
    driver: Literal["expert", "line"] | None = None
    """Who drives: the centre-line expert or the racing line."""
    image_size: int | None = Field(None, ge=16)
    """Image size of the recorded frames."""
    capture_every_steps: int | None = Field(None, ge=1)
    """Keep a frame every this many steps."""
    seed: int | None = None
    """Seed of the recording."""
    cars: int | None = Field(None, ge=1)
    """Cars driven at once."""

    def map_list(self) -> list[str]:
        """The maps as a list of names."""
        names = self.maps.split(",") if isinstance(self.maps, str) else self.maps
        return [name.strip() for name in names if name.strip()]


class StageSpec(ConfigModel):
    """One pretraining step: ``demos`` (recorded, or an existing dataset), ``vis`` or ``bc``."""

    kind: Literal["demos", "vis", "bc"]
    """demos: a demonstration dataset; vis: visual pretraining; bc: behavioural cloning."""
    config: NonEmptyStr | None = None
    """Config file, relative to the study file: the pretraining YAML (vis, bc; required) or the ``sim drive`` YAML
    of the recording (demos; optional)."""
    set: dict[str, Any] = {}
    """Overrides of the config, ``{dotted.key: value}`` as ``--set`` takes them."""
    dataset: NonEmptyStr | None = None
    """vis, bc: the demos stage whose dataset they train on. demos: the directory of an existing dataset (relative
    to the study file) used instead of recording one."""
    args: DemosArgs | None = None
    """demos: record a dataset with these ``demos record`` options."""
    encoder_init: NonEmptyStr | None = None
    """bc: the vis or bc stage whose encoder starts ``img_head``."""

    @model_validator(mode="after")
    def _keys_of_its_kind(self) -> StageSpec:
        if self.kind == "demos":
            if (self.args is None) == (self.dataset is None):
                raise ValueError("a demos stage needs exactly one of args (record a dataset) or dataset (a PATH)")
            if self.encoder_init is not None:
                raise ValueError("encoder_init applies to bc stages only")
            if self.dataset is not None and (self.config is not None or self.set):
                raise ValueError("a demos stage with an existing dataset takes no config or set")
            return self
        if self.config is None:
            raise ValueError(f"a {self.kind} stage needs config (its pretraining YAML)")
        if self.dataset is None:
            raise ValueError(f"a {self.kind} stage needs dataset (the demos stage it trains on)")
        if self.args is not None:
            raise ValueError("args applies to demos stages only")
        if self.kind == "vis" and self.encoder_init is not None:
            raise ValueError("encoder_init applies to bc stages only")
        return self


class InjectSpec(ConfigModel):
    """Pretrained artifacts a variant's runs start with, each the name of a stage that exported it."""

    encoder: NonEmptyStr | None = None
    """``img_head`` from a vis or bc stage."""
    float_head: NonEmptyStr | None = None
    """``float_feature_extractor`` from a bc stage."""
    actions_head: NonEmptyStr | None = None
    """The 0 ms ``A_head`` (and the τ embedding behind it) from a bc stage."""
    network: NonEmptyStr | None = None
    """The whole IQN network from a full-IQN bc stage (applied first; the keys above replace their parts)."""

    def items(self) -> Iterator[tuple[str, str]]:
        """(inject key, stage name) of every artifact named."""
        for key in INJECT_KEYS:
            stage = getattr(self, key)
            if stage is not None:
                yield key, stage


class PartSettings(ConfigModel):
    """How one network part trains in a variant (None: as the variant's config says)."""

    freeze: bool | None = None
    """Never trained."""
    lr_mult: float | None = Field(None, ge=0)
    """Learning-rate multiplier."""
    frozen_until_frames: int | None = Field(None, ge=0)
    """Frozen until this many frames, then trained."""


class InitFrom(ConfigModel):
    """Start each run from another variant's run of the same seed."""

    variant: NonEmptyStr
    """The variant whose run of the same seed this one starts from (it runs first)."""
    checkpoint: Literal["best", "latest"] = "latest"
    """latest: its last checkpoint (weights and, without reset_schedules, the frame and batch counters); best: the
    weights that drove its best race on the study's first eval map (weights only: counters start at 0)."""


class VariantSpec(ConfigModel):
    """One RL variant, run once per seed."""

    config: NonEmptyStr
    """RL config file, relative to the study file."""
    set: dict[str, Any] = {}
    """Overrides of the config, ``{dotted.key: value}`` as ``--set`` takes them."""
    inject: InjectSpec = InjectSpec()
    """Pretrained artifacts to inject, by stage name. The study owns injection: the config's own
    ``training.pretrain_*_path`` keys are cleared, so every weight a run starts from comes from this study."""
    parts: dict[Literal["vis", "floats", "iqn", "advantage", "value"], PartSettings] = {}
    """Freeze / lr_mult / frozen_until_frames of network parts (advantage and value are ``nn.decoder``'s heads)."""
    init_from: InitFrom | None = None
    """Start from another variant's run (``hairpin train --init-from``)."""
    reset_schedules: bool = False
    """With init_from: schedules start from frame 0 (``--reset-schedules``)."""

    @model_validator(mode="after")
    def _reset_needs_init(self) -> VariantSpec:
        if self.reset_schedules and self.init_from is None:
            raise ValueError("reset_schedules only applies with init_from")
        return self


class Budget(ConfigModel):
    """The matched budget of every RL run: exactly one axis."""

    frames: int | None = Field(None, ge=1)
    """Frames played (training.max_frames)."""
    batches: int | None = Field(None, ge=1)
    """Gradient batches (training.max_batches)."""
    minutes: float | None = Field(None, gt=0)
    """Minutes of training (training.max_minutes, summed over the sessions of a resumed run)."""
    training_hours: float | None = Field(None, gt=0)
    """Hours of training (as minutes: training.max_minutes)."""

    @model_validator(mode="after")
    def _exactly_one(self) -> Budget:
        given = [name for name in Budget.model_fields if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"budget needs exactly one of frames, batches, minutes, training_hours; got {given or 0}")
        return self

    @property
    def axis(self) -> Literal["frames", "batches", "minutes"]:
        """The axis the budget is counted on (training hours are counted in minutes)."""
        if self.frames is not None:
            return "frames"
        return "batches" if self.batches is not None else "minutes"

    @property
    def amount(self) -> float:
        """The budget on its axis."""
        if self.training_hours is not None:
            return self.training_hours * 60.0
        value = {"frames": self.frames, "batches": self.batches, "minutes": self.minutes}[self.axis]
        assert value is not None
        return float(value)


class EvalSpec(ConfigModel):
    """Where the variants are compared."""

    maps: list[NonEmptyStr] = []
    """Map short names of the eval races the questions read (the first is the map of ``checkpoint: best``)."""
    races: int = Field(5, ge=1)
    """Eval races per map at a comparison point (read by the report; the runs' eval races are their map cycle's)."""


class Question(ConfigModel):
    """One question the report answers."""

    text: NonEmptyStr
    """The question, as a sentence."""
    compare: list[NonEmptyStr] | None = None
    """Exactly two variants, A and B: the report gives their difference."""
    variants: list[NonEmptyStr] | None = None
    """Two or more variants to rank (instead of compare)."""
    metric: NonEmptyStr
    """A name of ``METRICS`` or a TensorBoard tag."""
    map: NonEmptyStr | None = None
    """Map short name of the races (race metrics); None: the study's first eval map."""
    kind: Literal["eval", "explo"] = "eval"
    """Greedy eval races or exploration races."""
    at: Literal["end", "common"] | Annotated[float, Field(gt=0)] = "end"
    """end: the end of the budget; common: the common window of the runs; a number: that point on the budget's
    axis."""
    window: float = Field(0.2, gt=0, le=1)
    """``window_finish_rate``: the share of the way to the checkpoint whose races it counts (the last part)."""
    lower_is_better: bool
    """Whether a lower value is better; default from the metric."""

    @model_validator(mode="before")
    @classmethod
    def _default_direction(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and data.get("lower_is_better") is None and isinstance(data.get("metric"), str):
            return {**data, "lower_is_better": METRICS.get(data["metric"], True)}
        return data

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if metric not in METRICS and "/" not in metric:
            raise ValueError(f"unknown metric {metric!r}: one of {', '.join(METRICS)}, or a TensorBoard tag (A/B)")
        return metric

    @model_validator(mode="after")
    def _one_set_of_variants(self) -> Question:
        if (self.compare is None) == (self.variants is None):
            raise ValueError("a question needs exactly one of compare (two variants) or variants (a ranking)")
        if self.compare is not None and len(self.compare) != 2:
            raise ValueError(f"compare names exactly two variants, got {len(self.compare)}")
        if self.variants is not None and len(self.variants) < 2:
            raise ValueError("variants names at least two variants to rank")
        return self

    @property
    def variant_names(self) -> list[str]:
        """The variants the question reads."""
        return list(self.compare or self.variants or [])


class StudySpec(ConfigModel):
    """A study file."""

    name: NonEmptyStr
    """The study's name: its directory is ``studies/<name>/``."""
    description: str = ""
    """What the study asks, in a sentence or two."""
    stages: dict[str, StageSpec] = {}
    """Pretraining steps by name, in order."""
    variants: dict[str, VariantSpec]
    """RL variants by name; each runs once per seed as ``<variant>-s<seed>``, group ``<variant>``."""
    seeds: list[Seed] = Field(min_length=1)
    """Seeds of every variant. Pretraining stages run once, with their config's own seed."""
    budget: Budget
    """The matched budget of every RL run."""
    eval: EvalSpec = EvalSpec()
    """Where the variants are compared."""
    questions: list[Question] = []
    """What the report answers."""
    _source: Path | None = PrivateAttr(None)

    @field_validator("name")
    @classmethod
    def _directory_name(cls, name: str) -> str:
        if not NAME_PATTERN.fullmatch(name):
            raise ValueError(f"{name!r} must be a plain name: letters, digits, '-', '_' (it names a directory)")
        return name

    @field_validator("stages", "variants")
    @classmethod
    def _plain_names(cls, entries: dict[str, Any]) -> dict[str, Any]:
        for name in entries:
            if not NAME_PATTERN.fullmatch(name):
                raise ValueError(f"{name!r} must be a plain name: letters, digits, '-', '_' (it names directories)")
        return entries

    @field_validator("variants")
    @classmethod
    def _some_variants(cls, variants: dict[str, VariantSpec]) -> dict[str, VariantSpec]:
        if not variants:
            raise ValueError("a study needs at least one variant")
        return variants

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int]) -> list[int]:
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must be distinct, got {seeds}")
        return seeds

    @property
    def source(self) -> Path:
        """The study file this spec was loaded from."""
        if self._source is None:
            raise StudyError(f"study {self.name!r} was not loaded from a file (use load_study)")
        return self._source

    def path_of(self, relative: str) -> Path:
        """A path written in the study file, relative to the file's directory (absolute paths stay)."""
        return (self.source.parent / Path(relative).expanduser()).resolve()


def load_study(path: str | Path) -> StudySpec:
    """Read and check a study file; StudyError (or ConfigError for the schema) naming the key and the file."""
    path = Path(path)
    spec = load_config(StudySpec, path)
    spec._source = path.resolve()
    _check_names(spec, path)
    _check_files(spec, path)
    _check_references(spec, path)
    _check_cycles(spec, path)
    return spec


def _check_names(spec: StudySpec, path: Path) -> None:
    both = sorted(set(spec.stages) & set(spec.variants))
    if both:
        raise StudyError(f"{path}: {both[0]!r} names both a stage and a variant; --only NAME needs them distinct")


def _check_files(spec: StudySpec, path: Path) -> None:
    """Every config file and existing dataset the study names exists."""
    for name, stage in spec.stages.items():
        if stage.config is not None and not spec.path_of(stage.config).is_file():
            raise StudyError(f"{path}: stages.{name}.config: config file not found: {spec.path_of(stage.config)}")
        if stage.kind == "demos" and stage.dataset is not None and not spec.path_of(stage.dataset).is_dir():
            raise StudyError(f"{path}: stages.{name}.dataset: no dataset directory at {spec.path_of(stage.dataset)}")
    for name, variant in spec.variants.items():
        if not spec.path_of(variant.config).is_file():
            raise StudyError(f"{path}: variants.{name}.config: config file not found: {spec.path_of(variant.config)}")


def _stage_ref(spec: StudySpec, path: Path, key: str, stage: str, kinds: tuple[str, ...]) -> None:
    """Refuse ``key`` naming ``stage`` unless it is a stage of one of ``kinds``."""
    found = spec.stages.get(stage)
    if found is None:
        known = ", ".join(spec.stages) or "none"
        raise StudyError(f"{path}: {key}: unknown stage {stage!r} (stages: {known})")
    if found.kind not in kinds:
        raise StudyError(f"{path}: {key}: stage {stage!r} is a {found.kind} stage; {key} needs a {' or '.join(kinds)}")


def _variant_ref(spec: StudySpec, path: Path, key: str, variant: str) -> None:
    if variant not in spec.variants:
        raise StudyError(f"{path}: {key}: unknown variant {variant!r} (variants: {', '.join(spec.variants)})")


def _check_references(spec: StudySpec, path: Path) -> None:
    """Every stage and variant a key names exists and is of a kind that fits there."""
    for name, stage in spec.stages.items():
        if stage.kind != "demos" and stage.dataset is not None:
            _stage_ref(spec, path, f"stages.{name}.dataset", stage.dataset, ("demos",))
        if stage.encoder_init is not None:
            _stage_ref(spec, path, f"stages.{name}.encoder_init", stage.encoder_init, ("vis", "bc"))
    for name, variant in spec.variants.items():
        for key, stage_name in variant.inject.items():
            kinds = ("vis", "bc") if key == "encoder" else ("bc",)
            _stage_ref(spec, path, f"variants.{name}.inject.{key}", stage_name, kinds)
        if variant.init_from is not None:
            _variant_ref(spec, path, f"variants.{name}.init_from.variant", variant.init_from.variant)
            if variant.init_from.checkpoint == "best" and not spec.eval.maps:
                raise StudyError(
                    f"{path}: variants.{name}.init_from.checkpoint: best needs eval.maps (the map whose best race "
                    "gives the weights)"
                )
    for index, question in enumerate(spec.questions):
        key = f"questions[{index}].{'compare' if question.compare is not None else 'variants'}"
        for variant_name in question.variant_names:
            _variant_ref(spec, path, key, variant_name)


def dependencies(spec: StudySpec) -> dict[str, list[tuple[str, str]]]:
    """Each stage's and variant's inputs: name → [(key, name it depends on)], in the file's order."""
    edges: dict[str, list[tuple[str, str]]] = {}
    for name, stage in spec.stages.items():
        edges[name] = []
        if stage.kind != "demos" and stage.dataset is not None:
            edges[name].append((f"stages.{name}.dataset", stage.dataset))
        if stage.encoder_init is not None:
            edges[name].append((f"stages.{name}.encoder_init", stage.encoder_init))
    for name, variant in spec.variants.items():
        edges[name] = [(f"variants.{name}.inject.{key}", stage) for key, stage in variant.inject.items()]
        if variant.init_from is not None:
            edges[name].append((f"variants.{name}.init_from.variant", variant.init_from.variant))
    return edges


def _check_cycles(spec: StudySpec, path: Path) -> None:
    """Refuse a chain of inputs that leads back to where it started, naming it."""
    edges = dependencies(spec)
    done: set[str] = set()

    def visit(name: str, trail: list[tuple[str, str]]) -> None:
        if name in done:
            return
        names = [step for step, _ in trail]
        if name in names:
            loop = trail[names.index(name) :]
            chain = " -> ".join(f"{step} ({key})" for step, key in loop)
            raise StudyError(f"{path}: {loop[0][1]}: cycle of inputs: {chain} -> {name}")
        for key, target in edges.get(name, []):
            visit(target, [*trail, (name, key)])
        done.add(name)

    for name in edges:
        visit(name, [])
