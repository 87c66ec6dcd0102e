"""Train and evaluate the purchase-intent model with a temporal split, baselines in the same run.

Cut-off plan (all cut-offs share one horizon ``h``; see :func:`plan_cutoffs`)::

    train cut-offs  t_1 < … < t_n      labels in [t_i, t_i + h),  t_n + h <= c_1
    calibration     c_1 < … < c_m      labels in [c_j, c_j + h),  c_m + h <= T
    test            T                  labels in [T, T + h)

Features at any cut-off read only events before it. Per level (item, user):

1. **Model selection** (when several model families are configured): rolling-origin
   validation on cut-offs *before* the test — the first calibration cut-off and earlier
   training cut-offs spaced one horizon apart, each scored by a fit on the training cut-offs
   whose label windows end before it. The one-standard-error rule picks the family: the one
   with the fewest features whose mean AUC is within one standard error of the best mean
   (a few noisy folds cannot tell close families apart; the simpler one generalises more
   safely). The small habit family competes at the user level only
   (:data:`USER_ONLY_FAMILIES`). The test cut-off plays no part.
2. **Fit** the chosen family on all training cut-offs (item level: negatives subsampled at
   ``neg_sample_rate`` and re-weighted by its inverse), **calibrate** on the calibration
   cut-offs, **test** once.

The hand baselines — "carted and not bought" and a logistic regression on recency /
frequency counts — go through the same fit → calibrate → test path on the same rows, so
the comparison is like for like.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from core.errors import InputError
from predictors.evaluation.calibration import (
    ReliabilityCurve,
    expected_calibration_error,
    reliability_curve,
)
from predictors.evaluation.classification import (
    binary_metrics,
    bootstrap_ci,
    paired_bootstrap_diff,
    roc_auc,
)
from predictors.features import (
    DurationLike,
    SourceSpan,
    TimeLike,
    check_cutoff,
    iso,
    require_timed,
    source_span,
    to_duration_us,
    to_epoch_us,
)
from predictors.features import intent_features as F
from predictors.models.intent import (
    MODEL_FAMILIES,
    CalibratedClassifier,
    ColumnScoreClassifier,
    GBMParams,
    IntentModel,
    logistic_model,
    make_estimator,
)

log = logging.getLogger(__name__)

MODEL_NAME = "model"

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
class IntentTrainConfig:
    """What to train on and how: source, horizon, cut-off schedule, model and calibration.

    `features` None = windows scaled to the horizon (:meth:`IntentFeatureConfig.for_horizon`).
    `model_families` lists the candidates for rolling-origin selection (one = no selection).
    """

    source: str = "taobao"
    horizon: DurationLike = "1D"
    test_cutoff: TimeLike | None = None
    n_train_cutoffs: int = 5
    n_calibration_cutoffs: int = 1
    step: DurationLike | None = None
    calibration: str = "auto"
    features: F.IntentFeatureConfig | None = None
    model_families: tuple[str, ...] = ("logistic", "gbm", "logistic_habit")
    selection_folds: int = 3
    logistic_c: float = 0.1
    gbm: GBMParams = field(default_factory=GBMParams)
    neg_sample_rate: float = 0.2
    n_bins: int = 10
    n_bootstrap: int = 1000
    seed: int = 0
    n_threads: int = 1
    progress: bool = True

    def feature_config(self) -> F.IntentFeatureConfig:
        """The feature windows in use."""
        return self.features or F.IntentFeatureConfig.for_horizon(self.horizon)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "source": self.source,
            "horizon": str(self.horizon),
            "test_cutoff": None if self.test_cutoff is None else str(self.test_cutoff),
            "n_train_cutoffs": self.n_train_cutoffs,
            "n_calibration_cutoffs": self.n_calibration_cutoffs,
            "step": None if self.step is None else str(self.step),
            "calibration": self.calibration,
            "features": self.feature_config().to_dict(),
            "model_families": list(self.model_families),
            "selection_folds": self.selection_folds,
            "logistic_c": self.logistic_c,
            "gbm": self.gbm.to_dict(),
            "neg_sample_rate": self.neg_sample_rate,
            "n_bins": self.n_bins,
            "n_bootstrap": self.n_bootstrap,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class CutoffPlan:
    """The cut-offs (epoch µs) of a temporal split and their shared horizon."""

    train: tuple[int, ...]
    calibration: tuple[int, ...]
    test: int
    horizon_us: int

    def to_dict(self) -> dict[str, Any]:
        """Cut-offs as ISO text, horizon in hours."""
        return {
            "train": [iso(c) for c in self.train],
            "calibration": [iso(c) for c in self.calibration],
            "test": iso(self.test),
            "horizon_hours": self.horizon_us / 3.6e9,
            "label_window": "[cut-off, cut-off + horizon)",
            "features": "events strictly before the cut-off",
        }


def plan_cutoffs(
    span: SourceSpan,
    horizon: DurationLike,
    test_cutoff: TimeLike | None,
    n_train: int,
    n_calibration: int = 1,
    step: DurationLike | None = None,
    purpose: str = "training",
) -> CutoffPlan:
    """Lay out train / calibration / test cut-offs backwards from the test cut-off.

    Default test cut-off: the last event minus one horizon. Calibration cut-offs end one
    horizon before the test cut-off; training cut-offs end one horizon before the first
    calibration cut-off, so no label window overlaps a later stage. Every cut-off is checked
    against the data range (InputError names the one that does not fit).
    """
    if n_train < 1 or n_calibration < 1:
        raise InputError("need at least one training and one calibration cut-off")
    h = to_duration_us(horizon)
    s = h if step is None else to_duration_us(step)
    if span.max_us is None:
        check_cutoff(span, 0, purpose)  # raises: no timestamps
    assert span.max_us is not None
    test = span.max_us - h if test_cutoff is None else to_epoch_us(test_cutoff)
    check_cutoff(span, test, f"{purpose} (test cut-off)", h)
    calib = tuple(sorted(test - h - i * s for i in range(n_calibration)))
    train = tuple(sorted(calib[0] - h - i * s for i in range(n_train)))
    for c in calib:
        check_cutoff(span, c, f"{purpose} (calibration cut-off)", h)
    for c in train:
        check_cutoff(span, c, f"{purpose} (training cut-off; use fewer or a shorter step)", h)
    return CutoffPlan(train=train, calibration=calib, test=test, horizon_us=h)


@dataclass
class LevelData:
    """Features and labels of one level (item or user) for a set of cut-offs, stacked."""

    X: pd.DataFrame
    y: np.ndarray
    cutoffs: np.ndarray
    weight: np.ndarray | None = None

    def select(self, mask: np.ndarray) -> LevelData:
        """The rows where `mask` is true."""
        return LevelData(
            self.X[mask].reset_index(drop=True),
            self.y[mask],
            self.cutoffs[mask],
            None if self.weight is None else self.weight[mask],
        )


@dataclass
class LevelResult:
    """Test metrics of every scorer at one level, plus data sizes and comparisons."""

    level: str
    sizes: dict[str, dict[str, int]]
    metrics: dict[str, dict[str, Any]]
    reliability: dict[str, ReliabilityCurve]
    comparisons: dict[str, dict[str, float | None]]
    best_baseline: str
    model_beats_best_baseline: bool
    y_test: np.ndarray = field(repr=False)
    p_test: dict[str, np.ndarray] = field(repr=False)
    selection: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (without per-row predictions)."""
        return {
            "level": self.level,
            "sizes": self.sizes,
            "model_selection": self.selection,
            "metrics": self.metrics,
            "reliability": {k: v.to_dict() for k, v in self.reliability.items()},
            "model_vs_baselines_auc": self.comparisons,
            "best_baseline": self.best_baseline,
            "model_beats_best_baseline_auc": self.model_beats_best_baseline,
        }


