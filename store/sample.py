"""The bundled real-data sample (`store/samples/data/`, package data) and how to ingest it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

from store.ingest import IngestResult, ingest

SAMPLE_DIR = Path(str(files("store"))) / "samples" / "data"


@dataclass(frozen=True)
class SampleFile:
    """One slice of the sample: loader kind, file, source name."""

    kind: str
    relative_path: str
    source: str


SAMPLE_FILES: tuple[SampleFile, ...] = (
    SampleFile("taobao", "taobao/UserBehavior_sample.csv.gz", "taobao"),
    SampleFile("rees46", "rees46/2019-Oct_sample.csv.gz", "rees46"),
    SampleFile(
        "amazon",
        "musical_instruments/reviews_Musical_Instruments_sample.json.gz",
        "musical_instruments",
    ),
    SampleFile("amazon", "gift_cards/Gift_Cards_5.json.gz", "gift_cards"),
    SampleFile("s3rec", "beauty/s3rec_Beauty_sample.txt.gz", "beauty"),
)


def ingest_sample(workspace: Path, sample_dir: Path = SAMPLE_DIR) -> list[IngestResult]:
    """Ingest every bundled slice into `workspace` (a no-op for slices already there)."""
    return [
        ingest(f.kind, sample_dir / f.relative_path, workspace, source=f.source)
        for f in SAMPLE_FILES
    ]
