"""Build the evaluation workspace: every shared dataset ingested; taobao and the small review
sources trained + scored (quick), so evaluation users have both reviews and model scores.

`insight eval --build` calls this when the workspace does not exist yet. Ingesting the same
file twice is a no-op, so re-running it is cheap.
"""

from __future__ import annotations

import logging
from pathlib import Path

from core.errors import InputError
from predictors.pipeline import TrainRequest, score_sources, train_source
from store.ingest import ingest

log = logging.getLogger(__name__)

SHARED_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("taobao", "taobao_userbehavior_prefix/UserBehavior_prefix.csv.gz", "taobao"),
    ("rees46", "rees46_multicategory_2019oct_head/2019-Oct_head.csv.gz", "rees46"),
    ("amazon", "amazon_musical_instruments_2014_5core/reviews_Musical_Instruments_5.json.gz",
     "musical_instruments"),
    ("amazon", "amazon_gift_cards_2018_5core/Gift_Cards_5.json.gz", "gift_cards"),
    ("amazon", "amazon_magazine_subscriptions_2018_5core/Magazine_Subscriptions_5.json.gz",
     "magazines"),
    ("amazon", "amazon_all_beauty_2018_5core/All_Beauty_5.json.gz", "all_beauty"),
    ("s3rec", "amazon_beauty_2014_5core/s3rec_Beauty.txt.gz", "beauty"),
)
"""(loader kind, path under shared/data, source name) of every shared dataset."""

SCORED_SOURCES = ("taobao", "musical_instruments", "gift_cards", "magazines")
"""Sources trained (quick) and scored: taobao for the score questions, the review sources so
that summary / persona / explain users have reviews and predicted items."""


def build_eval_workspace(root: Path, shared: Path, train: bool = True) -> list[str]:
    """Ingest the shared datasets into `root`; train and score `SCORED_SOURCES` (quick)."""
    done = []
    for kind, relative, source in SHARED_SOURCES:
        path = shared / relative
        if not path.exists():
            raise InputError(f"shared dataset missing: {path}")
        result = ingest(kind, path, root, source=source)
        log.info("%s: %s", source, "unchanged" if result.skipped else result.rows)
        done.append(source)
    if train:
        for source in SCORED_SOURCES:
            train_source(root, source, TrainRequest(quick=True))
        score_sources(root, list(SCORED_SOURCES))
    return done
