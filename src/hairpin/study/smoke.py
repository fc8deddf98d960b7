"""The smoke of a study (``hairpin study FILE --smoke``): every stage and variant once, at a size that runs on a
laptop's CPU in minutes, in a folder of its own (``studies/<name>-smoke/``), so a study's wiring (its configs,
injections, freezing, ``init_from`` chains and report) is proven before its real budget is spent on a GPU.

What shrinks: one seed; demos of one episode per map, on the named maps (which pretraining configs may hold out for
validation by name) and at most one generated map; one epoch of every vis and bc stage; RL runs of ``SMOKE_BATCHES``
batches that start training after ``SMOKE_MIN_TRANSITIONS`` transitions. What changes beyond size is listed by
``smoke_spec``: an ``init_from`` of another variant's best race starts from its latest checkpoint instead, since a
run that short finishes no race and so has no best race. Everything else (networks, image size, collectors,
injections, part settings, overrides) is the study's own.
"""

from __future__ import annotations

from hairpin.study.spec import Budget, StageSpec, StudySpec, VariantSpec

__all__ = ["SMOKE_BATCHES", "SMOKE_MIN_TRANSITIONS", "smoke_spec"]

SMOKE_BATCHES = 4
"""Gradient batches of every smoke RL run: enough to step every optimiser and part setting once."""
SMOKE_MIN_TRANSITIONS = 1024
"""Transitions a smoke run collects before it trains (``memory.memory_min_size``)."""


def _smoke_stage(stage: StageSpec) -> StageSpec:
    if stage.kind == "demos":
        if stage.args is None:
            return stage  # an existing dataset is an input: nothing to shrink
        generated = min(stage.args.generated, 1) if stage.args.generated is not None else None
        args = stage.args.model_copy(update={"generated": generated, "episodes": 1})
        return stage.model_copy(update={"args": args})
    return stage.model_copy(update={"set": {**stage.set, "train.epochs": 1}})


def _smoke_variant(name: str, variant: VariantSpec, changes: list[str]) -> VariantSpec:
    update: dict[str, object] = {"set": {**variant.set, "memory.memory_min_size": SMOKE_MIN_TRANSITIONS}}
    if variant.init_from is not None and variant.init_from.checkpoint == "best":
        update["init_from"] = variant.init_from.model_copy(update={"checkpoint": "latest"})
        changes.append(
            f"{name}: starts from {variant.init_from.variant}'s latest checkpoint, not its best race "
            "(a smoke run finishes no race)"
        )
    return variant.model_copy(update=update)


def smoke_spec(spec: StudySpec) -> tuple[StudySpec, list[str]]:
    """``spec`` shrunk to its smoke (module docstring), and the changes it makes beyond size, one line each."""
    changes: list[str] = []
    smoke = spec.model_copy(  # a copy keeps the study file's path (a private attribute), so paths resolve as before
        update={
            "name": f"{spec.name}-smoke",
            "description": f"Smoke of {spec.name} (hairpin study --smoke): every stage and variant once at a tiny "
            f"size, to prove the study's wiring; its numbers answer nothing. {spec.description}".strip(),
            "stages": {name: _smoke_stage(stage) for name, stage in spec.stages.items()},
            "variants": {name: _smoke_variant(name, v, changes) for name, v in spec.variants.items()},
            "seeds": spec.seeds[:1],
            "budget": Budget(batches=SMOKE_BATCHES),
        }
    )
    return smoke, changes
