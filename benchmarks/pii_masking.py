"""PII masking of review text: every planted identifier masked, normal reviews left alone.

Two measurements of `retrieval.pii.mask_pii`, applied as in production (summary and text
separately, with the reviewer's display names):

* planted: `tests/fixtures/pii_planted.jsonl`, reviews with e-mails, US/UK/international
  phones, street addresses, Visa/Mastercard/Amex/… numbers and reviewer names at known spans.
  An identifier counts as masked only when none of its words or digit groups is left in the
  masked text (a word that also occurs elsewhere in the review outside any span is exempt).
  Also counted: the `keep` strings of each review (model numbers, prices, sizes, dates) that
  must survive. Target: 100% of identifiers masked.
* normal: every Amazon review of the bundled sample (`store/samples/data/musical_instruments`,
  `store/samples/data/gift_cards`) and of `../shared/data/amazon_*` when present, deduplicated.
  A review is altered when masking changes its summary or text. Target: < 2% altered. Reviews
  are split into dev and test halves by a hash of their key (patterns were tuned on the
  planted set and the dev half); the figures are given for both halves and for all reviews.
  Examples show only masked context (no reviewer's data lands in the report).

    python benchmarks/pii_masking.py [--shared ../shared/data] [--out benchmarks/results/...]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import logging
import re
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from benchmarks.machine import describe_machine, file_sha256, write_report  # noqa: E402
from retrieval.pii import PLACEHOLDERS, mask_pii  # noqa: E402

log = logging.getLogger("benchmarks.pii_masking")
PLANTED = REPO_ROOT / "tests" / "fixtures" / "pii_planted.jsonl"
SAMPLE_DIRS = [REPO_ROOT / "samples" / "data" / "musical_instruments",
               REPO_ROOT / "samples" / "data" / "gift_cards"]
TARGET_RECALL = 1.0
TARGET_ALTERED = 0.02
MAX_EXAMPLES = 25
_WORD = re.compile(r"[^\W_]+")
_PLACEHOLDER = re.compile("|".join(re.escape(p) for p in PLACEHOLDERS.values()))


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text) if len(w) >= 2 or w.isdigit()}


def leaked(value: str, masked: str, elsewhere: set[str]) -> list[str]:
    """Words / digit groups of a planted `value` still in `masked` (and not in `elsewhere`)."""
    left = _words(_PLACEHOLDER.sub(" ", masked))
    return sorted(w for w in _words(value) if w in left and w not in elsewhere)


def planted_report(path: Path) -> dict[str, Any]:
    """Recall per kind on the planted reviews, the identifiers missed, and kept strings."""
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    total: Counter[str] = Counter()
    masked_ok: Counter[str] = Counter()
    right_kind: Counter[str] = Counter()
    missed: list[dict[str, Any]] = []
    keep_total = keep_ok = 0
    broken: list[dict[str, Any]] = []
    for rec in records:
        names = [rec["reviewer_name"], *rec.get("other_names", [])]
        out = {f: mask_pii(rec[f], names) for f in ("summary", "text")}
        for field in ("summary", "text"):
            body = rec[field]
            spans = [s for s in rec["spans"] if s["field"] == field]
            outside = body
            for s in sorted(spans, key=lambda s: -s["start"]):
                outside = outside[:s["start"]] + " " + outside[s["end"]:]
            elsewhere = _words(outside)
            for span in spans:
                kind = span["kind"]
                total[kind] += 1
                left = leaked(span["value"], out[field][0], elsewhere)
                if left:
                    missed.append({"id": rec["id"], "kind": kind, "left": left})
                else:
                    masked_ok[kind] += 1
                    right_kind[kind] += out[field][1][kind] > 0
        masked_all = out["summary"][0] + "\n" + out["text"][0]
        for keep in rec.get("keep", []):
            keep_total += 1
            if keep in masked_all:
                keep_ok += 1
            else:
                broken.append({"id": rec["id"], "keep": keep, "masked": masked_all})
    n = sum(total.values())
    return {
        "reviews": len(records),
        "identifiers": n,
        "masked": sum(masked_ok.values()),
        "recall": sum(masked_ok.values()) / n if n else None,
        "by_kind": {k: {"planted": total[k], "masked": masked_ok[k],
                        "recall": masked_ok[k] / total[k], "right_placeholder": right_kind[k]}
                    for k in sorted(total)},
        "missed": missed,
        "kept_strings": {"total": keep_total, "kept": keep_ok, "broken": broken},
    }


def review_files(shared: Path | None) -> list[Path]:
    """Line-JSON Amazon review files of the sample and of the shared data, if present."""
    dirs = list(SAMPLE_DIRS)
    if shared is not None and shared.is_dir():
        dirs += sorted(p for p in shared.glob("amazon_*") if p.is_dir())
    files = []
    for folder in dirs:
        for path in sorted(folder.glob("*.json.gz")):
            with gzip.open(path, "rt") as handle:
                first = handle.readline(100_000)
            if '"reviewerID"' in first:
                files.append(path)
    return files


def iter_reviews(files: list[Path]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, record) of every review, each review once across all files."""
    seen: set[str] = set()
    for path in files:
        with gzip.open(path, "rt") as handle:
            for line in handle:
                rec = json.loads(line)
                key = "|".join(str(rec.get(k)) for k in ("reviewerID", "asin", "unixReviewTime",
                                                         "summary"))
                if key not in seen:
                    seen.add(key)
                    yield key, rec


