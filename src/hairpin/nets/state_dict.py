"""How a state dict differs from a module's: the one comparison behind every strict load (checkpoints, injected
artifacts, BC's encoder start). Callers word the error for their own reader."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import Tensor, nn

__all__ = ["StateDictMismatch", "compare_state_dict"]


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
