"""Batch scoring of users with trained models (intent, churn), streaming in user buckets."""

from predictors.scoring.intent_churn import (
    iter_churn_scores,
    iter_intent_scores,
    score_churn,
    score_intent,
)

__all__ = ["iter_churn_scores", "iter_intent_scores", "score_churn", "score_intent"]
