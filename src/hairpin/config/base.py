"""The base of every hairpin config model: unknown keys are errors, values are frozen and documented."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["ConfigModel"]


class ConfigModel(BaseModel):
    """Base model: extra keys forbidden, immutable, field docstrings used as descriptions."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True, validate_default=True)
