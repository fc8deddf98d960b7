"""The plan of a study: its stages and runs as nodes of a graph, in topological order, each keyed by its content.

A node is one command of the ``hairpin`` CLI (``demos record``, ``pretrain vis|bc``, ``train``) or an existing
dataset. Its resolved config is the config file with the study's overrides (``set``, ``parts``, ``inject``, names,
seeds, the budget, the study's folders) applied and validated here, so a bad key is refused before anything runs.

Content key (SHA-256) of a node: its resolved config as JSON with the keys that only say *where* things are
blanked (``paths``, the dataset and pretrained-artifact paths), the keys of the nodes it reads (dataset, encoder,
injected artifacts, the run it starts from), its seed (inside the config) and the hairpin code version. A changed
config therefore re-keys that node and the nodes downstream of it, nothing else.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from hairpin.config.base import CHECK_FILES
from hairpin.config.loader import ConfigError, load_config, load_yaml_tree
from hairpin.config.pretrain import BCConfig, VisConfigPretrain
from hairpin.config.rl import RLConfig
from hairpin.config.sim import DriveConfig
from hairpin.study.spec import INJECT_KEYS, PART_KEYS, StageSpec, StudyError, StudySpec, VariantSpec
from hairpin.version import code_version

__all__ = ["Node", "NodeKind", "Plan", "build_plan", "dataset_key", "run_name"]

NodeKind = Literal["dataset", "demos", "vis", "bc", "rl"]
M = TypeVar("M", bound=BaseModel)

RL_OWNED = ("run_name", "group", "seed", "paths", "training.max_frames", "training.max_batches",
            "training.max_minutes", *INJECT_KEYS.values())  # fmt: skip
"""RL keys the study sets itself (names, folders, the matched budget, injection): a variant's ``set`` may not."""
PRETRAIN_OWNED = ("run_name", "paths", "data.dataset", "data.root", "encoder_init_path")
"""Pretraining keys the study sets itself (name, folders, inputs)."""
RL_WHERE = ("paths", *INJECT_KEYS.values())
PRETRAIN_WHERE = ("paths", "data.dataset", "data.root", "encoder_init_path")
"""Keys blanked in a content key: where things are, not what they are (their contents are keyed as inputs)."""


def run_name(variant: str, seed: int) -> str:
    """The RL run of ``variant`` for ``seed`` (study_api.md)."""
    return f"{variant}-s{seed}"


@dataclass(frozen=True)
class Node:
    """One stage or run of the plan."""

    name: str
    """Unique in the plan: the stage's name, or the run's ``<variant>-s<seed>``."""
    kind: NodeKind
    source: str
    """The stage or variant of the study file it comes from."""
    seed: int | None
    deps: tuple[str, ...]
    """Nodes that must be done before it starts."""
    key: str
    """Content key (module docstring)."""
    output: Path
    """What it makes: a dataset directory, a pretraining run directory or an RL run directory."""
    config: BaseModel | None = None
    """The resolved config the command runs with (None for an existing dataset)."""
    options: tuple[str, ...] = ()
    """CLI options after the config (``demos record`` options, ``--init-from``)."""
    cpus: int = 1
    """Processes it puts on the machine: an RL run's collectors + 1 learner; 1 otherwise."""
    init_from: InitSource | None = None
    budget: tuple[str, float] | None = None
    """RL: (axis, amount) of the study's budget."""

    @property
    def runs_command(self) -> bool:
        """False for an existing dataset, which is an input, never run."""
        return self.kind != "dataset"

    def command(self, config_file: Path, *, resuming: bool = False) -> list[str]:
        """Arguments of ``python -m hairpin.cli`` running this node with ``config_file`` (its resolved config)."""
        if self.kind == "demos":
            root = self.output.parent
            return ["demos", "record", "--config", str(config_file), "--out", self.output.name, "--root", str(root),
                    *self.options]  # fmt: skip
        if self.kind in ("vis", "bc"):
            return ["pretrain", self.kind, str(config_file)]
        if self.kind == "rl":
            start = [] if resuming or self.init_from is None else self.init_from.options()
            return ["train", str(config_file), *start]
        raise StudyError(f"{self.name}: an existing dataset is not run")


@dataclass(frozen=True)
class InitSource:
    """Where an ``init_from`` run starts: the other run's node, which checkpoint, whether schedules restart."""

    node: str
    weights: Path
    """``--init-from``: the run directory (latest) or the best race's weights.pt (best)."""
    checkpoint: Literal["best", "latest"]
    reset_schedules: bool

    def options(self) -> list[str]:
        return ["--init-from", str(self.weights), *(["--reset-schedules"] if self.reset_schedules else [])]

    @property
    def keeps_counters(self) -> bool:
        """Whether the run starts at the other run's frame and batch counters (its budget counts from there)."""
        return self.checkpoint == "latest" and not self.reset_schedules


