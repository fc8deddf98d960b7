"""Print a config as YAML with each key's documentation beside it (the field docstrings)."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import BaseModel

from hairpin.config.schedules import Schedule

__all__ = ["documented_yaml"]


def _scalar(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def documented_yaml(cfg: BaseModel, indent: int = 0) -> str:
    """YAML of ``cfg`` where every key carries its field docstring as a comment."""
    lines = []
    pad = "  " * indent
    plain = cfg.model_dump(mode="json")
    for name, field in type(cfg).model_fields.items():
        value = getattr(cfg, name)
        doc = " ".join((field.description or "").split())
        if isinstance(value, BaseModel) and not isinstance(value, Schedule):
            lines.append(f"{pad}{name}:{f'  # {doc}' if doc else ''}")
            lines.append(documented_yaml(value, indent + 1))
        else:
            lines.append(f"{pad}{name}: {_scalar(plain[name])}{f'  # {doc}' if doc else ''}")
    return "\n".join(lines)
