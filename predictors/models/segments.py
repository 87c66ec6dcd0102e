"""User segments: k-means over RFM/behavior features and optional user embeddings.

Preprocessing: count features are log1p-transformed, every profile feature is imputed
(median) and standardised. When a ``user_id → vector`` mapping is given (e.g. SASRec user
embeddings), the vectors are L2-normalised, reduced by PCA and scaled so that the embedding
block carries ``embedding_weight`` times the total variance of the profile block; users
without a vector get the mean vector. k is the configured value or the one with the best
silhouette over ``k_range`` (computed on a fixed-seed sample for large inputs).

:func:`describe_segments` turns an assignment into a table of computed facts per segment
(size, RFM means, activity, top categories / items / brands, mean intent and churn) — the
material an LLM can later name and narrate.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.impute import SimpleImputer
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from core.errors import InputError
from predictors.features import TimeLike
from predictors.features.user_features import COUNT_FEATURES, KEYS, top_values_by_segment
from predictors.models.model_dir import SavedModel
from store.checkpoints import SEGMENTS

log = logging.getLogger(__name__)

Embeddings = Mapping[str, np.ndarray]


@dataclass
class SegmentConfig:
    """Clustering settings: fixed `k`, or the best silhouette over `k_range` (inclusive)."""

    k: int | None = None
    k_range: tuple[int, int] = (2, 8)
    seed: int = 0
    n_init: int = 10
    silhouette_sample: int = 5000
    embedding_dims: int = 16
    embedding_weight: float = 1.0
    n_threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return asdict(self)


@dataclass
class SegmentFit:
    """Assignments and the model-selection record of one clustering."""

    assignments: pd.DataFrame
    k: int
    silhouette_by_k: dict[int, float]
    used_embeddings: bool
    embedding_coverage: float
    features: list[str] = field(default_factory=list)


class SegmentModel(SavedModel):
    """Scaler + optional embedding projection + k-means; assigns users to segments."""

    KIND = SEGMENTS

    def __init__(self, config: SegmentConfig | None = None) -> None:
        self.config = config or SegmentConfig()
        self.features: list[str] = []
        self.imputer: SimpleImputer | None = None
        self.scaler: StandardScaler | None = None
        self.pca: PCA | None = None
        self.emb_mean: np.ndarray | None = None
        self.emb_scale = 1.0
        self.emb_dim = 0
        self.kmeans: KMeans | None = None
        self.order_: np.ndarray | None = None
        self.silhouette_by_k: dict[int, float] = {}

    # ----- design matrix -------------------------------------------------------------------
    def _profile_matrix(self, profiles: pd.DataFrame, fit: bool) -> np.ndarray:
        if fit:
            self.features = [c for c in profiles.columns if c not in KEYS
                             and profiles[c].notna().any() and profiles[c].nunique() > 1]
            if not self.features:
                raise InputError("no profile feature varies across users; cannot segment")
        missing = [f for f in self.features if f not in profiles.columns]
        if missing:
            raise InputError(f"profile frame lacks columns {missing}")
        X = profiles[self.features].to_numpy(dtype=np.float64).copy()
        for j, name in enumerate(self.features):
            if name in COUNT_FEATURES or name in ("recency_days", "tenure_days", "monetary"):
                X[:, j] = np.log1p(np.clip(X[:, j], 0.0, None))
        if fit:
            self.imputer = SimpleImputer(strategy="median").fit(X)
            self.scaler = StandardScaler().fit(self.imputer.transform(X))
        assert self.imputer is not None and self.scaler is not None
        return self.scaler.transform(self.imputer.transform(X))

    def _embedding_block(
        self, user_ids: pd.Series, embeddings: Embeddings | None, fit: bool, n_profile: int
    ) -> tuple[np.ndarray | None, float]:
        if fit:
            self.pca, self.emb_dim = None, 0
        if embeddings is None or len(embeddings) == 0:
            if not fit and self.pca is not None:
                raise InputError("this segment model was fitted with embeddings; pass them")
            return None, 0.0
        embeddings = {str(k): v for k, v in embeddings.items()}  # ids are text everywhere
        dims = {np.asarray(v).shape for v in embeddings.values()}
        if len(dims) != 1 or len(next(iter(dims))) != 1:
            raise InputError(f"embeddings must be 1-D vectors of one length; got shapes {dims}")
        dim = next(iter(dims))[0]
        ids = user_ids.astype(str).tolist()
        found = np.array([u in embeddings for u in ids])
        coverage = float(found.mean()) if ids else 0.0
        if fit and coverage == 0.0:
            log.warning("no user has an embedding; segmenting on profile features only")
            return None, 0.0
        if not fit and self.pca is None:
            return None, coverage
        if not fit and dim != self.emb_dim:
            raise InputError(f"embeddings have {dim} dimensions, the model expects {self.emb_dim}")
        E = np.zeros((len(ids), dim))
        for i, u in enumerate(ids):
            if found[i]:
                v = np.asarray(embeddings[u], dtype=np.float64)
                E[i] = v / max(np.linalg.norm(v), 1e-12)
        if fit:
            self.emb_dim = dim
            self.emb_mean = E[found].mean(axis=0)
        assert self.emb_mean is not None
        E[~found] = self.emb_mean
        if fit:
            n_comp = max(1, min(self.config.embedding_dims, dim, int(found.sum()) - 1))
            self.pca = PCA(n_components=n_comp, random_state=self.config.seed).fit(E[found])
        assert self.pca is not None
        Z = self.pca.transform(E)
        if fit:
            total_var = float(Z[found].var(axis=0).sum()) or 1.0
            self.emb_scale = float(np.sqrt(self.config.embedding_weight * n_profile / total_var))
        if coverage < 1.0:
            log.info("%.1f%% of users have no embedding; they get the mean vector",
                     100 * (1 - coverage))
        return Z * self.emb_scale, coverage

    def _design(
        self, profiles: pd.DataFrame, embeddings: Embeddings | None, fit: bool
    ) -> tuple[np.ndarray, float]:
        if profiles.empty:
            raise InputError("no users to segment")
        if "user_id" not in profiles.columns:
            raise InputError("profile frame needs a user_id column")
        P = self._profile_matrix(profiles, fit)
        E, coverage = self._embedding_block(profiles["user_id"], embeddings, fit, P.shape[1])
        return (P if E is None else np.hstack([P, E])), coverage

    # ----- fitting -------------------------------------------------------------------------
    def _candidate_ks(self, n: int) -> list[int]:
        cfg = self.config
        if cfg.k is not None:
            if not 1 <= cfg.k <= n:
                raise InputError(f"k={cfg.k} segments is impossible with {n} users")
            return [cfg.k]
        lo, hi = cfg.k_range
        ks = [k for k in range(max(2, lo), hi + 1) if k < n]
        if not ks:
            raise InputError(f"cannot choose k in {cfg.k_range} for {n} users (need k < n)")
        return ks

    def fit(self, profiles: pd.DataFrame, embeddings: Embeddings | None = None) -> SegmentFit:
        """Cluster users; with no fixed k, pick k by silhouette. Returns assignments + record."""
        with threadpool_limits(self.config.n_threads):
            return self._fit(profiles, embeddings)

    def _fit(self, profiles: pd.DataFrame, embeddings: Embeddings | None) -> SegmentFit:
        X, coverage = self._design(profiles, embeddings, fit=True)
        ks = self._candidate_ks(len(X))
        cfg = self.config
        sample = min(cfg.silhouette_sample, len(X))
        best_s, best_model = -np.inf, None
        self.silhouette_by_k = {}
        for k in ks:
            km = KMeans(n_clusters=k, n_init=cfg.n_init, random_state=cfg.seed).fit(X)
            labels = km.labels_
            if len(ks) == 1:
                best_model = km
                if 1 < len(set(labels)) < len(X):
                    self.silhouette_by_k[k] = float(silhouette_score(
                        X, labels, sample_size=sample, random_state=cfg.seed))
                break
            if len(set(labels)) < 2:
                continue
            s = float(silhouette_score(X, labels, sample_size=sample, random_state=cfg.seed))
            self.silhouette_by_k[k] = s
            log.debug("k=%d silhouette %.4f", k, s)
            if s > best_s:
                best_s, best_model = s, km
        if best_model is None:
            raise InputError("clustering found fewer than two distinct groups of users")
        self.kmeans = best_model
        counts = np.bincount(best_model.labels_, minlength=best_model.n_clusters)
        self.order_ = np.empty(best_model.n_clusters, dtype=np.int64)
        self.order_[np.argsort(-counts, kind="stable")] = np.arange(best_model.n_clusters)
        log.info("segments: k=%d (silhouette by k: %s)", best_model.n_clusters,
                 {k: round(v, 3) for k, v in self.silhouette_by_k.items()})
        assignments = pd.DataFrame({
            "user_id": profiles["user_id"].astype(str).to_numpy(),
            "segment": self._relabel(best_model.labels_),
        })
        return SegmentFit(assignments, int(best_model.n_clusters), dict(self.silhouette_by_k),
                          self.pca is not None, coverage, list(self.features))

    def _relabel(self, labels: np.ndarray) -> np.ndarray:
        """Segment ids ordered by training size (0 = largest), so ids are stable and readable."""
        assert self.order_ is not None
        return self.order_[labels]

    def predict(self, profiles: pd.DataFrame, embeddings: Embeddings | None = None
                ) -> pd.DataFrame:
        """Assign (new) users to the fitted segments: DataFrame(user_id, segment)."""
        if self.kmeans is None:
            raise InputError("segment model is not fitted")
        X, _ = self._design(profiles, embeddings, fit=False)
        with threadpool_limits(self.config.n_threads):
            labels = self.kmeans.predict(X)
        return pd.DataFrame({"user_id": profiles["user_id"].astype(str).to_numpy(),
                             "segment": self._relabel(labels)})

    # ----- persistence ---------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """What the model was fitted with (for metadata.json)."""
        return {
            "kind": self.KIND,
            "config": self.config.to_dict(),
            "features": self.features,
            "k": None if self.kmeans is None else int(self.kmeans.n_clusters),
            "silhouette_by_k": {str(k): v for k, v in self.silhouette_by_k.items()},
            "embedding_dim": self.emb_dim,
        }


DESCRIBE_MEANS: tuple[str, ...] = (
    "recency_days", "frequency", "n_purchases", "monetary", "tenure_days", "n_items",
    "active_days", "events_per_active_day", "share_view", "share_cart", "share_fav",
    "share_purchase", "share_review", "mean_rating", "mean_price",
)


def _top_lists(top: pd.DataFrame) -> dict[int, list[dict[str, Any]]]:
    out: dict[int, list[dict[str, Any]]] = {}
    for seg, grp in top.groupby("segment", sort=True):
        out[int(seg)] = [{"value": str(r.value), "n_events": int(r.n_events),
                          "share": round(float(r.share), 4)} for r in grp.itertuples()]
    return out


def describe_segments(
    con: duckdb.DuckDBPyConnection,
    source: str,
    assignments: pd.DataFrame,
    profiles: pd.DataFrame,
    scores: pd.DataFrame | None = None,
    cutoff: TimeLike | None = None,
    top_n: int = 5,
) -> pd.DataFrame:
    """One row of computed facts per segment: size, share, RFM/activity means, top values.

    Columns: segment, n_users, share_of_users, ``mean_<feature>`` for the RFM / activity /
    behavior-mix features that are not zero for everyone, buyers_share, mean_intent,
    mean_churn, top_categories / top_items / top_brands (lists of ``{value, n_events,
    share}``). `profiles` are the features the segments were built from (one row per user).
    `scores`, optional, has ``user_id`` and any of ``p_any_purchase`` / ``churn_risk``; their
    means per segment become ``mean_intent`` / ``mean_churn`` (NaN when not given). Sizes sum
    to the number of assigned users.
    """
    if assignments.empty:
        raise InputError("no segment assignments to describe")
    a = assignments[["user_id", "segment"]].astype({"user_id": str})
    df = a.merge(profiles.astype({"user_id": str}), on="user_id", how="left")
    if scores is not None and not scores.empty:
        cols = [c for c in ("p_any_purchase", "churn_risk") if c in scores.columns]
        df = df.merge(scores[["user_id", *cols]].astype({"user_id": str}), on="user_id",
                      how="left")
    n_total = len(a)
    grouped = df.groupby("segment", sort=True)
    table = pd.DataFrame({"segment": sorted(df["segment"].unique())}).set_index("segment")
    table["n_users"] = grouped.size()
    table["share_of_users"] = table["n_users"] / n_total
    for col in DESCRIBE_MEANS:
        if col in df.columns and (df[col].fillna(0) != 0).any():
            table[f"mean_{col}"] = grouped[col].mean()
    if "n_purchases" in df.columns:
        table["buyers_share"] = grouped["n_purchases"].apply(lambda s: float((s > 0).mean()))
    table["mean_intent"] = (grouped["p_any_purchase"].mean() if "p_any_purchase" in df.columns
                            else np.nan)
    table["mean_churn"] = (grouped["churn_risk"].mean() if "churn_risk" in df.columns
                           else np.nan)
    for what, column in (("category", "top_categories"), ("item", "top_items"),
                         ("brand", "top_brands")):
        tops = _top_lists(top_values_by_segment(con, source, a, what, top_n, cutoff))
        table[column] = [tops.get(int(s), []) for s in table.index]
    return table.reset_index()
