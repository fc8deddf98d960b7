"""One recorded episode in Minari's per-step shape, and the builder that fills it while a car drives.

The recorder (expert driving) and the best-race exporter (RL actions replayed) both drive a simulated car step by
step; ``EpisodeBuilder`` is what they share. Every ``capture_every_steps`` steps it keeps the observation seen
before the decision (a *frame*), and it always keeps the final observation, as Minari wants M + 1 observations for
M steps. A Minari step here spans ``capture_every_steps`` simulator steps (the last one may be shorter); its action
is the label at 0 ms (the action of the first tick after the frame) and its reward the sum of the simulator rewards
it spans. ``tick_actions`` row i holds the action of every 10 ms tick played after observation i, padded with -1
where the episode ended early; the final observation's row is all -1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Episode", "EpisodeBuilder"]

PAD = -1
"""Tick action of a tick that was never played (the padding of ``tick_actions``)."""


@dataclass(frozen=True)
class Episode:
    """M Minari steps of one race; observations and infos have M + 1 rows."""

    map: str
    seed: int | None
    images: np.ndarray  # (M + 1, 1, H, W) uint8
    floats: np.ndarray  # (M + 1, F) float32
    actions: np.ndarray  # (M,) int64, label at 0 ms of each frame
    rewards: np.ndarray  # (M,) float32, sum of the simulator rewards of the step
    tick_actions: np.ndarray  # (M + 1, capture_every_steps × ticks_per_step) int8, -1 where not played
    race_time_ms: np.ndarray  # (M + 1,) int64, race time at each observation
    frame_tick: np.ndarray  # (M + 1,) int64, tick index of each observation within the episode
    terminated: bool  # crossed the finish line
    truncated: bool  # cut off (no progress, time limit) or the actions ran out
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        m = len(self.actions)
        if m < 1:
            raise ValueError(f"episode on {self.map!r} has no step")
        for name in ("images", "floats", "tick_actions", "race_time_ms", "frame_tick"):
            if len(getattr(self, name)) != m + 1:
                raise ValueError(f"Episode.{name} has {len(getattr(self, name))} rows, expected {m + 1} (M + 1)")
        if len(self.rewards) != m:
            raise ValueError(f"Episode.rewards has {len(self.rewards)} rows, expected {m}")

    @property
    def n_frames(self) -> int:
        """M, the frames that carry a decision (the final observation does not)."""
        return len(self.actions)

    @property
    def timeline(self) -> np.ndarray:
        """(K,) int8 action of every tick of the episode."""
        flat = self.tick_actions.reshape(-1)
        return flat[flat != PAD]

    @property
    def n_ticks(self) -> int:
        return int(np.count_nonzero(self.tick_actions != PAD))

    @property
    def final_race_time_ms(self) -> int:
        return int(self.race_time_ms[-1])


class EpisodeBuilder:
    """Collects one car's observations and tick actions step by step; ``finish`` returns the ``Episode``."""

    def __init__(
        self,
        map_name: str,
        seed: int | None,
        *,
        capture_every_steps: int,
        ticks_per_step: int,
        image: np.ndarray,
        floats: np.ndarray,
        race_time_ms: int,
        extra: dict[str, Any] | None = None,
    ) -> None:
        if capture_every_steps < 1:
            raise ValueError(f"capture_every_steps must be ≥ 1, got {capture_every_steps}")
        self.map, self.seed, self.extra = map_name, seed, dict(extra or {})
        self.capture, self.ticks_per_step = capture_every_steps, ticks_per_step
        self.steps = 0
        self._images, self._floats = [image.copy()], [floats.copy()]
        self._race_time, self._frame_tick = [race_time_ms], [0]
        self._rewards: list[float] = [0.0]
        self._ticks: list[np.ndarray] = []  # (ticks_per_step,) int8 per simulator step

    def step(
        self, tick_actions: np.ndarray, reward: float, image: np.ndarray, floats: np.ndarray, race_time_ms: int
    ) -> None:
        """Record one simulator step: its tick actions and reward, and the observation that follows it."""
        if tick_actions.shape != (self.ticks_per_step,):
            raise ValueError(f"expected {self.ticks_per_step} tick actions, got shape {tick_actions.shape}")
        self._ticks.append(tick_actions.astype(np.int8))
        self._rewards[-1] += float(reward)
        self.steps += 1
        if self.steps % self.capture == 0:
            self._keep(image, floats, race_time_ms)

    def _keep(self, image: np.ndarray, floats: np.ndarray, race_time_ms: int) -> None:
        self._images.append(image.copy())
        self._floats.append(floats.copy())
        self._race_time.append(race_time_ms)
        self._frame_tick.append(self.steps * self.ticks_per_step)
        self._rewards.append(0.0)

    def finish(
        self, *, terminated: bool, truncated: bool, image: np.ndarray, floats: np.ndarray, race_time_ms: int
    ) -> Episode:
        """The episode, ended after the last ``step`` (``image``/``floats``: the final observation)."""
        if self.steps == 0:
            raise ValueError(f"episode on {self.map!r} ended before its first step")
        if self.steps % self.capture:  # the final observation was not kept by the capture rate
            self._keep(image, floats, race_time_ms)
        m = len(self._images) - 1
        width = self.capture * self.ticks_per_step
        ticks = np.full(((m + 1) * width,), PAD, np.int8)
        played = np.concatenate(self._ticks)  # (K,)
        ticks[: len(played)] = played
        return Episode(
            map=self.map,
            seed=self.seed,
            images=np.stack(self._images),
            floats=np.stack(self._floats).astype(np.float32),
            actions=ticks.reshape(m + 1, width)[:m, 0].astype(np.int64),
            rewards=np.array(self._rewards[:m], np.float32),
            tick_actions=ticks.reshape(m + 1, width),
            race_time_ms=np.array(self._race_time, np.int64),
            frame_tick=np.array(self._frame_tick, np.int64),
            terminated=terminated,
            truncated=truncated,
            extra=self.extra,
        )
