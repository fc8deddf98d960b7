"""Pretraining artifacts on disk (DESIGN §5): plain state dicts of network parts plus ``manifest.json``.

A pretraining run directory holds any of ``encoder.pt`` (``img_head``), ``actions_head.pt`` (``A_head``),
``float_head.pt`` (``float_feature_extractor``), ``iqn_fc.pt`` (``iqn_fc``, the τ embedding an A_head was trained
behind, exported with it so that injecting the head is exact) and ``iqn_bc.pt`` (the whole ``IQNNetwork``), each
loadable with
``torch.load(path, weights_only=True)``, with part-relative keys (``0.weight`` for ``img_head.0.weight``) except
``iqn_bc.pt``, which has the network's own keys. The manifest says which files exist, their keys and shapes, the
image normalisation, the float layout, the image size and stacking, the resolved config, the code version, the
metrics and the epoch the weights come from. The manifest is written last, so a directory without one is an
unfinished export and is refused.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from hairpin.atomic import atomic_write_bytes, atomic_write_text
from hairpin.errors import HairpinError
from hairpin.nets.iqn import IMAGE_MEAN, IMAGE_SCALE
from hairpin.nets.stacking import sum_first_conv_channels
from hairpin.nets.state_dict import load_weights
from hairpin.obs import FloatLayout, float_layout_differences, float_layout_record
from hairpin.version import code_version

__all__ = [
    "ARTIFACT_FILES",
    "ARTIFACT_PART",
    "MANIFEST_NAME",
    "ArtifactError",
    "check_artifact_fits",
    "export_artifacts",
    "image_normalisation",
    "read_artifact",
    "read_manifest",
    "single_frame_state",
]

ARTIFACT_FILES = {
    "encoder": "encoder.pt",
    "actions_head": "actions_head.pt",
    "float_head": "float_head.pt",
    "iqn_embedding": "iqn_fc.pt",
    "iqn_bc": "iqn_bc.pt",
}
"""Artifact name → file name."""
ARTIFACT_PART = {
    "encoder": "img_head",
    "actions_head": "A_head",
    "float_head": "float_feature_extractor",
    "iqn_embedding": "iqn_fc",
}
"""Artifact name → the IQNNetwork part it holds (``iqn_bc`` holds the whole network)."""
MANIFEST_NAME = "manifest.json"


class ArtifactError(HairpinError, ValueError):
    """A pretraining artifact is missing, incomplete, or does not fit the network it is meant for."""


def image_normalisation() -> dict[str, float]:
    """How the network normalises images: (pixel − mean) / scale on 0–255 uint8 values."""
    return {"mean": IMAGE_MEAN, "scale": IMAGE_SCALE}


def _serialise(state: Mapping[str, Tensor]) -> bytes:
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu().clone() for k, v in state.items()}, buffer)
    return buffer.getvalue()


def export_artifacts(
    out_dir: str | Path,
    states: Mapping[str, Mapping[str, Tensor]],
    *,
    task: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, Any],
    best_epoch: int,
    image_size: int | None,
    n_stack: int,
    float_layout: FloatLayout | None,
) -> dict[str, Any]:
    """Write ``states`` (artifact name → state dict) and then the manifest into ``out_dir``; return the manifest."""
    unknown = sorted(set(states) - set(ARTIFACT_FILES))
    if unknown:
        raise ArtifactError(f"unknown artifacts {unknown}; known: {sorted(ARTIFACT_FILES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    for name, state in states.items():
        atomic_write_bytes(out / ARTIFACT_FILES[name], _serialise(state))
        files[name] = {
            "file": ARTIFACT_FILES[name],
            "part": ARTIFACT_PART.get(name, "IQNNetwork"),
            "tensors": {k: list(v.shape) for k, v in state.items()},
        }
    manifest = {
        "task": task,
        "files": files,
        "image_normalisation": image_normalisation(),
        "image_size": image_size,
        "n_stack": n_stack,
        "float_layout": None if float_layout is None else float_layout_record(float_layout),
        "best_epoch": best_epoch,
        "metrics": dict(metrics),
        "config": dict(config),
        "code_version": code_version(),
    }
    atomic_write_text(out / MANIFEST_NAME, json.dumps(manifest, indent=1, default=float) + "\n")
    return manifest


def read_manifest(run_dir: str | Path) -> dict[str, Any]:
    """The manifest of a pretraining run directory; raises ``ArtifactError`` when there is none."""
    path = Path(run_dir) / MANIFEST_NAME
    if not path.is_file():
        raise ArtifactError(f"{path} does not exist: {run_dir} is not a finished pretraining export")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ArtifactError(f"{path} is not valid JSON: {err}") from err
    return manifest


def read_artifact(path: str | Path, artifact: str) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """State dict and manifest of ``artifact`` from a run directory, or from a ``.pt`` file beside its manifest.

    The tensors must be exactly those the manifest lists, with the listed shapes.
    """
    if artifact not in ARTIFACT_FILES:
        raise ArtifactError(f"unknown artifact {artifact!r}; known: {sorted(ARTIFACT_FILES)}")
    p = Path(path)
    if not p.exists():
        raise ArtifactError(f"{p} does not exist")
    file = p / ARTIFACT_FILES[artifact] if p.is_dir() else p
    manifest = read_manifest(file.parent)
    entry = manifest["files"].get(artifact)
    if entry is None or entry["file"] != file.name:
        listed = {k: v["file"] for k, v in manifest["files"].items()}
        raise ArtifactError(f"{file} is not the {artifact!r} artifact of {file.parent}; its manifest lists {listed}")
    if not file.is_file():
        raise ArtifactError(f"{file} is listed in the manifest but missing")
    state: dict[str, Tensor] = load_weights(file, str(file), error=ArtifactError)
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ArtifactError(f"{file}: holds a {type(state).__name__}, not a state dict of tensors")
    expected = {k: tuple(v) for k, v in entry["tensors"].items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    if got != expected:
        missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
        wrong = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        raise ArtifactError(f"{file} does not match its manifest: missing {missing}, unexpected {extra}, shape {wrong}")
    return state, manifest


def check_artifact_fits(
    artifact: str,
    manifest: dict[str, Any],
    *,
    image_size: int,
    image_size_of: str,
    float_layout: FloatLayout | None = None,
) -> None:
    """Raise ``ArtifactError`` when ``artifact`` was trained on inputs other than a network's.

    Every artifact must normalise images as hairpin's networks do. Those that hold the encoder (``encoder``,
    ``iqn_bc``) must have been trained at ``image_size`` (``image_size_of`` names where that size comes from, for
    the message), and those that read floats at ``float_layout`` (not checked when it is None).
    """
    if manifest.get("image_normalisation") != image_normalisation():
        raise ArtifactError(
            f"the artifact normalises images with {manifest.get('image_normalisation')}, the network with "
            f"{image_normalisation()}"
        )
    if artifact in ("encoder", "iqn_bc") and manifest.get("image_size") not in (None, image_size):
        raise ArtifactError(
            f"the encoder was trained on {manifest['image_size']} px images, the {image_size_of} has {image_size} px"
        )
    if artifact == "encoder" or float_layout is None:
        return
    differences = float_layout_differences(manifest.get("float_layout"), float_layout)
    if differences:
        raise ArtifactError(f"the artifact's float layout differs from the network's: {'; '.join(differences)}")


def single_frame_state(state: dict[str, Tensor], manifest: dict[str, Any]) -> tuple[dict[str, Tensor], int | None]:
    """An encoder's state for one input frame, and the stack size whose first kernels were summed (None when the
    encoder was trained on single frames): a single frame then gets the response a stack of identical frames had."""
    n_stack = int(manifest.get("n_stack") or 1)
    return (sum_first_conv_channels(state), n_stack) if n_stack > 1 else (state, None)
