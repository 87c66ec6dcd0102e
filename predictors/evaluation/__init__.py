"""Splits, ranking metrics and the full-ranking evaluator for next-item models."""

from predictors.evaluation.evaluator import Scorer, compute_ranks, evaluate, top_k_throughput
from predictors.evaluation.metrics import (
    hit_rate_at_k,
    mask_history,
    mrr,
    ndcg_at_k,
    ranks_from_scores,
    summarize_ranks,
)
from predictors.evaluation.splits import (
    EvalSet,
    LeaveOneOutSplit,
    TemporalSplit,
    leave_one_out_split,
    temporal_split,
)

__all__ = [
    "EvalSet",
    "LeaveOneOutSplit",
    "Scorer",
    "TemporalSplit",
    "compute_ranks",
    "evaluate",
    "hit_rate_at_k",
    "leave_one_out_split",
    "mask_history",
    "mrr",
    "ndcg_at_k",
    "ranks_from_scores",
    "summarize_ranks",
    "temporal_split",
    "top_k_throughput",
]
