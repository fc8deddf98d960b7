"""Demonstrations in memory: every frame of a dataset as flat arrays, with episode boundaries and the 10 ms action
timeline, ready for pretraining to index without copying.

A *frame* is one observation seen before a decision (one per 50 ms step by default). The timeline holds the action
of every 10 ms physics tick of an episode, so labels can be read at any offset from a frame, as a person's inputs
change between the agent's decisions. Offsets that fall outside the frame's own episode are masked, never clamped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from hairpin.actions import ACTION_KEYS
from hairpin.data.meta import DatasetError

__all__ = ["DemoArrays", "keys_to_actions"]


_CODE_TO_ACTION = np.full(16, -1, np.int8)
_CODE_TO_ACTION[ACTION_KEYS.astype(np.int64) @ np.array([8, 4, 2, 1])] = np.arange(len(ACTION_KEYS))
"""Action index of each key code accel·8 + brake·4 + left·2 + right."""


def keys_to_actions(keys: np.ndarray) -> np.ndarray:
    """Key presses (..., 4) [accel, brake, left, right] → action indices (...,) int8; left+right counts as neither."""
    k = np.asarray(keys).astype(np.int8)  # a copy
    k[(k[..., 2] > 0) & (k[..., 3] > 0), 2:] = 0
    code = k[..., 0] * 8 + k[..., 1] * 4 + k[..., 2] * 2 + k[..., 3]  # (...,)
    return _CODE_TO_ACTION[code]


@dataclass(frozen=True)
class DemoArrays:
    """T frames from E episodes, episodes stored one after another."""

    images: np.ndarray  # (T, 1, H, W) uint8, the frame seen before each decision
    floats: np.ndarray  # (T, F) float32, obs.py floats at that frame
    actions: np.ndarray  # (T,) int64, the action of the first tick after the frame (the label at 0 ms)
    rewards: np.ndarray  # (T,) float32, reward of the step that follows the frame
    race_time_ms: np.ndarray  # (T,) int64, race time at the frame
    episode: np.ndarray  # (T,) int64, episode index of each frame
    episode_starts: np.ndarray  # (E + 1,) int64, first frame of each episode, then T
    finished: np.ndarray  # (E,) bool, the episode crossed the finish line after its last frame's step
    timeline: np.ndarray  # (K,) int8, action of every tick, episodes one after another
    timeline_starts: np.ndarray  # (E + 1,) int64, first tick of each episode, then K
    frame_tick: np.ndarray  # (T,) int64, tick index of each frame within its episode
    maps: tuple[str, ...]  # (E,) map of each episode
    tick_ms: int = 10

    def __post_init__(self) -> None:
        t, e = len(self.actions), len(self.maps)
        for f in ("images", "floats", "rewards", "race_time_ms", "episode", "frame_tick"):
            if len(getattr(self, f)) != t:
                raise ValueError(f"DemoArrays.{f} has {len(getattr(self, f))} rows, expected {t} (one per frame)")
        for f, n in (("episode_starts", e + 1), ("timeline_starts", e + 1), ("finished", e)):
            if len(getattr(self, f)) != n:
                raise ValueError(f"DemoArrays.{f} has {len(getattr(self, f))} entries, expected {n}")
        if self.images.dtype != np.uint8 or self.images.ndim != 4:
            shape, dtype = self.images.shape, self.images.dtype
            raise ValueError(f"DemoArrays.images must be (T, C, H, W) uint8, got {shape} {dtype}")

    @property
    def n_frames(self) -> int:
        return len(self.actions)

    @property
    def n_episodes(self) -> int:
        return len(self.maps)

    @property
    def image_size(self) -> int:
        return int(self.images.shape[-1])

    def labels_at(self, offsets_ms: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """Actions ``offsets_ms`` after each frame: labels (T, O) int64 and valid (T, O) bool.

        An offset must be a multiple of ``tick_ms``. A label whose tick lies before its episode's first tick or after
        its last is invalid (its value is 0), so no label is read from a neighbouring episode or repeated from an edge.
        """
        offsets = np.asarray(offsets_ms, np.int64)
        if np.any(offsets % self.tick_ms):
            raise ValueError(f"bc offsets must be multiples of {self.tick_ms} ms, got {offsets.tolist()}")
        ticks = self.frame_tick[:, None] + offsets[None, :] // self.tick_ms  # (T, O) tick within the episode
        length = (self.timeline_starts[1:] - self.timeline_starts[:-1])[self.episode]  # (T,)
        valid = (ticks >= 0) & (ticks < length[:, None])  # (T, O)
        index = self.timeline_starts[self.episode][:, None] + np.where(valid, ticks, 0)  # (T, O)
        labels = np.where(valid, self.timeline[index], 0).astype(np.int64)  # (T, O)
        return labels, valid

    def select_episodes(self, keep: Sequence[int] | np.ndarray) -> DemoArrays:
        """A new DemoArrays with only the episodes ``keep`` (indices, in that order)."""
        keep = np.asarray(keep, np.int64)
        frame_idx = np.concatenate(
            [np.arange(self.episode_starts[e], self.episode_starts[e + 1]) for e in keep] or [np.zeros(0, np.int64)]
        )
        tick_idx = np.concatenate(
            [np.arange(self.timeline_starts[e], self.timeline_starts[e + 1]) for e in keep] or [np.zeros(0, np.int64)]
        )
        frame_counts = self.episode_starts[keep + 1] - self.episode_starts[keep]
        tick_counts = self.timeline_starts[keep + 1] - self.timeline_starts[keep]
        return DemoArrays(
            images=self.images[frame_idx],
            floats=self.floats[frame_idx],
            actions=self.actions[frame_idx],
            rewards=self.rewards[frame_idx],
            race_time_ms=self.race_time_ms[frame_idx],
            episode=np.repeat(np.arange(len(keep)), frame_counts),
            episode_starts=np.concatenate([[0], np.cumsum(frame_counts)]).astype(np.int64),
            finished=self.finished[keep],
            timeline=self.timeline[tick_idx],
            timeline_starts=np.concatenate([[0], np.cumsum(tick_counts)]).astype(np.int64),
            frame_tick=self.frame_tick[frame_idx],
            maps=tuple(self.maps[e] for e in keep),
            tick_ms=self.tick_ms,
        )

    def split_by_map(self, validation_maps: Sequence[str]) -> tuple[DemoArrays, DemoArrays]:
        """(train, validation): every episode of a map in ``validation_maps`` goes to validation, never a frame."""
        unknown = sorted(set(validation_maps) - set(self.maps))
        if unknown:
            raise DatasetError(
                f"validation maps {unknown} are not in the dataset; it has {sorted(set(self.maps))}: set "
                "data.validation_maps to maps it holds"
            )
        is_val = np.array([m in set(validation_maps) for m in self.maps], bool)
        if is_val.all():
            raise ValueError(f"validation maps {sorted(validation_maps)} leave no episode for training")
        return self.select_episodes(np.flatnonzero(~is_val)), self.select_episodes(np.flatnonzero(is_val))

    def nbytes(self) -> int:
        """Memory held by the arrays."""
        return sum(getattr(self, f.name).nbytes for f in fields(self) if isinstance(getattr(self, f.name), np.ndarray))
