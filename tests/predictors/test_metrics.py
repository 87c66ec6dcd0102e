"""Ranking metrics, splits and the full-ranking evaluator on hand-computed cases."""

import math

import numpy as np
import pytest
import torch

from predictors.evaluation import (
    compute_ranks,
    evaluate,
    hit_rate_at_k,
    leave_one_out_split,
    mask_history,
    mrr,
    ndcg_at_k,
    ranks_from_scores,
    summarize_ranks,
    temporal_split,
)


def test_ndcg_hand_computed() -> None:
    assert ndcg_at_k([0], 10) == pytest.approx(1.0)
    assert ndcg_at_k([2], 10) == pytest.approx(1.0 / math.log2(4))
    assert ndcg_at_k([10], 10) == 0.0
    assert ndcg_at_k([0, 2, 10, 50], 10) == pytest.approx((1.0 + 0.5) / 4)


def test_hit_rate_and_mrr_hand_computed() -> None:
    ranks = [0, 1, 3, 9, 10]
    assert hit_rate_at_k(ranks, 1) == pytest.approx(0.2)
    assert hit_rate_at_k(ranks, 10) == pytest.approx(0.8)
    assert mrr(ranks) == pytest.approx((1 + 1 / 2 + 1 / 4 + 1 / 10 + 1 / 11) / 5)


def test_summarize_has_all_keys() -> None:
    out = summarize_ranks(np.array([0, 5, 30]), ks=(10, 20))
    assert set(out) == {"HR@10", "NDCG@10", "HR@20", "NDCG@20", "MRR"}
    assert out["HR@10"] == pytest.approx(2 / 3)
    assert out["HR@20"] == pytest.approx(2 / 3)


def test_negative_ranks_rejected() -> None:
    with pytest.raises(ValueError):
        hit_rate_at_k([-1], 10)


def test_ranks_exclude_padding_column() -> None:
    # padding (col 0) scores highest but must not push the target down
    scores = torch.tensor([[100.0, 0.1, 0.5, 0.3]])
    assert ranks_from_scores(scores, torch.tensor([2])).tolist() == [0]
    assert ranks_from_scores(scores, torch.tensor([1])).tolist() == [2]


def test_ranks_tie_handling() -> None:
    scores = torch.tensor([[0.0, 1.0, 1.0, 1.0, 2.0]])
    assert ranks_from_scores(scores, torch.tensor([2]), ties="pessimistic").tolist() == [3]
    assert ranks_from_scores(scores, torch.tensor([2]), ties="optimistic").tolist() == [1]


def test_mask_history_turns_history_target_into_miss() -> None:
    scores = torch.tensor([[0.0, 3.0, 2.0, 1.0], [0.0, 3.0, 2.0, 1.0]])
    masked = mask_history(scores.clone(), [[1], []])
    assert ranks_from_scores(masked, torch.tensor([2, 2])).tolist() == [0, 1]
    # the target itself in the history is masked as well (S3-Rec behaviour)
    masked = mask_history(scores.clone(), [[2], []])
    assert ranks_from_scores(masked, torch.tensor([2, 2])).tolist()[0] == 2


def test_leave_one_out_split() -> None:
    seqs = [[1, 2, 3, 4, 5], [6, 7, 8], [9, 10]]
    types = [[1, 1, 2, 1, 3], [1, 1, 1], [2, 2]]
    split = leave_one_out_split(seqs, types)
    assert split.train == [[1, 2, 3], [6], [9, 10]]
    assert split.valid.inputs == [[1, 2, 3], [6]]
    assert split.valid.targets == [4, 7]
    assert split.test.inputs == [[1, 2, 3, 4], [6, 7]]
    assert split.test.targets == [5, 8]
    assert split.valid.users == [0, 1] and split.test.users == [0, 1]
    assert split.train_types == [[1, 1, 2], [1], [2, 2]]
    assert split.test.type_inputs == [[1, 1, 2, 1], [1, 1]]


def test_temporal_split() -> None:
    users = [1, 1, 1, 2, 2, 3]
    items = [10, 11, 12, 20, 21, 30]
    times = [3.0, 1.0, 5.0, 1.0, 2.0, 9.0]
    split = temporal_split(users, items, times, cutoff=4.0)
    assert split.train_users == [1, 2]
    assert split.train == [[11, 10], [20, 21]]  # re-ordered by time
    assert split.test.users == [1]  # user 2 has no future, user 3 is cold
    assert split.test.inputs == [[11, 10]]
    assert split.test.targets == [12]
    cold = temporal_split(users, items, times, cutoff=4.0, keep_cold_users=True)
    assert cold.test.users == [1, 3] and cold.test.inputs[1] == []


class _NextIdScorer:
    """Scores item ``last + 1`` highest and item ``last + 2`` second."""

    def __init__(self, n_items: int) -> None:
        self.n_items = n_items

    def score_all(self, item_ids: torch.Tensor, type_ids: torch.Tensor | None = None):
        scores = torch.zeros(item_ids.shape[0], self.n_items + 1)
        last = item_ids[:, -1]
        rows = torch.arange(item_ids.shape[0])
        scores[rows, (last + 1).clamp(max=self.n_items)] = 2.0
        scores[rows, (last + 2).clamp(max=self.n_items)] += 1.0
        return scores


def test_evaluator_ranks_keep_input_order() -> None:
    # histories of different lengths so the length-sorted batching reorders them
    inputs = [[1, 2, 3, 4], [5], [2, 3], [7, 8, 9]]
    targets = [5, 7, 4, 1]
    ranks = compute_ranks(_NextIdScorer(20), inputs, targets, max_len=3, batch_size=2)
    assert ranks.tolist() == [0, 1, 0, 19]
    metrics = evaluate(_NextIdScorer(20), inputs, targets, max_len=3, batch_size=2)
    assert metrics["HR@10"] == pytest.approx(0.75)
    assert metrics["NDCG@10"] == pytest.approx((1 + 1 / math.log2(3) + 1) / 4)


def test_evaluator_filter_history() -> None:
    inputs = [[3, 1]]
    # unfiltered: item 2 is top (last+1), target 3 second; filtering removes 3 itself
    ranks = compute_ranks(_NextIdScorer(5), inputs, [3], max_len=5)
    filtered = compute_ranks(_NextIdScorer(5), inputs, [3], max_len=5, filter_history=True)
    assert ranks.tolist() == [1]
    assert filtered.tolist()[0] >= 4


def test_evaluator_rejects_padding_target() -> None:
    with pytest.raises(ValueError):
        compute_ranks(_NextIdScorer(5), [[1]], [0], max_len=5)