@dataclass
class Plan:
    """The nodes of a study in topological order (dependencies first; the study file's order otherwise)."""

    spec: StudySpec
    study_dir: Path
    nodes: dict[str, Node]
    code_version: str
    selected: list[str] = field(default_factory=list)
    """What --only/--seeds asked for; the plan also holds their dependencies."""

    def dependents(self, name: str) -> list[str]:
        """Nodes that (directly or not) need ``name``."""
        out: list[str] = []
        for node in self.nodes.values():
            if name in node.deps or any(dep in out for dep in node.deps):
                out.append(node.name)
        return out

    def as_json(self) -> dict[str, Any]:
        """What ``plan.json`` holds."""
        return {
            "study": self.spec.name,
            "code_version": self.code_version,
            "nodes": [
                {
                    "name": n.name,
                    "kind": n.kind,
                    "source": n.source,
                    "seed": n.seed,
                    "key": n.key,
                    "deps": list(n.deps),
                    "output": str(n.output),
                    "cpus": n.cpus,
                }
                for n in self.nodes.values()
            ],
        }


def content_key(payload: Mapping[str, Any]) -> str:
    """SHA-256 of ``payload`` as canonical JSON."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dataset_key(directory: Path) -> str:
    """Key of an existing dataset: SHA-256 of its ``hairpin.json`` (which lists each file's SHA-256 since datasets
    carry checksums) and of every file's relative name and size (a truncated copy re-keys; mtimes are left out so a
    copied dataset keeps its key)."""
    sidecar = directory / "hairpin.json"
    if not sidecar.is_file():
        raise StudyError(f"{directory} is not a hairpin dataset: it has no hairpin.json")
    files = sorted(
        (str(path.relative_to(directory)), path.stat().st_size) for path in directory.rglob("*") if path.is_file()
    )
    return content_key({"hairpin.json": hashlib.sha256(sidecar.read_bytes()).hexdigest(), "files": files})


def _flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{a: {b: 1}}`` → ``{"a.b": 1}``; dotted keys stay as they are."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat |= _flatten(value, f"{dotted}.")
        else:
            flat[dotted] = value
    return flat


def _owned(key: str, owned: Sequence[str]) -> str | None:
    return next((o for o in owned if key == o or key.startswith(f"{o}.") or o.startswith(f"{key}.")), None)


def _overrides(values: Mapping[str, Any]) -> list[str]:
    """``--set`` strings for ``{dotted key: value}`` (JSON is YAML, so the loader reads each value back as is)."""
    return [f"{key}={json.dumps(value)}" for key, value in values.items()]


def _with_values(tree: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any] | None:
    """A copy of ``tree`` with each dotted key set as ``--set`` would; None where a key runs through a non-mapping."""
    out = copy.deepcopy(tree)
    for key, value in values.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                return None
        node[leaf] = copy.deepcopy(value)
    return out


def _resolve(model: type[M], config: Path | None, user: Mapping[str, Any], study: Mapping[str, Any], where: str,
             spec: StudySpec, owned: Sequence[str], trees: dict[Path, dict[str, Any]]) -> M:  # fmt: skip
    """``config`` with the file's ``set`` (``user``) then the study's own values applied, validated as ``model``.

    Each config file is parsed once (``trees``) and validated directly; only a config that fails goes through
    ``load_config`` again, for its error message (the key, the file, ``--set``)."""
    flat = _flatten(user)
    for key in flat:
        if (taken := _owned(key, owned)) is not None:
            raise StudyError(f"{spec.source}: {where}.set: {key!r}: the study sets {taken!r} itself; remove it")
    try:
        if config is not None and config not in trees:
            trees[config] = load_yaml_tree(config)
        tree = _with_values(trees[config] if config is not None else {}, {**flat, **study})
        if tree is not None:
            with contextlib.suppress(ValidationError):
                return model.model_validate(tree, context={CHECK_FILES: True})
        return load_config(model, config, [*_overrides(flat), *_overrides(study)])
    except ConfigError as error:
        raise StudyError(f"{spec.source}: {where}: {error}") from error


def _blank(tree: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """A copy of ``tree`` with each dotted key set to None."""
    out = json.loads(json.dumps(tree))
    for key in keys:
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = None
    return dict(out)


def _config_key(cfg: BaseModel, where: Iterable[str], **inputs: Any) -> str:
    return content_key({"config": _blank(cfg.model_dump(mode="json"), where), **inputs})


class _Builder:
    """Turns a study spec into nodes; each ``add_*`` needs its inputs added first."""

    def __init__(self, spec: StudySpec, study_dir: Path, version: str) -> None:
        self.spec, self.study_dir, self.version = spec, study_dir.resolve(), version
        self.nodes: dict[str, Node] = {}
        self.trees: dict[Path, dict[str, Any]] = {}

    def stage_dir(self, name: str) -> Path:
        return self.study_dir / "stages" / name

    def add_stage(self, name: str, stage: StageSpec) -> None:
        spec, where = self.spec, f"stages.{name}"
        if stage.kind == "demos" and stage.dataset is not None:
            directory = spec.path_of(stage.dataset)
            try:
                key = dataset_key(directory)
            except StudyError as error:
                raise StudyError(f"{spec.source}: {where}.dataset: {error}") from error
            self.nodes[name] = Node(name, "dataset", name, None, (), key, directory)
            return
        config = spec.path_of(stage.config) if stage.config is not None else None
        if stage.kind == "demos":
            assert stage.args is not None
            self.nodes[name] = self._demos(name, stage, config)
            return
        deps = [stage.dataset] if stage.dataset is not None else []
        dataset = self.nodes[deps[0]]
        study_values: dict[str, Any] = {
            "run_name": name,
            "paths.runs": str(self.stage_dir(name) / "runs"),
            "paths.tensorboard": str(self.stage_dir(name) / "tensorboard"),
            "data.dataset": str(dataset.output),
        }
        inputs = {"dataset": dataset.key}
        if stage.kind == "bc":
            encoder = self.nodes[stage.encoder_init] if stage.encoder_init is not None else None
            study_values["encoder_init_path"] = str(encoder.output) if encoder is not None else None
            if encoder is not None:
                deps.append(encoder.name)
                inputs["encoder"] = encoder.key
        model: type[VisConfigPretrain] | type[BCConfig] = VisConfigPretrain if stage.kind == "vis" else BCConfig
        cfg = _resolve(model, config, stage.set, study_values, where, spec, PRETRAIN_OWNED, self.trees)
        key = _config_key(cfg, PRETRAIN_WHERE, kind=stage.kind, inputs=inputs, code=self.version)
        output = self.stage_dir(name) / "runs" / name
        self.nodes[name] = Node(name, stage.kind, name, None, tuple(deps), key, output, cfg, cpus=1)

    def _demos(self, name: str, stage: StageSpec, config: Path | None) -> Node:
        """``demos record`` into ``stages/<name>/datasets/<name>``; noise, driver and image size go into its config."""
        args = stage.args
        assert args is not None
        folded = {"env.image_size": args.image_size, "expert.noise": args.noise, "driver": args.driver}
        cfg = _resolve(DriveConfig, config, stage.set, {k: v for k, v in folded.items() if v is not None},
                       f"stages.{name}", self.spec, (), self.trees)  # fmt: skip
        options = ["--maps", ",".join(args.map_list())]
        for option in ("generated", "generator_seed", "generated_blocks", "episodes", "capture_every_steps", "seed",
                       "cars"):  # fmt: skip
            value = getattr(args, option)
            if value is not None:
                options += [f"--{option.replace('_', '-')}", str(value)]
        key = _config_key(cfg, (), kind="demos", options=options, code=self.version)
        output = self.stage_dir(name) / "datasets" / name
        return Node(name, "demos", name, None, (), key, output, cfg, tuple(options))

    def add_run(self, variant_name: str, variant: VariantSpec, seed: int) -> None:
        spec, where = self.spec, f"variants.{variant_name}"
        name = run_name(variant_name, seed)
        study_values: dict[str, Any] = {
            "run_name": name,
            "group": variant_name,
            "seed": seed,
            "paths.runs": str(self.study_dir / "runs"),
            "paths.tensorboard": str(self.study_dir / "tensorboard"),
            "training.max_frames": None,
            "training.max_batches": None,
            "training.max_minutes": None,
        }
        axis, amount = spec.budget.axis, spec.budget.amount
        study_values[f"training.max_{axis}"] = amount if axis == "minutes" else int(amount)
        for part, settings in variant.parts.items():
            for key, value in settings.model_dump(exclude_none=True).items():
                study_values[f"{PART_KEYS[part]}.{key}"] = value
        deps: list[str] = []
        inputs: dict[str, Any] = {}
        named = dict(variant.inject.items())
        for key, config_key in INJECT_KEYS.items():
            stage = self.nodes[named[key]] if key in named else None
            study_values[config_key] = str(stage.output) if stage is not None else None
            if stage is not None:
                deps.append(stage.name)
                inputs[key] = stage.key
        init = None
        if variant.init_from is not None:
            source = self.nodes[run_name(variant.init_from.variant, seed)]
            checkpoint = variant.init_from.checkpoint
            weights = (
                source.output if checkpoint == "latest" else source.output / "best" / spec.eval.maps[0] / "weights.pt"
            )
            init = InitSource(source.name, weights, checkpoint, variant.reset_schedules)
            deps.append(source.name)
            inputs["init_from"] = {"key": source.key, "checkpoint": checkpoint, "reset": variant.reset_schedules}
        cfg = _resolve(
            RLConfig, spec.path_of(variant.config), variant.set, study_values, where, spec, RL_OWNED, self.trees
        )
        key = _config_key(cfg, RL_WHERE, kind="rl", inputs=inputs, code=self.version)
        output = self.study_dir / "runs" / name
        perf = cfg.performance
        cpus = 1 + (perf.gpu_collectors_count if perf.collectors == "local" else 0)  # Ray collectors run elsewhere
        node = Node(name, "rl", variant_name, seed, tuple(dict.fromkeys(deps)), key, output, cfg, (), cpus, init,
                    (axis, amount))  # fmt: skip
        self.nodes[name] = node


def _topological(nodes: Mapping[str, Node]) -> dict[str, Node]:
    """Dependencies first; among nodes that are ready, the study file's order (Kahn's algorithm)."""
    done: dict[str, Node] = {}
    pending = list(nodes)
    while pending:
        ready = next(name for name in pending if all(dep in done for dep in nodes[name].deps))
        done[ready] = nodes[ready]
        pending.remove(ready)
    return done


def _needed(nodes: Mapping[str, Node], wanted: Iterable[str]) -> set[str]:
    """``wanted`` and every node they depend on."""
    keep: set[str] = set()
    stack = list(wanted)
    while stack:
        name = stack.pop()
        if name not in keep:
            keep.add(name)
            stack.extend(nodes[name].deps)
    return keep


def build_plan(
    spec: StudySpec,
    study_dir: str | Path,
    *,
    only: Sequence[str] = (),
    seeds: Sequence[int] = (),
    version: str | None = None,
) -> Plan:
    """The plan of ``spec`` in ``study_dir``; ``only`` (stage, variant or run names) and ``seeds`` narrow it to those
    nodes and what they depend on. Every config is resolved and validated here."""
    unknown_seeds = sorted(set(seeds) - set(spec.seeds))
    if unknown_seeds:
        raise StudyError(f"{spec.source}: --seeds {unknown_seeds}: the study's seeds are {spec.seeds}")
    builder = _Builder(spec, Path(study_dir), version if version is not None else code_version())
    stage_order = _topological_names(spec)
    for name in stage_order:
        builder.add_stage(name, spec.stages[name])
    for variant_name in _variant_order(spec):
        for seed in spec.seeds:
            builder.add_run(variant_name, spec.variants[variant_name], seed)
    nodes = _topological(builder.nodes)
    wanted = _selection(spec, nodes, only, seeds)
    keep = _needed(nodes, wanted)
    return Plan(spec, builder.study_dir, {n: node for n, node in nodes.items() if n in keep}, builder.version, wanted)


def _selection(spec: StudySpec, nodes: Mapping[str, Node], only: Sequence[str], seeds: Sequence[int]) -> list[str]:
    """The nodes --only and --seeds name (every node without them)."""
    for name in only:
        if name not in nodes and name not in spec.stages and name not in spec.variants:
            known = ", ".join([*spec.stages, *spec.variants])
            raise StudyError(f"{spec.source}: --only {name!r}: no such stage, variant or run (known: {known})")
    chosen = [
        node.name
        for node in nodes.values()
        if (not only or node.name in only or node.source in only)
        and (not seeds or node.seed is None or node.seed in seeds)
    ]
    if seeds and not only:
        chosen = [name for name in chosen if nodes[name].kind == "rl"]
    return chosen


def _dependency_order(names: Sequence[str], deps: Mapping[str, Sequence[str]]) -> list[str]:
    """``names`` with each after the names it depends on (file order otherwise); cycles were refused by spec."""
    order: list[str] = []
    pending = list(names)
    while pending:
        ready = next(n for n in pending if all(d in order or d not in names for d in deps.get(n, ())))
        order.append(ready)
        pending.remove(ready)
    return order


def _topological_names(spec: StudySpec) -> list[str]:
    deps = {
        name: [s for s in (stage.dataset if stage.kind != "demos" else None, stage.encoder_init) if s is not None]
        for name, stage in spec.stages.items()
    }
    return _dependency_order(list(spec.stages), deps)


def _variant_order(spec: StudySpec) -> list[str]:
    deps = {name: [v.init_from.variant] if v.init_from else [] for name, v in spec.variants.items()}
    return _dependency_order(list(spec.variants), deps)


def default_cores() -> int:
    """Cores this process may use (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1
