"""Reading weight files and comparing them with a module: the one weights-only load and the one comparison behind
every strict load (checkpoints, injected artifacts, BC's encoder start, ``--init-from``). Callers word the
mismatch error for their own reader."""

from __future__ import annotations

import io
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from hairpin.errors import HairpinError

__all__ = ["StateDictMismatch", "WeightsFileError", "compare_state_dict", "load_weights"]


class WeightsFileError(HairpinError, ValueError):
    """A weights file that is not plain weights, or that cannot be read (truncated, corrupted, not a torch file)."""


def load_weights(file: str | Path | bytes, source: str, error: type[Exception] = WeightsFileError) -> Any:
    """``torch.load(weights_only=True)`` on the CPU; a failure raises ``error`` saying what is wrong with ``source``.

    A file whose pickle holds anything but tensors and plain containers is refused as code: the message never
    suggests loading it unsafely (torch's own message does, so it is not passed on).
    """
    try:
        return torch.load(io.BytesIO(file) if isinstance(file, bytes) else file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise error(
            f"{source}: holds pickled code or objects, not plain weights, and hairpin loads weights only; "
            "save a state dict of tensors instead (torch.save(module.state_dict(), path))"
        ) from err
    except FileNotFoundError:
        raise
    except Exception as err:  # torch raises runtime, value, EOF and zip errors alike for a damaged file
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise error(f"{source}: not a readable torch weights file (truncated or corrupted?): {reason}") from err


def _shape(value: Any) -> tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, Tensor) else None


@dataclass(frozen=True)
class StateDictMismatch:
    """Keys (sorted) missing from the state, unexpected in it, and present with another shape."""

    missing: list[str]
    unexpected: list[str]
    mis_shaped: list[str]

    def __bool__(self) -> bool:
        return bool(self.missing or self.unexpected or self.mis_shaped)


def compare_state_dict(module: nn.Module, state: Mapping[str, Any]) -> StateDictMismatch:
    """What keeps ``state`` from loading into ``module`` with ``strict=True``; falsy when nothing does."""
    expected = {k: _shape(v) for k, v in module.state_dict().items()}
    return StateDictMismatch(
        missing=sorted(k for k in expected if k not in state),
        unexpected=sorted(k for k in state if k not in expected),
        mis_shaped=sorted(k for k, shape in expected.items() if k in state and _shape(state[k]) != shape),
    )