def _contexts(masked: str, width: int = 40) -> list[str]:
    return [masked[max(0, m.start() - width): m.end() + width].replace("\n", " ")
            for m in _PLACEHOLDER.finditer(masked)][:3]


def normal_report(files: list[Path]) -> dict[str, Any]:
    """Share of normal reviews the masker alters, per kind and per dev / test half."""
    reviews = list(iter_reviews(files))
    names_of: dict[str, set[str]] = defaultdict(set)
    for _, rec in reviews:
        if rec.get("reviewerName"):
            names_of[str(rec.get("reviewerID"))].add(rec["reviewerName"])
    halves = {"dev": Counter(), "test": Counter()}
    by_kind: Counter[str] = Counter()
    examples: list[dict[str, Any]] = []
    started = time.perf_counter()
    for key, rec in reviews:
        half = "dev" if int(hashlib.sha1(key.encode()).hexdigest(), 16) % 2 == 0 else "test"
        halves[half]["reviews"] += 1
        names = sorted(names_of.get(str(rec.get("reviewerID")), ()))
        kinds: Counter[str] = Counter()
        masked_fields = []
        for field in ("summary", "reviewText"):
            text = rec.get(field) or ""
            masked, counts = mask_pii(text, names)
            if masked != text:
                kinds.update({k: v for k, v in counts.items() if v})
                masked_fields.append(masked)
        if kinds:
            halves[half]["altered"] += 1
            by_kind.update(kinds.keys())
            if len(examples) < MAX_EXAMPLES:
                examples.append({"kinds": sorted(kinds), "half": half,
                                 "masked_context": [c for m in masked_fields
                                                    for c in _contexts(m)]})
    seconds = time.perf_counter() - started
    n = len(reviews)
    altered = sum(h["altered"] for h in halves.values())
    return {
        "files": [{"path": str(p.relative_to(REPO_ROOT.parent) if p.is_relative_to(
            REPO_ROOT.parent) else p), "sha256": file_sha256(p)} for p in files],
        "reviews": n,
        "altered": altered,
        "altered_rate": altered / n if n else None,
        "altered_by_kind": dict(sorted(by_kind.items())),
        "halves": {h: {"reviews": c["reviews"], "altered": c["altered"],
                       "altered_rate": c["altered"] / c["reviews"] if c["reviews"] else None}
                   for h, c in halves.items()},
        "reviews_per_second": round(n / seconds, 1) if seconds else None,
        "examples": examples,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure both sides, write the report; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planted", type=Path, default=PLANTED)
    parser.add_argument("--shared", type=Path, default=REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--out", type=Path,
                        default=REPO_ROOT / "benchmarks" / "results" / "pii_masking.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    planted = planted_report(args.planted)
    normal = normal_report(review_files(args.shared))
    passed = (planted["recall"] == TARGET_RECALL
              and normal["altered_rate"] is not None and normal["altered_rate"] < TARGET_ALTERED)
    report = {
        "benchmark": "PII masking of review text (retrieval.pii.mask_pii)",
        "targets": {"planted_recall": TARGET_RECALL, "normal_altered_rate_below": TARGET_ALTERED},
        "passed": passed,
        "planted": {"file": str(args.planted.relative_to(REPO_ROOT)
                                if args.planted.is_relative_to(REPO_ROOT) else args.planted),
                    "sha256": file_sha256(args.planted), **planted},
        "normal": normal,
        "machine": describe_machine(),
    }
    write_report(args.out, report)
    log.info("planted: %d/%d identifiers masked (recall %.3f) in %d reviews; kept %d/%d strings",
             planted["masked"], planted["identifiers"], planted["recall"], planted["reviews"],
             planted["kept_strings"]["kept"], planted["kept_strings"]["total"])
    log.info("normal: %d of %d reviews altered (%.3f%%) %s", normal["altered"],
             normal["reviews"], 100 * (normal["altered_rate"] or 0), normal["altered_by_kind"])
    log.info("%s; wrote %s", "PASSED" if passed else "FAILED", args.out)
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
