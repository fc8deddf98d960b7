"""The simulator runs without torch: importing it must not import torch (memory, start-up time)."""

from __future__ import annotations

import subprocess
import sys


def test_simulator_does_not_import_torch() -> None:
    code = (
        "import sys, hairpin.sim.vector_env, hairpin.sim.expert, hairpin.sim.lap_media, hairpin.config; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