@dataclass
class IntentTrainResult:
    """The fitted model and the evaluation of the run."""

    model: IntentModel
    plan: CutoffPlan
    item: LevelResult
    user: LevelResult
    timings_s: dict[str, float]
    config: IntentTrainConfig

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly report of the run."""
        return {
            "config": self.config.to_dict(),
            "cutoffs": self.plan.to_dict(),
            "item_level": self.item.to_dict(),
            "user_level": self.user.to_dict(),
            "timings_s": self.timings_s,
        }


def _stack(frames: list[pd.DataFrame], labels: list[np.ndarray], cutoffs: list[int]) -> LevelData:
    sizes = [len(f) for f in frames]
    X = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    y = np.concatenate(labels) if labels else np.zeros(0, dtype=np.int64)
    return LevelData(X, y, np.repeat(np.asarray(cutoffs, dtype=np.int64), sizes))


def build_intent_data(
    con: duckdb.DuckDBPyConnection,
    source: str,
    cutoffs: tuple[int, ...],
    horizon_us: int,
    features: F.IntentFeatureConfig,
    progress: bool = False,
    desc: str = "intent features",
) -> tuple[LevelData, LevelData]:
    """Item-level and user-level features + labels for each cut-off, stacked."""
    item_frames, item_labels, user_frames, user_labels = [], [], [], []
    for c in tqdm(cutoffs, desc=desc, disable=not progress, leave=False):
        Xi = F.item_features(con, source, c, features)
        yi = F.attach_labels(Xi, F.item_labels(con, source, c, horizon_us), F.ITEM_KEYS)
        Xu = F.user_features(con, source, c, features)
        yu = F.attach_labels(Xu, F.user_labels(con, source, c, horizon_us), F.USER_KEYS)
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
        _stack(item_frames, item_labels, list(cutoffs)),
        _stack(user_frames, user_labels, list(cutoffs)),
    )


def subsample_negatives(data: LevelData, rate: float, seed: int = 0) -> LevelData:
    """Keep every positive and a `rate` share of negatives, weighted 1/rate (rate 1 = all)."""
    if not 0.0 < rate <= 1.0:
        raise InputError(f"negative sampling rate must be in (0, 1], got {rate}")
    if rate == 1.0:
        return data
    rng = np.random.default_rng(seed)
    keep = (data.y == 1) | (rng.random(data.y.size) < rate)
    out = data.select(keep)
    out.weight = np.where(out.y == 1, 1.0, 1.0 / rate)
    return out


def _sizes(train: LevelData, calib: LevelData, test: LevelData) -> dict[str, dict[str, int]]:
    return {
        name: {"rows": int(d.y.size), "positives": int(d.y.sum())}
        for name, d in (("train", train), ("calibration", calib), ("test", test))
    }


def _require_both_classes(data: LevelData, what: str) -> None:
    if data.y.size == 0 or data.y.min() == data.y.max():
        raise InputError(
            f"{what} has {int(data.y.sum())} positives among {data.y.size} rows; "
            "both outcomes are needed (choose other cut-offs or a longer horizon)"
        )


def informative_features(X: pd.DataFrame, keys: tuple[str, ...]) -> list[str]:
    """Feature columns that vary in the training rows.

    All-NaN or constant columns are dropped (e.g. price features on a source without prices).
    """
    keep, dropped = [], []
    for col in [c for c in X.columns if c not in keys]:
        values = X[col].dropna()
        (keep if values.nunique() > 1 else dropped).append(col)
    if dropped:
        log.info("dropping %d uninformative features: %s", len(dropped), dropped)
    return keep


def selection_cutoffs(plan: CutoffPlan, n_folds: int) -> list[int]:
    """Validation cut-offs for model selection: the first calibration cut-off, then training
    cut-offs one horizon apart going back (those present in the plan)."""
    folds = [plan.calibration[0]]
    train = set(plan.train)
    for j in range(1, max(1, n_folds)):
        v = plan.calibration[0] - j * plan.horizon_us
        if v in train:
            folds.append(v)
    return folds


def select_family(
    families: tuple[str, ...],
    make: Callable[[str], CalibratedClassifier],
    train: LevelData,
    calib: LevelData,
    folds: list[int],
    horizon_us: int,
) -> tuple[str, dict[str, Any]]:
    """Pick a model family by rolling-origin validation AUC with the one-standard-error rule.

    Fold ``v``: fit on training rows whose label window ends by ``v``, score the rows at
    cut-off ``v``. Folds lacking either outcome are skipped. Among the families whose mean
    AUC is within one standard error (over folds) of the best mean, the one with the fewest
    features wins, then the higher mean, then the earlier family.
    """
    if len(families) == 1:
        return families[0], {"families": list(families), "selected": families[0]}
    table: dict[str, dict[str, float]] = {f: {} for f in families}
    n_features = {f: len(make(f).features) for f in families}
    for v in folds:
        fit = train.select(train.cutoffs + horizon_us <= v)
        val = calib.select(calib.cutoffs == v) if v in set(calib.cutoffs) else None
        if val is None:
            val = train.select(train.cutoffs == v)
        if fit.y.size == 0 or fit.y.min() == fit.y.max() or val.y.min() == val.y.max():
            continue
        for family in families:
            clf = make(family).fit(fit.X, fit.y, fit.weight)
            table[family][iso(v)] = roc_auc(val.y, clf.raw_score(val.X)) or 0.0
    means = {f: float(np.mean(list(t.values()))) if t else float("nan") for f, t in table.items()}
    scored = [f for f in families if not np.isnan(means[f])]
    if not scored:
        log.warning("no usable validation fold; keeping the first family %s", families[0])
        selected = families[0]
        threshold = float("nan")
    else:
        best = max(scored, key=lambda f: means[f])
        values = list(table[best].values())
        se = float(np.std(values, ddof=1) / np.sqrt(len(values))) if len(values) > 1 else 0.0
        threshold = means[best] - se
        close = [f for f in scored if means[f] >= threshold]
        selected = min(close, key=lambda f: (n_features[f], -means[f], families.index(f)))
    log.info("model selection: mean validation AUC %s -> %s", means, selected)
    return selected, {
        "families": list(families),
        "n_features": n_features,
        "validation_auc": table,
        "mean_validation_auc": means,
        "one_se_threshold": threshold,
        "selected": selected,
        "rule": "one-standard-error rule over rolling-origin validation cut-offs before the "
        "test: fewest features among the families within one SE of the best mean AUC",
    }


def evaluate_scorers(
    level: str,
    scorers: dict[str, CalibratedClassifier],
    train: LevelData,
    calib: LevelData,
    test: LevelData,
    calibration: str,
    n_bins: int = 10,
    n_bootstrap: int = 1000,
    seed: int = 0,
    model_name: str = MODEL_NAME,
) -> LevelResult:
    """Fit, calibrate and test each scorer the same way; compare the model's AUC to the rest.

    `scorers` maps a name to an unfitted :class:`CalibratedClassifier`; `model_name` is the
    one compared against the others (the baselines; names starting with ``candidate_`` are
    reported but not counted as baselines). Each scorer reports calibrated AUC, PR-AUC, log
    loss, Brier, ECE (equal-width and equal-mass bins), its raw-score AUC and a bootstrap 95%
    interval of the AUC; the model's raw probabilities are also reported as
    ``<model>_uncalibrated``.
    """
    for what, data in (
        ("training window", train),
        ("calibration window", calib),
        ("test window", test),
    ):
        _require_both_classes(data, f"{level}-level {what}")
    metrics: dict[str, dict[str, Any]] = {}
    curves: dict[str, ReliabilityCurve] = {}
    preds: dict[str, np.ndarray] = {}
    for name, scorer in scorers.items():
        scorer.fit(train.X, train.y, train.weight)
        raw = scorer.raw_score(test.X)
        scorer.fit_calibration(calib.X, calib.y, calibration)
        variants = {name: scorer.predict_proba(test.X)}
        if name == model_name:
            variants[f"{name}_uncalibrated"] = raw
        for vname, p in variants.items():
            m = binary_metrics(test.y, p)
            m["auc_raw_score"] = roc_auc(test.y, raw)
            m["auc_ci95"] = bootstrap_ci(test.y, p, roc_auc, n_bootstrap, seed=seed)
            m["ece"] = expected_calibration_error(test.y, p, n_bins, "uniform")
            m["ece_quantile"] = expected_calibration_error(test.y, p, n_bins, "quantile")
            m["mean_predicted"] = float(np.mean(p))
            metrics[vname] = m
            curves[vname] = reliability_curve(test.y, p, n_bins, "quantile")
            preds[vname] = p
    baselines = [n for n in scorers if n != model_name and not n.startswith("candidate_")]
    comparisons = {
        b: paired_bootstrap_diff(
            test.y, preds[model_name], preds[b], roc_auc, n_bootstrap, seed=seed
        )
        for b in baselines
    }
    best = max(baselines, key=lambda b: metrics[b]["auc"] or 0.0) if baselines else ""
    beats = bool(best) and (metrics[model_name]["auc"] or 0.0) > (metrics[best]["auc"] or 0.0)
    return LevelResult(
        level, _sizes(train, calib, test), metrics, curves, comparisons, best, beats, test.y, preds
    )


def intent_baselines(level: str, features: list[str]) -> dict[str, CalibratedClassifier]:
    """The hand baselines of a level: an indicator of carted-and-not-bought, and a logistic
    regression on recency / frequency counts."""
    if level == "item":
        indicator, rf, name = "ui_n_cart", ITEM_RF_FEATURES, "carted_not_bought"
    else:
        indicator, rf, name = "n_carted_items", USER_RF_FEATURES, "has_carted_not_bought"
    missing = [f for f in (indicator, *rf) if f not in features]
    if missing:
        raise InputError(f"{level}-level features lack baseline columns {missing}")
    return {
        name: CalibratedClassifier(ColumnScoreClassifier(0, "indicator"), [indicator]),
        "logreg_recency_frequency": CalibratedClassifier(logistic_model(C=1.0), list(rf)),
    }


def _check_families(families: tuple[str, ...]) -> None:
    bad = [f for f in families if f not in MODEL_FAMILIES]
    if not families or bad:
        raise InputError(f"model families must be among {MODEL_FAMILIES}; got {families}")


def train_intent(
    con: duckdb.DuckDBPyConnection,
    config: IntentTrainConfig | None = None,
) -> IntentTrainResult:
    """Temporal-split training of the intent model with baselines; returns model + evaluation.

    Raises InputError when the source is missing, untimed or has no purchases, when the
    cut-off plan does not fit its time range, or when a window lacks positives or negatives.
    """
    cfg = config or IntentTrainConfig()
    _check_families(cfg.model_families)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    span = source_span(con, cfg.source)
    require_timed(span, "purchase-intent training")
    if "purchase" not in span.event_types:
        raise InputError(
            f"source {cfg.source!r} has no purchase events (has {list(span.event_types)}); "
            "purchase intent needs them as labels"
        )
    plan = plan_cutoffs(
        span,
        cfg.horizon,
        cfg.test_cutoff,
        cfg.n_train_cutoffs,
        cfg.n_calibration_cutoffs,
        cfg.step,
        "purchase-intent training",
    )
    log.info("intent cut-offs: %s", plan.to_dict())
    fcfg = cfg.feature_config()
    stages = (("train", plan.train), ("calibration", plan.calibration), ("test", (plan.test,)))
    data = {
        name: build_intent_data(
            con, cfg.source, cutoffs, plan.horizon_us, fcfg, cfg.progress, f"features ({name})"
        )
        for name, cutoffs in stages
    }
    timings["features"] = time.perf_counter() - t0
    gbm = GBMParams(**{**cfg.gbm.to_dict(), "seed": cfg.seed})
    folds = selection_cutoffs(plan, cfg.selection_folds)
    classifiers: dict[str, CalibratedClassifier] = {}
    results: dict[str, LevelResult] = {}
    for idx, level in enumerate(("item", "user")):
        t1 = time.perf_counter()
        keys = F.ITEM_KEYS if level == "item" else F.USER_KEYS
        train, calib, test = (data[s][idx] for s in ("train", "calibration", "test"))
        _require_both_classes(train, f"{level}-level training window")
        if level == "item":
            train = subsample_negatives(train, cfg.neg_sample_rate, cfg.seed)
        features = informative_features(train.X, keys)

        def make(family: str, features: list[str] = features) -> CalibratedClassifier:
            return CalibratedClassifier(
                make_estimator(family, gbm, cfg.logistic_c),
                family_features(family, features),
                n_threads=cfg.n_threads,
            )

        with threadpool_limits(cfg.n_threads):
            families = level_families(cfg.model_families, level)
            family, selection = select_family(
                families, make, train, calib, folds, plan.horizon_us
            )
            classifiers[level] = make(family)
            scorers = {MODEL_NAME: classifiers[level]}
            scorers.update(
                {f"candidate_{f}": make(f) for f in families if f != family}
            )
            scorers.update(intent_baselines(level, features))
            results[level] = evaluate_scorers(
                level,
                scorers,
                train,
                calib,
                test,
                cfg.calibration,
                cfg.n_bins,
                cfg.n_bootstrap,
                cfg.seed,
            )
        results[level].selection = {**selection, "family": family}
        timings[f"{level}_fit_evaluate"] = time.perf_counter() - t1
        r = results[level]
        log.info(
            "%s level (%s): model AUC %.4f vs best baseline %s %.4f",
            level,
            family,
            r.metrics[MODEL_NAME]["auc"] or float("nan"),
            r.best_baseline,
            r.metrics[r.best_baseline]["auc"] or float("nan"),
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
            "test_metrics": {
                lvl: {
                    k: results[lvl].metrics[MODEL_NAME][k]
                    for k in ("auc", "pr_auc", "log_loss", "ece")
                }
                for lvl in results
            },
        },
    )
    timings["total"] = time.perf_counter() - t0
    return IntentTrainResult(model, plan, results["item"], results["user"], timings, cfg)
