"""The files of an RL run on disk (DESIGN §6), readable without the trainer or torch: ``run.json``
(``manifest``), the checkpoint layout and its counters (``checkpoints``), the best race per map (``best``).

``rl/`` writes them; ``analysis/``, ``data/``, ``study/`` and ``rl/`` read them through this package.
"""
