"""Experiment analysis: read runs, align them on a chosen axis, tabulate, aggregate seeds, plot, report (DESIGN §7).

Modules, in the order data flows: ``events`` (event files) → ``runs`` (which directories make a run) → ``merge``
(one series per tag, rewinds removed) → ``run`` / ``axes`` (timeline, axes) → ``races`` and ``stats`` →
``tables`` → ``analyze`` (the comparison) → ``render``, ``plots``, ``report``; ``registry`` reads
configs/experiments.yaml.
"""

from hairpin.analysis.analyze import Analysis, AnalysisOptions, analyze
from hairpin.analysis.errors import AnalysisError
from hairpin.analysis.render import FORMATS, render

__all__ = ["FORMATS", "Analysis", "AnalysisError", "AnalysisOptions", "analyze", "render"]
