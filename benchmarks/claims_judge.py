"""The independent judge of claim support: hand labels, set beside the code's verdicts.

No entailment model can be installed offline here (the NLI packages on PyPI fetch their weights
from a model hub at run time), so claims are judged by a person. Two steps:

    # 1. a labelling sheet of every claim the model proposed in a claims_eval report, with what
    #    each cited id stands for; the code's verdict is left out so it cannot sway the label
    .venv/bin/python -m benchmarks.claims_judge sheet --report benchmarks/results/claims_eval.json

    # 2. after a person filled in `label` (supported / unsupported) and `reason` for each line
    .venv/bin/python -m benchmarks.claims_judge score

A claim is *supported* when everything it states follows from the evidence it cites: the
number is the cited fact's value for the measure the sentence names, a named thing appears in
the cited evidence, a review claim says what the review says, a suggestion rests on the cited
facts (e.g. predicted next items). Rounded or re-worded values count as supported only where
nothing was calculated. The score step writes `benchmarks/results/claims_judge.json`: the
supported share of the claims the code let through (with a Wilson interval), the code's
verdicts against the judge (agreement, Cohen's kappa, confusion counts), per tool. The full
rules the judges read (the sheet and this guide, nothing else): `benchmarks/claims_judge_guide.md`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
from pathlib import Path
from typing import Any

from benchmarks.machine import REPO_ROOT

REPORT = REPO_ROOT / "benchmarks" / "results" / "claims_eval.json"
LABELS = REPO_ROOT / "benchmarks" / "claim_labels.jsonl"
OUT = REPO_ROOT / "benchmarks" / "results" / "claims_judge.json"
LABEL_VALUES = ("supported", "unsupported")


def subject_of(record: dict[str, Any]) -> str:
    """Whom a record is about: a user id, or a copy request's segment and item."""
    if record["tool"] == "copy":
        who = record.get("user_id") or f"segment {record.get('segment')}"
        return f"{who} about {record.get('item_id')} ({record.get('channel')})"
    return str(record["user_id"])


