"""Compute (or check) the gold answers of the operator question set from the RAW shared files.

Each canonical question has one small pandas function (in `gold_taobao.py`, `gold_rees46.py`,
`gold_musical.py`, or shared in `clickstream.py`), registered under its canonical id in
`raw.REGISTRY`. This
script reads ``questions.jsonl``, computes every canonical question's gold once, assigns the
dev / test split, and writes both back into the file. Nothing goes through the workspace, the
project's loaders or its SQL.

Run from the repository root::

    .venv/bin/python benchmarks/operator_questions/gold.py           # (re)write gold + split
    .venv/bin/python benchmarks/operator_questions/gold.py --check   # exit 1 on any difference

Split: canonical questions are grouped by family (plain/casual, hard, dialogue, unanswerable),
ordered within a family by (hard_kind, sha256 of the canonical id), and alternately given to
dev and test, so every phrasing of one canonical question lands in the same half, the halves are
of about equal size per kind, and each hard kind appears in both halves.

Other question files (``--file questions_dev2.jsonl --split-name dev2``, likewise dev3, dev4
and dev5) extend the set without touching it: their canonical ids start with the split's prefix
(`d2_`, `d3_`, `d4_`, `d5_`; gold functions in `gold_dev2.py` …), each file is
checked against its own functions only, and every row gets the split named by ``--split-name``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.operator_questions import (  # noqa: E402
    gold_dev2,
    gold_dev3,
    gold_dev4,
    gold_dev5,
    gold_musical,
    gold_rees46,
    gold_taobao,
)
from benchmarks.operator_questions.raw import REGISTRY, Raw, find_shared  # noqa: E402

QUESTIONS = Path(__file__).resolve().with_name("questions.jsonl")
EXTENSION_PREFIXES = {"dev2": "d2_", "dev3": "d3_", "dev4": "d4_", "dev5": "d5_"}
"""split name → the canonical-id prefix of its extension file; the frozen set uses none."""
KINDS = ("plain", "casual", "hard", "dialogue", "unanswerable")
HARD_KINDS = ("set_difference", "conditional_share", "time_bucket_peak", "two_period_compare",
              "two_group_compare", "top_n_ties", "two_metrics", "ratio", "per_user_distribution")
MIN_PHRASINGS = 3
# imported for their registrations
_MODULES = (gold_taobao, gold_rees46, gold_musical, gold_dev2, gold_dev3, gold_dev4,
            gold_dev5)

log = logging.getLogger("operator_questions.gold")


def read_questions(path: Path = QUESTIONS) -> list[dict[str, Any]]:
    """The question records, in file order."""
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def write_questions(rows: list[dict[str, Any]], path: Path = QUESTIONS) -> None:
    """One JSON object per line, keys in a fixed order, UTF-8."""
    order = ("id", "source", "kind", "canonical_id", "text", "turns", "hard_kind",
             "context_canonical_id", "gold", "split", "notes")
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            ordered = {k: row[k] for k in order if k in row}
            ordered.update({k: v for k, v in row.items() if k not in ordered})
            fh.write(json.dumps(ordered, ensure_ascii=False) + "\n")


def validate(rows: list[dict[str, Any]], extension: str | None = None) -> list[str]:
    """Structural problems of the set (empty when it is well formed); `extension`: the split
    name of an extension file (ids with its prefix), checked against its own functions only."""
    prefix = EXTENSION_PREFIXES[extension] if extension else None
    problems = []
    ids = Counter(r["id"] for r in rows)
    problems += [f"duplicate id {i}" for i, n in ids.items() if n > 1]
    by_canonical: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_canonical[row["canonical_id"]].append(row)
        if row["kind"] not in KINDS:
            problems.append(f"{row['id']}: unknown kind {row['kind']}")
        if row["kind"] == "hard" and row.get("hard_kind") not in HARD_KINDS:
            problems.append(f"{row['id']}: hard question without a valid hard_kind")
        if row["kind"] == "dialogue" and len(row.get("turns", [])) != 2:
            problems.append(f"{row['id']}: a dialogue needs exactly two turns")
        if row["kind"] != "dialogue" and not row.get("text"):
            problems.append(f"{row['id']}: no text")
    for canonical, group in by_canonical.items():
        if len(group) < MIN_PHRASINGS:
            problems.append(f"{canonical}: {len(group)} phrasings (< {MIN_PHRASINGS})")
        if len({_family(r) for r in group}) > 1:
            problems.append(f"{canonical}: phrasings of different families")
        if canonical not in REGISTRY:
            problems.append(f"{canonical}: no gold function")
    problems += [f"{canonical}: an id of another file" for canonical in by_canonical
                 if _file_prefix(canonical) != prefix]
    problems += [f"{name}: gold function without questions" for name in REGISTRY
                 if _file_prefix(name) == prefix and name not in by_canonical]
    return problems


def _file_prefix(canonical: str) -> str | None:
    """The extension prefix a canonical id carries (None for the frozen set)."""
    return next((p for p in EXTENSION_PREFIXES.values() if canonical.startswith(p)), None)


def _family(row: dict[str, Any]) -> str:
    return "basic" if row["kind"] in ("plain", "casual") else row["kind"]


def _hash(canonical: str) -> str:
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def assign_splits(rows: list[dict[str, Any]], name: str | None = None) -> dict[str, str]:
    """canonical_id → "dev" | "test" (see the module docstring), or → `name` for every
    question when a split name is given (an extension file)."""
    if name is not None:
        return {row["canonical_id"]: name for row in rows}
    families: dict[str, dict[str, str]] = defaultdict(dict)
    for row in rows:
        families[_family(row)][row["canonical_id"]] = row.get("hard_kind") or ""
    split: dict[str, str] = {}
    for members in families.values():
        ordered = sorted(members, key=lambda c: (members[c], _hash(c)))
        for i, canonical in enumerate(ordered):
            split[canonical] = "dev" if i % 2 == 0 else "test"
    return split


def compute_gold(raw: Raw, canonicals: list[str]) -> dict[str, dict[str, Any]]:
    """canonical_id → gold record: the function's answer plus the filters the question implies
    (the registered ones, completed by any `filters_extra` the function derived from data)."""
    out = {}
    for canonical in canonicals:
        fn, filters = REGISTRY[canonical]
        record = fn(raw)
        extra = record.pop("filters_extra", {})
        if not record.get("unanswerable"):
            record["filters_implied"] = {**filters, **extra}
        # a JSON round trip so computed and stored records compare alike
        out[canonical] = json.loads(json.dumps(record))
    return out


def differences(rows: list[dict[str, Any]], gold: dict[str, dict[str, Any]],
                split: dict[str, str]) -> list[str]:
    """Rows whose stored gold or split differ from the recomputed ones."""
    diffs = []
    for row in rows:
        expected = gold[row["canonical_id"]]
        if row.get("gold") != expected:
            diffs.append(f"{row['id']}: gold {row.get('gold')} != {expected}")
        if row.get("split") != split[row["canonical_id"]]:
            diffs.append(f"{row['id']}: split {row.get('split')} != {split[row['canonical_id']]}")
    return diffs


def counts(rows: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Questions per kind and split (and per hard kind)."""
    table: dict[str, Counter[str]] = defaultdict(Counter)
    for row in rows:
        table[row["kind"]][row["split"]] += 1
        if row["kind"] == "hard":
            table[f"hard:{row['hard_kind']}"][row["split"]] += 1
        table["all"][row["split"]] += 1
    return dict(table)


