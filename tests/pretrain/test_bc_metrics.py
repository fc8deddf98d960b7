"""BC baselines and accuracies on a hand-made dataset with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hairpin.pretrain.bc_metrics import (
    accuracy,
    majority_action,
    majority_baseline_acc,
    per_action_recall,
    repeat_prev_baseline_acc,
    repeat_prev_predictions,
)

TRAIN_ACTIONS = np.array([0, 0, 1, 2, 2, 2])
VAL_ACTIONS = np.array([1, 1, 1, 2, 0, 0])  # episode 0: frames 0-3, episode 1: frames 4-5
VAL_STARTS = np.array([0, 4, 6])


def test_majority_is_the_most_frequent_training_action_and_ties_go_low() -> None:
    assert majority_action(TRAIN_ACTIONS) == 2
    assert majority_action(np.array([3, 3, 1, 1])) == 1
    with pytest.raises(ValueError, match="training split is empty"):
        majority_action(np.zeros(0, np.int64))


def test_majority_baseline() -> None:
    assert majority_baseline_acc(VAL_ACTIONS, 2) == pytest.approx(1 / 6)  # only frame 3 is a 2


def test_repeat_previous_uses_the_majority_at_episode_starts() -> None:
    pred = repeat_prev_predictions(VAL_ACTIONS, VAL_STARTS, majority=2)
    assert pred.tolist() == [2, 1, 1, 1, 2, 0]  # frames 0 and 4 start an episode: the majority, not frame 3's 2
    assert repeat_prev_baseline_acc(VAL_ACTIONS, VAL_STARTS, 2) == pytest.approx(3 / 6)  # frames 1, 2, 5


def test_repeat_previous_never_reads_across_episodes() -> None:
    actions = np.array([5, 7, 7])
    assert repeat_prev_predictions(actions, np.array([0, 1, 3]), majority=0).tolist() == [0, 0, 7]
    assert repeat_prev_predictions(actions, np.array([0, 1, 3]), majority=7).tolist() == [7, 7, 7]


def test_accuracy_counts_valid_entries_only() -> None:
    pred = np.array([[1, 2], [3, 4]])
    labels = np.array([[1, 0], [0, 4]])
    assert accuracy(pred, labels) == 0.5
    assert accuracy(pred, labels, np.array([[True, False], [False, True]])) == 1.0
    assert math.isnan(accuracy(pred, labels, np.zeros((2, 2), bool)))


def test_per_action_recall() -> None:
    labels = np.array([0, 0, 0, 1, 2, 2])
    pred = np.array([0, 0, 1, 1, 0, 2])
    recall = per_action_recall(pred, labels, n_actions=4)
    assert recall[:3].tolist() == pytest.approx([2 / 3, 1.0, 0.5])
    assert math.isnan(recall[3])  # never the label