def record_claims(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Every claim the model proposed in one record: its attempts' claims, or for copy the
    claims of the rejected and the shown variants (a fallback's template claims are not the
    model's)."""
    if record["tool"] != "copy":
        return [c for attempt in record["attempts"] for c in attempt["claims"]]
    claims = [c for r in record.get("rejected", []) for c in r.get("claims", [])]
    if record["status"] != "fallback":
        claims += [c for v in record.get("variants", []) for c in v.get("claims", [])]
    return claims


def claim_key(record: dict[str, Any], claim: dict[str, Any]) -> str:
    """A stable id of one proposed claim: tool, subject, text and evidence."""
    subject = f"{record['tool']}|{record['source']}|{subject_of(record)}"
    body = f"{subject}|{claim['text']}|{','.join(claim['evidence'])}"
    return hashlib.sha1(body.encode()).hexdigest()[:12]


def proposed_claims(report: dict[str, Any]) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(key, record, claim) for every claim the model proposed, in report order, once each."""
    seen: set[str] = set()
    out = []
    for record in report["records"]:
        if record["tool"] not in ("copy", "summary", "persona", "explain", "segment_persona"):
            continue  # segment names are judged by their own figures
        for claim in record_claims(record):
            key = claim_key(record, claim)
            if key not in seen:
                seen.add(key)
                out.append((key, record, claim))
    return out


def sheet_line(key: str, record: dict[str, Any], claim: dict[str, Any]) -> dict[str, Any]:
    """One line to label: the claim and what its cited ids stand for, no verdict."""
    known = record.get("evidence", {})
    evidence = {}
    for ident in claim["evidence"]:
        entry = known.get(ident)
        if entry is None:
            evidence[ident] = "(not in the data given to the model)"
        elif entry.get("kind") == "review":
            evidence[ident] = f"{entry['label']}: {entry['snippet']}"
        else:
            evidence[ident] = f"{entry['label']} = {entry['value']}"
    explained = {"explained_item": record["item_id"]} if record.get("item_id") and record[
        "tool"] == "explain" else {}
    return {"key": key, "tool": record["tool"], "subject": f"{record['source']}/"
            f"{subject_of(record)}", **explained, "kind": claim["kind"], "text": claim["text"],
            "evidence": evidence, "label": "", "reason": ""}


def write_sheet(report_path: Path, labels: Path) -> int:
    """Append lines for the claims not yet in `labels` (labels already given are kept)."""
    report = json.loads(report_path.read_text())
    existing = read_labels(labels) if labels.exists() else {}
    new = [sheet_line(k, r, c) for k, r, c in proposed_claims(report) if k not in existing]
    lines = [json.dumps(v, ensure_ascii=False) for v in existing.values()]
    lines += [json.dumps(v, ensure_ascii=False) for v in new]
    tmp = labels.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(labels)
    return len(new)


def read_labels(path: Path) -> dict[str, dict[str, Any]]:
    """The label lines by key; a label other than the allowed values is an error."""
    out = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row["label"] and row["label"] not in LABEL_VALUES:
            raise ValueError(f"{path}:{number}: label {row['label']!r} is not one of "
                             f"{', '.join(LABEL_VALUES)}")
        out[row["key"]] = row
    return out


def wilson(successes: int, n: int, z: float = 1.96) -> list[float] | None:
    """The 95% Wilson score interval of a share."""
    if not n:
        return None
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [round(centre - half, 3), round(centre + half, 3)]


def agreement(pairs: list[tuple[bool, bool]]) -> dict[str, Any]:
    """Code verdict (verified) against the judge (supported): counts, agreement, kappa."""
    n = len(pairs)
    both = sum(c and j for c, j in pairs)
    code_only = sum(c and not j for c, j in pairs)
    judge_only = sum(j and not c for c, j in pairs)
    neither = n - both - code_only - judge_only
    observed = (both + neither) / n if n else 0.0
    p_code = (both + code_only) / n if n else 0.0
    p_judge = (both + judge_only) / n if n else 0.0
    expected = p_code * p_judge + (1 - p_code) * (1 - p_judge)
    kappa = (observed - expected) / (1 - expected) if expected < 1 else None
    return {"n": n, "verified_and_supported": both, "verified_not_supported": code_only,
            "refused_but_supported": judge_only, "refused_and_unsupported": neither,
            "agreement": round(observed, 3),
            "cohen_kappa": round(kappa, 3) if kappa is not None else None}


def figures(rows: list[tuple[dict[str, Any], bool]]) -> dict[str, Any]:
    """Judge figures over (claim verdict, supported) pairs."""
    shown = [s for c, s in rows if c["verified"]]
    return {"claims_labelled": len(rows),
            "supported_share_all_proposed": round(sum(s for _, s in rows) / len(rows), 3)
            if rows else None,
            "code_verified": len(shown),
            "supported_share_of_verified": round(sum(shown) / len(shown), 3) if shown else None,
            "supported_share_of_verified_95ci": wilson(sum(shown), len(shown)),
            "code_vs_judge": agreement([(c["verified"], s) for c, s in rows])}


def score(report_path: Path, labels_path: Path, out: Path) -> dict[str, Any]:
    """Join the labels with the report's verdicts and write the judge report."""
    report = json.loads(report_path.read_text())
    labels = read_labels(labels_path)
    rows: list[tuple[dict[str, Any], dict[str, Any], bool, str]] = []
    for key, record, claim in proposed_claims(report):
        label = labels.get(key, {}).get("label")
        if label:
            rows.append((record, claim, label == "supported", labels[key]["reason"]))
    result = {"benchmark": "claims_judge", "report": str(report_path.relative_to(REPO_ROOT))
              if report_path.is_relative_to(REPO_ROOT) else str(report_path),
              "labels": str(labels_path.relative_to(REPO_ROOT))
              if labels_path.is_relative_to(REPO_ROOT) else str(labels_path),
              "judge": "hand labels (one person, blind to the code's verdict)",
              "all": figures([(c, s) for _, c, s, _ in rows]),
              "per_tool": {tool: figures([(c, s) for r, c, s, _ in rows if r["tool"] == tool])
                           for tool in dict.fromkeys(r["tool"] for r, *_ in rows)},
              "disagreements": [{"tool": r["tool"], "text": c["text"],
                                 "evidence": c["evidence"], "code_verified": c["verified"],
                                 "code_reasons": c["reasons"], "judge_supported": s,
                                 "judge_reason": reason}
                                for r, c, s, reason in rows if c["verified"] != s]}
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    return result


def main(argv: list[str] | None = None) -> None:
    """`sheet` or `score` (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("sheet", "score"))
    parser.add_argument("--report", type=Path, default=REPORT)
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    if args.step == "sheet":
        print(f"{write_sheet(args.report, args.labels)} claims added to {args.labels}")
        return
    result = score(args.report, args.labels, args.out)
    print(json.dumps({"all": result["all"],
                      "per_tool": {t: v["supported_share_of_verified"]
                                   for t, v in result["per_tool"].items()}}, indent=2))


if __name__ == "__main__":
    main()
