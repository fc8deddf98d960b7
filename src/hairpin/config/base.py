"""The base of every hairpin config model: unknown keys are errors, values are frozen, finite and documented.

Shared annotated types say what a value means once (a probability, a seed) instead of repeating ``Field`` bounds.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo

__all__ = [
    "CHECK_FILES",
    "ConfigModel",
    "NonEmptyStr",
    "Probability",
    "Seed",
    "check_files",
    "number_text",
    "outside",
    "range_text",
]

CHECK_FILES = "check_files"
"""Validation-context key set by ``load_config``: files a config names (a map's ``.npy``) must exist now. Configs
re-validated from a run's or a dataset's stored copy leave it unset, so a file moved since then is no error there."""


class ConfigModel(BaseModel):
    """Base model: extra keys forbidden, immutable, nan and ±inf refused, field docstrings used as descriptions."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, validate_default=True, allow_inf_nan=False
    )


Probability = Annotated[float, Field(ge=0, le=1)]
"""A probability or fraction: 0 to 1, both included."""
Seed = Annotated[int, Field(ge=0, le=2**32 - 1)]
"""A random seed: numpy and torch take 0 to 2³² − 1."""
NonEmptyStr = Annotated[str, Field(min_length=1)]
"""A name or path that cannot be empty."""


def check_files(info: ValidationInfo) -> bool:
    """Whether this validation should check that named files exist (``load_config`` asks for it)."""
    return bool(info.context and info.context.get(CHECK_FILES))


def number_text(value: Any) -> str:
    """A bound or value as written in a config: ``1``, ``0.5``, ``1e-05``, ``4294967295``."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}" if float(f"{value:g}") == value else repr(value)
    return str(value)


def range_text(*, gt: Any = None, ge: Any = None, lt: Any = None, le: Any = None) -> str:
    """The allowed range in words: ``in [0, 1]``, ``in (0, 1]``, ``>= 1``, ``> 0``, ``<= 5``."""
    low = f"({number_text(gt)}" if gt is not None else f"[{number_text(ge)}" if ge is not None else ""
    high = f"{number_text(lt)})" if lt is not None else f"{number_text(le)}]" if le is not None else ""
    if low and high:
        return f"in {low}, {high}"
    if low:
        return f"> {number_text(gt)}" if gt is not None else f">= {number_text(ge)}"
    if high:
        return f"< {number_text(lt)}" if lt is not None else f"<= {number_text(le)}"
    return "any number"


def outside(value: float, *, gt: Any = None, ge: Any = None, lt: Any = None, le: Any = None) -> bool:
    """Whether ``value`` breaks one of the bounds."""
    return (
        (gt is not None and not value > gt)
        or (ge is not None and not value >= ge)
        or (lt is not None and not value < lt)
        or (le is not None and not value <= le)
    )
