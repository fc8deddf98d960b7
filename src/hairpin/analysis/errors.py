"""The one error of the analysis: a run, tag, option or file that cannot be used, named with what exists instead."""

from __future__ import annotations

from hairpin.errors import HairpinError

__all__ = ["AnalysisError"]


class AnalysisError(HairpinError, ValueError):
    """A run name that matches nothing, a tag no run has, a bad interval or axis; the message lists what exists."""
