"""Accuracy of behavioural cloning and the two baselines it must beat, as pure functions of numpy arrays.

- Majority: always predict the training split's most frequent action (ties go to the lowest action index).
- Repeat previous: predict the action of the previous frame of the same episode, i.e. "keep doing what you did",
  which is hard to beat on frames 50 ms apart. The first frame of an episode has no previous frame and predicts
  the majority action.

Both are measured at 0 ms on the validation split, on the same frames as the model's ``val_acc_0ms``.
"""

from __future__ import annotations

import numpy as np

from hairpin.actions import N_ACTIONS
from hairpin.pretrain.run import PretrainRunError

__all__ = [
    "accuracy",
    "majority_action",
    "majority_baseline_acc",
    "per_action_recall",
    "repeat_prev_baseline_acc",
    "repeat_prev_predictions",
]


def majority_action(actions: np.ndarray, n_actions: int = N_ACTIONS) -> int:
    """The most frequent action of ``actions`` (T,); ties go to the lowest index. Raises when empty."""
    if len(actions) == 0:
        raise PretrainRunError("no action to take a majority of: the training split is empty")
    return int(np.bincount(actions, minlength=n_actions).argmax())


def accuracy(pred: np.ndarray, labels: np.ndarray, valid: np.ndarray | None = None) -> float:
    """Share of ``pred == labels`` over the valid entries (same shapes); NaN when none is valid."""
    valid = np.ones(labels.shape, bool) if valid is None else valid
    n = int(valid.sum())
    return float(((pred == labels) & valid).sum() / n) if n else float("nan")


def majority_baseline_acc(labels: np.ndarray, majority: int) -> float:
    """Accuracy of always predicting ``majority`` on ``labels`` (T,)."""
    return accuracy(np.full_like(labels, majority), labels)


def repeat_prev_predictions(actions: np.ndarray, episode_starts: np.ndarray, majority: int) -> np.ndarray:
    """Each frame's prediction (T,): the previous frame's action, or ``majority`` on an episode's first frame."""
    pred = np.empty_like(actions)
    pred[1:] = actions[:-1]
    pred[episode_starts[:-1][episode_starts[:-1] < len(actions)]] = majority
    return pred


def repeat_prev_baseline_acc(actions: np.ndarray, episode_starts: np.ndarray, majority: int) -> float:
    """Accuracy of ``repeat_prev_predictions`` on ``actions`` (T,) with episode boundaries ``episode_starts``."""
    return accuracy(repeat_prev_predictions(actions, episode_starts, majority), actions)


def per_action_recall(pred: np.ndarray, labels: np.ndarray, n_actions: int = N_ACTIONS) -> np.ndarray:
    """(A,) accuracy on the frames whose label is each action; NaN for an action that never is the label."""
    hits = np.bincount(labels[pred == labels], minlength=n_actions).astype(np.float64)  # (A,)
    counts = np.bincount(labels, minlength=n_actions).astype(np.float64)  # (A,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, hits / np.maximum(counts, 1), np.nan)
