"""Train and evaluate the purchase-intent model with a temporal split, baselines in the same run.

The cut-off plan and the select → fit → calibrate → test harness are shared with the churn
trainer (:mod:`predictors.training.cutoffs`, :mod:`predictors.training.temporal`). What is
intent-specific lives here: two levels (item: P(buy this candidate item), user: P(buy
anything)), negative subsampling at the item level (kept negatives re-weighted by the inverse
rate), the small habit family offered at the user level only (:data:`USER_ONLY_FAMILIES`),
and the hand baselines — "carted and not bought" and a logistic regression on recency /
frequency counts — which go through the same path on the same rows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import duckdb
from tqdm import tqdm

from core.errors import InputError
from predictors.features import SourceSpan, iso, require_timed
from predictors.features import intent_features as F
from predictors.features.labels import attach_labels
from predictors.models.classifier import (
    CalibratedClassifier,
    column_baseline,
    logistic_baseline,
)
from predictors.models.intent import IntentModel
from predictors.training import temporal

log = logging.getLogger(__name__)

PURPOSE = "purchase-intent training"

ITEM_RF_FEATURES: tuple[str, ...] = (
    "ui_n_view",
    "ui_n_cart",
    "ui_n_fav",
    "ui_n_events",
    "ui_hours_since_last",
    "ui_hours_since_cart",
    "u_n_events",
    "u_n_purchase",
    "u_hours_since_last",
)
"""Recency/frequency columns of the item-level logistic baseline."""

USER_RF_FEATURES: tuple[str, ...] = (
    "u_n_events",
    "u_n_view",
    "u_n_cart",
    "u_n_fav",
    "u_n_purchase",
    "u_hours_since_last",
    "u_hours_since_purchase",
    "u_hours_since_cart",
    "u_active_days",
    "u_n_events_recent",
)
"""Recency/frequency columns of the user-level logistic baseline."""

HABIT_FEATURES: tuple[str, ...] = (
    "ul_active_day_rate",
    "ul_purchase_day_rate",
    "ul_purchases_per_day",
)
"""Long-run habit rates over all of the user's history (active / purchase days per observed
day, purchases per day), added to the recency / frequency counts by `logistic_habit`."""


USER_ONLY_FAMILIES: tuple[str, ...] = ("logistic_habit",)
"""Families offered at the user level only: "will this user buy anything in the horizon" is
mostly a question of the user's buying habit, so a small habit model is a natural candidate
there; at the item level the user-item funnel carries the signal and the full feature set
already includes the habit rates."""


def level_families(families: tuple[str, ...], level: str) -> tuple[str, ...]:
    """The configured model families that apply to a level (never empty)."""
    kept = tuple(f for f in families if level == "user" or f not in USER_ONLY_FAMILIES)
    return kept or ("logistic",)


def family_features(family: str, features: list[str]) -> list[str]:
    """The columns a model family uses: all informative ones, or for `logistic_habit` the
    user-level recency / frequency counts plus the long-run habit rates."""
    if family != "logistic_habit":
        return features
    return [f for f in (*USER_RF_FEATURES, *HABIT_FEATURES) if f in features]


@dataclass
class IntentTrainConfig(temporal.TemporalTrainConfig):
    """What to train on and how: source, horizon, cut-off schedule, model and calibration.

    `features` None = windows scaled to the horizon (:meth:`IntentFeatureConfig.for_horizon`).
    `model_families` lists the candidates for rolling-origin selection (one = no selection).
    """

    source: str = "taobao"
    model_families: tuple[str, ...] = ("logistic", "gbm", "logistic_habit")
    features: F.IntentFeatureConfig | None = None
    neg_sample_rate: float = 0.2

    def feature_config(self) -> F.IntentFeatureConfig:
        """The feature windows in use."""
        return self.features or F.IntentFeatureConfig.for_horizon(self.horizon)

    def extra_settings(self) -> dict[str, Any]:
        """Feature windows and the item-level negative sampling rate."""
        return {"features": self.feature_config().to_dict(),
                "neg_sample_rate": self.neg_sample_rate}


@dataclass
class IntentTrainResult(temporal.TemporalTrainReport):
    """The fitted model and the evaluation of the run, at item and user level."""

    model: IntentModel
    item: temporal.LevelResult
    user: temporal.LevelResult

    def evaluations(self) -> dict[str, temporal.LevelResult]:
        """The item and user levels, as ``item_level`` and ``user_level``."""
        return {"item_level": self.item, "user_level": self.user}


def build_intent_data(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cutoffs: tuple[int, ...],
    horizon_us: int,
    features: F.IntentFeatureConfig,
    progress: bool = False,
    desc: str = "intent features",
) -> tuple[temporal.LevelData, temporal.LevelData]:
    """Item-level and user-level features + labels for each cut-off, stacked."""
    item_frames, item_labels, user_frames, user_labels = [], [], [], []
    for c in tqdm(cutoffs, desc=desc, disable=not progress, leave=False):
        Xi = F.item_features(con, source, c, features)
        yi = attach_labels(Xi, F.item_labels(con, source, c, horizon_us), F.ITEM_KEYS)
        Xu = F.user_features(con, source, c, features)
        yu = attach_labels(Xu, F.user_labels(con, source, c, horizon_us), F.USER_KEYS)
        log.debug(
            "cut-off %s: %d candidates (%d bought), %d users (%d buyers)",
            iso(c),
            len(Xi),
            int(yi.sum()),
            len(Xu),
            int(yu.sum()),
        )
        item_frames.append(Xi)
        item_labels.append(yi)
        user_frames.append(Xu)
        user_labels.append(yu)
    return (
        temporal.stack_level_data(item_frames, item_labels, list(cutoffs)),
        temporal.stack_level_data(user_frames, user_labels, list(cutoffs)),
    )


def intent_baselines(level: str, features: list[str]) -> dict[str, CalibratedClassifier]:
    """The hand baselines of a level: an indicator of carted-and-not-bought, and a logistic
    regression on recency / frequency counts."""
    if level == "item":
        indicator, rf, name = "ui_n_cart", ITEM_RF_FEATURES, "carted_not_bought"
    else:
        indicator, rf, name = "n_carted_items", USER_RF_FEATURES, "has_carted_not_bought"
    if indicator not in features:
        raise InputError(f"{level}-level features lack the baseline column {indicator!r}")
    kept = [f for f in rf if f in features]  # a constant column adds nothing to a logistic fit
    if len(kept) < len(rf):
        log.info("%s-level recency/frequency baseline without constant columns %s", level,
                 sorted(set(rf) - set(kept)))
    return {
        name: column_baseline(indicator, "indicator"),
        "logreg_recency_frequency": logistic_baseline(kept),
    }


def _require_purchases(span: SourceSpan) -> None:
    require_timed(span, PURPOSE)
    if "purchase" not in span.event_types:
        raise InputError(
            f"source {span.source!r} has no purchase events (has {list(span.event_types)}); "
            "purchase intent needs them as labels"
        )


ExtraScorers = Callable[[str, int], dict[str, CalibratedClassifier]]
"""``(level, horizon_us) -> {name: unfitted scorer}``: more candidates tested on the same rows."""


def with_cutoff_column(data: temporal.LevelData) -> temporal.LevelData:
    """The rows with each one's cut-off as a ``cutoff_us`` column (for scorers that read
    events themselves; the feature models ignore it)."""
    return temporal.LevelData(data.X.assign(cutoff_us=data.cutoffs), data.y, data.cutoffs,
                              data.weight)


def train_intent(
    con: duckdb.DuckDBPyConnection,
    config: IntentTrainConfig | None = None,
    extra_scorers: ExtraScorers | None = None,
) -> IntentTrainResult:
    """Temporal-split training of the intent model with baselines; returns model + evaluation.

    `extra_scorers` adds candidates (named ``candidate_*``, e.g. the sequence-aware model of
    ``benchmarks/intent_sequence.py``) that are fitted, calibrated and tested beside the
    selected model on the same rows; they never replace it.

    Raises InputError when the source is missing, untimed or has no purchases, when the
    cut-off plan does not fit its time range, or when a window lacks positives or negatives.
    """
    cfg = config or IntentTrainConfig()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    plan = cfg.plan_split(con, PURPOSE, _require_purchases)
    fcfg = cfg.feature_config()
    data = {
        name: build_intent_data(
            con, cfg.source, cutoffs, plan.horizon_us, fcfg, cfg.progress, f"features ({name})"
        )
        for name, cutoffs in plan.stages()
    }
    timings["features"] = time.perf_counter() - t0
    classifiers: dict[str, CalibratedClassifier] = {}
    results: dict[str, temporal.LevelResult] = {}
    for idx, level in enumerate(("item", "user")):
        t1 = time.perf_counter()
        keys = F.ITEM_KEYS if level == "item" else F.USER_KEYS
        stages = {stage: levels[idx] for stage, levels in data.items()}
        temporal.require_both_classes(stages["train"], f"{level}-level training window")
        if level == "item":
            stages["train"] = temporal.subsample_negatives(stages["train"], cfg.neg_sample_rate,
                                                           cfg.seed)
        features = temporal.informative_features(stages["train"].X, keys)
        others: dict[str, CalibratedClassifier] = dict(intent_baselines(level, features))
        if extra_scorers is not None:
            stages = {stage: with_cutoff_column(rows) for stage, rows in stages.items()}
            others.update({f"candidate_{name}": scorer for name, scorer
                           in extra_scorers(level, plan.horizon_us).items()})
        classifiers[level], results[level] = temporal.fit_select_evaluate(
            level,
            level_families(cfg.model_families, level),
            cfg.classifier_factory(features, family_features),
            others,
            stages,
            plan,
            cfg,
        )
        timings[f"{level}_fit_evaluate"] = time.perf_counter() - t1
        r = results[level]
        log.info(
            "%s level (%s): model AUC %.4f vs best baseline %s %.4f",
            level,
            r.selection["family"],
            r.auc() or float("nan"),
            r.best_baseline,
            r.auc(r.best_baseline) or float("nan"),
        )
    model = IntentModel(
        classifiers["item"],
        classifiers["user"],
        cfg.source,
        str(cfg.horizon),
        fcfg,
        info={
            "cutoffs": plan.to_dict(),
            "families": {lvl: results[lvl].selection["family"] for lvl in results},
            "test_metrics": {lvl: results[lvl].model_headline() for lvl in results},
        },
    )
    timings["total"] = time.perf_counter() - t0
    return IntentTrainResult(cfg, plan, timings, model, results["item"], results["user"])
