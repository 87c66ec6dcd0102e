"""Training loops for predictors models."""

from predictors.training.sequence_trainer import (
    EpochLog,
    TrainConfig,
    TrainResult,
    fit,
    full_softmax_loss,
    sampled_softmax_loss,
    seed_everything,
    select_device,
)

__all__ = [
    "EpochLog",
    "TrainConfig",
    "TrainResult",
    "fit",
    "full_softmax_loss",
    "sampled_softmax_loss",
    "seed_everything",
    "select_device",
]
