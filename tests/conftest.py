"""Shared test fixtures: small hand-made tracks and the real reference lines when ../shared/maps exists."""

from __future__ import annotations

import signal
from pathlib import Path

import numpy as np
import pytest

SHARED_MAPS = Path(__file__).resolve().parents[1].parent / "shared" / "maps"


def ctrl_c_restored() -> None:
    """``preexec_fn`` of a child a test stops with SIGINT: Ctrl-C back to its default. A shell that starts pytest
    in the background ignores SIGINT, children inherit that, and Python then never raises KeyboardInterrupt."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def straight_line(length_m: float = 300.0) -> np.ndarray:
    """A flat straight line heading +z (yaw 0)."""
    z = np.arange(0.0, length_m + 0.25, 0.5)
    return np.stack([np.zeros_like(z), np.zeros_like(z), z], axis=1)


def u_turn_line(radius: float = 16.0, leg_m: float = 60.0) -> np.ndarray:
    """Up +z for ``leg_m``, a right-hand half circle of ``radius``, back down -z: a hairpin."""
    up = np.arange(0.0, leg_m, 0.5)
    leg1 = np.stack([np.zeros_like(up), np.zeros_like(up), up], 1)
    angles = np.arange(0.0, np.pi, 0.5 / radius)
    arc = np.stack([radius - radius * np.cos(angles), np.zeros_like(angles), leg_m + radius * np.sin(angles)], 1)
    down = np.arange(leg_m, -0.25, -0.5)
    leg2 = np.stack([np.full_like(down, 2 * radius), np.zeros_like(down), down], 1)
    return np.concatenate([leg1, arc, leg2])


@pytest.fixture(scope="session", autouse=True)
def _racing_line_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Racing lines computed by tests are cached in a folder of the test session, never in the user's home."""
    import os

    os.environ["HAIRPIN_CACHE"] = str(tmp_path_factory.mktemp("hairpin-cache"))


@pytest.fixture
def hockolicious_path() -> Path:
    """The real ESL-Hockolicious reference line; skips when ../shared/maps is absent."""
    files = sorted(SHARED_MAPS.glob("ESL-Hockolicious*.npy"))
    if not files:
        pytest.skip("../shared/maps with ESL-Hockolicious is not present")
    return files[0]