def main(argv: list[str] | None = None) -> int:
    """Write (default) or check the gold answers and the split; the exit status says."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="recompute and compare; exit 1 on any difference")
    parser.add_argument("--shared", type=Path, default=None, help="the shared/data folder")
    parser.add_argument("--file", "--questions", dest="questions", type=Path, default=QUESTIONS,
                        help="the question file [questions.jsonl]")
    parser.add_argument("--split-name", default=None,
                        help="the split of every row of a file other than questions.jsonl "
                             "(e.g. dev2)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    extension = args.questions.resolve() != QUESTIONS
    if extension != (args.split_name is not None):
        parser.error("--split-name is required for, and only for, a file other than "
                     "questions.jsonl")
    if args.split_name is not None and args.split_name not in EXTENSION_PREFIXES:
        parser.error(f"--split-name must be one of {', '.join(EXTENSION_PREFIXES)}")

    rows = read_questions(args.questions)
    problems = validate(rows, args.split_name)
    if problems:
        for problem in problems:
            log.error("invalid: %s", problem)
        return 1
    canonicals = sorted({r["canonical_id"] for r in rows})
    gold = compute_gold(Raw(find_shared(args.shared)), canonicals)
    split = assign_splits(rows, args.split_name)
    if args.check:
        diffs = differences(rows, gold, split)
        for diff in diffs:
            log.error("differs: %s", diff)
        log.info("%d questions, %d canonical: %s", len(rows), len(canonicals),
                 "OK" if not diffs else f"{len(diffs)} differences")
        return 1 if diffs else 0
    for row in rows:
        row["gold"] = gold[row["canonical_id"]]
        row["split"] = split[row["canonical_id"]]
    write_questions(rows, args.questions)
    for kind, by_split in sorted(counts(rows).items()):
        log.info("%-34s %s", kind, "  ".join(f"{s} {n:3d}" for s, n in sorted(by_split.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
