"""Training loops for predictors models."""

from predictors.training.losses import full_softmax_loss, sampled_softmax_loss
from predictors.training.runtime import seed_everything, select_device
from predictors.training.sequence_trainer import EpochLog, TrainConfig, TrainResult, fit

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
