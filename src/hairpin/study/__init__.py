"""Studies (DESIGN §1, issue 10): one YAML file runs a whole experiment — pretraining stages, RL variants, seeds —
as a graph of content-keyed nodes that skips what is done, resumes what was interrupted and retries what failed.

``spec`` reads the study file, ``plan`` turns it into nodes with content keys, ``state`` keeps each node's state on
disk, ``local`` runs the plan on this machine. Only ``cli.py`` imports this package.
"""

from hairpin.study.spec import StudyError, StudySpec, load_study

__all__ = ["StudyError", "StudySpec", "load_study"]
