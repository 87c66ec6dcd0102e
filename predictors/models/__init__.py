"""Next-item recommenders: the SASRec transformer and non-neural baselines."""

from predictors.models.baselines import ItemTransition, MostPopular
from predictors.models.sasrec import SASRec, SASRecConfig

__all__ = ["ItemTransition", "MostPopular", "SASRec", "SASRecConfig"]
