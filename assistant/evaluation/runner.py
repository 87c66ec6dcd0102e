"""`insight eval`: run the tools on a workspace and score them against independent gold.

Operator questions (see `questions.py`) are answered with `ask`; accuracy needs the gold
number (and entity) in the answer, or an honest refusal for unanswerable questions. Users
(picked deterministically across sources) get a summary, a persona and an explanation; their
claims' evidence ids are checked against id sets computed here from the Parquet files, their
numbers with the grounding check, and claims shown without evidence are counted as
unsupported.
Latency is measured per call (time to first answer chunk and to the full answer). The report
is written as JSON.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from assistant.evaluation.gold import GoldData
from assistant.evaluation.metrics import (
    entity_matches,
    number_matches,
    percentile,
    ratio,
)
from assistant.evaluation.questions import QUESTIONS, Question
from assistant.grounding import check_numbers
from assistant.llm.backends import LLMBackend, create_backend
from assistant.llm.server import default_threads
from assistant.tools.ask import ask
from assistant.tools.explain import explain
from assistant.tools.narrate import PROSE_MAX_TOKENS
from assistant.tools.persona import persona
from assistant.tools.profile import DataProfile, data_profile
from assistant.tools.summary import user_summary
from core.errors import InputError
from core.settings import LLMSettings
from store.queries import table_exists
from store.workspace import Workspace

log = logging.getLogger(__name__)

USER_SHARE = {"musical_instruments": 2, "gift_cards": 1, "magazines": 1}
"""Relative weights of the sources that evaluation users come from, when present with both
reviews and model scores (see `assistant.evaluation.workspace.SCORED_SOURCES`)."""


def evaluate_question(q: Question, con: Any, backend: LLMBackend, gold: GoldData,
                      profile: DataProfile) -> dict[str, Any]:
    """Ask one question and score the answer."""
    expected = q.gold(gold)
    result = ask(q.text, con, backend, profile=profile)
    answer = result.answer
    if expected.answerable:
        correct = result.answerable and expected.value is not None and number_matches(
            answer, expected.value) and (expected.entity is None or entity_matches(
                answer, expected.entity))
    else:
        correct = not result.answerable
    evidence = {"rows": result.rows, "plan": result.plan, "periods": result.periods,
                "profile": profile.to_dict(), "reason": result.reason}
    unfaithful = [v.value for v in check_numbers(answer, evidence, q.text)]
    llm_called = any(step.title == "plan with LLM" and step.status != "skipped"
                     for step in result.run.steps)
    offline = ask(q.text, con, None, profile=profile)  # the code hints alone, for comparison
    offline_correct = (offline.answerable and expected.value is not None and number_matches(
        offline.answer, expected.value) and (expected.entity is None or entity_matches(
            offline.answer, expected.entity))) if expected.answerable else not offline.answerable
    draft = result.draft or {}
    final = result.plan or {}
    agrees = bool(draft) and bool(final) and draft.get("metric") in final.get(
        "metrics", []) and (draft.get("group_by") or None) == (
        (final.get("group_by") or [None])[0])
    return {"id": q.id, "kind": q.kind, "paraphrased": q.paraphrased, "question": q.text,
            "answer": answer,
            "gold": {"value": expected.value, "entity": expected.entity,
                     "answerable": expected.answerable},
            "correct": bool(correct), "answerable": result.answerable,
            "offline_correct": bool(offline_correct), "llm_plan_agrees": agrees,
            "llm_called": llm_called, "plan_valid": result.draft is not None,
            "plan_source": result.plan_source, "overrides": result.overrides,
            "draft": result.draft, "plan": result.plan,
            "numeric_faithful": not unfaithful, "unfaithful_numbers": unfaithful,
            "first_token_s": result.run.first_token_s, "latency_s": result.run.latency_s,
            "prompt_refs": result.run.prompt_refs}


def pick_users(gold: GoldData, scores: pd.DataFrame, n: int) -> list[tuple[str, str]]:
    """`n` deterministic (source, user) pairs from the sources that have reviews and scores.

    Candidates are the source's scored users with at least one review and one predicted item,
    ranked by number of events (ties by user id); every third is taken, so the sample spans
    the heavy users instead of only the extreme heads. Sources take turns by `USER_SHARE`
    (any prefix of the list mixes them); a source with too few candidates leaves its turn
    to the others. Without any such source, the most active users of every source are used.
    """
    reviews = gold.reviews
    pools: dict[str, list[str]] = {}
    for source in USER_SHARE:
        scored = scores[scores["source"] == source] if not scores.empty else scores
        if scored.empty or reviews.empty:
            continue
        has_items = scored[scored["top_items"].map(lambda items: len(items) > 0)]
        candidates = set(has_items["user_id"]) & set(reviews.loc[reviews.source == source,
                                                                 "user_id"])
        events = gold.ev(source)
        counts = events[events["user_id"].isin(candidates)].groupby("user_id").size()
        ranked = counts.reset_index(name="n").sort_values(["n", "user_id"],
                                                          ascending=[False, True])
        pools[source] = [str(u) for u in ranked["user_id"].iloc[::3]]
    if not pools:  # no source has reviews and scores: the most active users anywhere
        counts = gold.events.groupby(["source", "user_id"]).size().sort_values(
            ascending=False)
        return [(str(s), str(u)) for s, u in counts.index[: n * 3: 3]]
    turns = [source for source, weight in USER_SHARE.items() if source in pools
             for _ in range(weight)]
    taken = {source: 0 for source in pools}
    chosen: list[tuple[str, str]] = []
    while len(chosen) < n and any(taken[s] < len(pools[s]) for s in pools):
        for source in turns:
            if len(chosen) < n and taken[source] < len(pools[source]):
                chosen.append((source, pools[source][taken[source]]))
                taken[source] += 1
    return chosen


def explain_item(gold: GoldData, scores: pd.DataFrame, source: str, user: str) -> str:
    """The item to explain: the user's top predicted item, else the source's most reviewed /
    most active item the user has not touched."""
    row = scores[(scores.source == source) & (scores.user_id == user)] if not scores.empty \
        else scores
    if not row.empty and len(row.iloc[0]["top_items"]):
        return str(row.iloc[0]["top_items"][0])
    events = gold.ev(source)
    seen = set(events.loc[events.user_id == user, "item_id"])
    popular = events.groupby("item_id").size().sort_values(ascending=False)
    return str(next(i for i in popular.index if i not in seen))


def valid_ids(gold: GoldData, source: str, user: str, result: dict[str, Any],
              item: str | None = None) -> dict[str, set[str]]:
    """Citable ids computed here: the user's own reviews (or the item's, for explain) that
    the tool showed, the fact keys it returned, the user's items."""
    reviews = gold.rv(source)
    shown = {r["review_id"] for r in result.get("reviews", [])}
    own = set(reviews.loc[reviews.user_id == user, "review_id"])
    about_item = set(reviews.loc[reviews.item_id == item, "review_id"]) if item else set()
    items = set(gold.ev(source).loc[lambda f: f.user_id == user, "item_id"])
    facts = set(result.get("facts", {}))
    if "traits" in result:
        facts |= {e[2:] for t in result["traits"] for e in t["evidence"] if e.startswith("F:")}
    return {"R": shown & (own | about_item), "F": facts,
            "I": items | ({item} if item else set()), "U": {user}}


TOOLS = ("summary", "persona", "explain")


def run_prose_tool(tool: str, source: str, user: str, con: Any, backend: LLMBackend,
                   prose_max_tokens: int = PROSE_MAX_TOKENS, item: str | None = None) -> Any:
    """One prose tool (`summary`, `persona` or `explain` of `item`) about one user: the one
    dispatch the evaluation and the claims benchmark share."""
    if tool == "summary":
        return user_summary(user, source, con=con, backend=backend,
                            prose_max_tokens=prose_max_tokens)
    if tool == "persona":
        return persona(user, None, source, con=con, backend=backend,
                       prose_max_tokens=prose_max_tokens)
    if tool == "explain" and item is not None:
        return explain(user, item, source, con=con, backend=backend,
                       prose_max_tokens=prose_max_tokens)
    raise InputError(f"unknown prose tool {tool!r} (or no item to explain); choose "
                     f"{', '.join(TOOLS)}")


def claim_citations(claims: list[dict[str, Any]], valid: dict[str, set[str]]
                    ) -> tuple[int, int]:
    """(evidence ids cited, ids valid) over claims' verdicts (`K:id` evidence), against the
    independently computed id sets."""
    cited = [e.split(":", 1) for c in claims for e in c.get("evidence", []) if ":" in e]
    return len(cited), sum(ident in valid.get(kind, set()) for kind, ident in cited)


def evaluate_user(tool: str, source: str, user: str, con: Any, backend: LLMBackend,
                  gold: GoldData, scores: pd.DataFrame,
                  prose_max_tokens: int = PROSE_MAX_TOKENS) -> dict[str, Any]:
    """One tool's output about one user (prose capped at `prose_max_tokens`), scored: the
    citations are the evidence ids of the claims shown (and of the first draft's claims)."""
    item = explain_item(gold, scores, source, user) if tool == "explain" else None
    result = run_prose_tool(tool, source, user, con, backend, prose_max_tokens, item)
    data = result.to_dict()
    text = data["text"]
    valid = valid_ids(gold, source, user, data, item)
    cited, ok = claim_citations(data["claims"], valid)
    attempts = data["narration"]["attempts"]
    first_cited, first_ok = claim_citations(attempts[0]["claims"] if attempts else [], valid)
    # numbers may come from the returned facts, traits and reviews' fields, never review text
    shown_reviews = [{k: v for k, v in r.items() if k not in ("snippet", "text")}
                     for r in data.get("reviews", [])]
    numbers = check_numbers(text, data.get("facts", {}), data.get("traits", []),
                            shown_reviews, user)
    shown = data["claims"] if data["status"] != "fallback" else []
    uncited, total = sum(not c.get("evidence") for c in shown), len(shown)
    return {"tool": tool, "source": source, "user_id": user, "item_id": item,
            "status": data["status"], "text": text, "citations": cited,
            "valid_citations": ok, "first_attempt_citations": first_cited,
            "first_attempt_valid_citations": first_ok,
            "first_attempt_violations": attempts[0]["violations"] if attempts else [],
            "rejected_attempts": [a["text"] for a in attempts if a["violations"]],
            "numeric_faithful": not numbers, "unfaithful_numbers": [v.value for v in numbers],
            "llm_sentences": total, "uncited_llm_sentences": uncited,
            "first_token_s": data["first_token_s"], "latency_s": data["latency_s"],
            "prompt_refs": data["prompt_refs"]}


def _latency(records: list[dict[str, Any]]) -> dict[str, Any]:
    ttft = [r["first_token_s"] for r in records]
    full = [r["latency_s"] for r in records]
    return {"n": len(records), "ttft_p50_s": percentile(ttft, 50),
            "ttft_p95_s": percentile(ttft, 95), "full_p50_s": percentile(full, 50),
            "full_p95_s": percentile(full, 95)}


def summarise(questions: list[dict[str, Any]], users: list[dict[str, Any]]) -> dict[str, Any]:
    """The headline figures of a run."""
    llm_planned = [q for q in questions if q["llm_called"]]
    by_kind: dict[str, Any] = {}
    for q in questions:
        entry = by_kind.setdefault(q["kind"], {"n": 0, "correct": 0})
        entry["n"] += 1
        entry["correct"] += q["correct"]
    summary: dict[str, Any] = {
        "questions": len(questions),
        "answer_accuracy": ratio(sum(q["correct"] for q in questions), len(questions)),
        "accuracy_by_kind": by_kind,
        "plan_validity": ratio(sum(q["plan_valid"] for q in llm_planned), len(llm_planned)),
        "plans_overridden_by_hints": sum(bool(q["overrides"]) for q in questions),
        "llm_plan_agreement": ratio(sum(q["llm_plan_agrees"] for q in llm_planned),
                                    len(llm_planned)),
        "offline_hints_only_accuracy": ratio(sum(q["offline_correct"] for q in questions),
                                             len(questions)),
        "ask_numeric_faithfulness": ratio(sum(q["numeric_faithful"] for q in questions),
                                          len(questions)),
        "ask_latency": _latency(questions),
    }
    if users:
        cited = sum(r["citations"] for r in users)
        first = sum(r["first_attempt_citations"] for r in users)
        uncited = sum(r["uncited_llm_sentences"] for r in users)
        sentences = sum(r["llm_sentences"] for r in users)
        summary.update({
            "user_outputs": len(users),
            "users": len({(r["source"], r["user_id"]) for r in users}),
            "citation_validity": ratio(sum(r["valid_citations"] for r in users), cited),
            "first_attempt_citation_validity": ratio(
                sum(r["first_attempt_valid_citations"] for r in users), first),
            "user_numeric_faithfulness": ratio(sum(r["numeric_faithful"] for r in users),
                                               len(users)),
            "unsupported_claim_rate": ratio(uncited, sentences),
            "status_counts": pd.Series([f"{r['tool']}:{r['status']}" for r in users])
            .value_counts().sort_index().to_dict(),
            "latency_by_tool": {tool: _latency([r for r in users if r["tool"] == tool])
                                for tool in ("summary", "persona", "explain")},
        })
    all_records = questions + users
    summary["numeric_faithfulness"] = ratio(sum(r["numeric_faithful"] for r in all_records),
                                            len(all_records))
    summary["latency_all"] = _latency(all_records)
    return summary


def run_evaluation(root: Path, out: Path, n_users: int = 20, max_questions: int | None = None,
                   progress: bool = True, backend: LLMBackend | None = None,
                   users_from: Path | None = None, *,
                   llm_settings: LLMSettings) -> dict[str, Any]:
    """Run the evaluation on the workspace at `root` and write the JSON report to `out`.

    `llm_settings` (the caller's `settings.llm`) builds the backend when none is given, caps
    the prose (`prose_max_tokens`) and is recorded in the report's `sampling`.

    `users_from` reuses the user-tool records of an earlier complete report (when only the
    ask path changed); the report names where they came from.
    """
    reused: dict[str, Any] | None = None
    if users_from is not None:
        reused = json.loads(users_from.read_text())
        if reused.get("partial"):
            raise InputError(f"{users_from} is a partial report; its user records are "
                             "incomplete")
        n_users = 0
    own_backend = backend is None
    backend = backend or create_backend(llm_settings, progress=progress)
    con = Workspace.open(root).connect()
    gold = GoldData(root)
    started = dt.datetime.now(dt.UTC)
    try:
        profile = data_profile(con)
        scored = table_exists(con, "user_scores")
        questions = [q for q in QUESTIONS if scored or not q.needs_scores][:max_questions]
        q_records = [evaluate_question(q, con, backend, gold, profile)
                     for q in tqdm(questions, desc="questions", disable=not progress)]
        _write(out, _report(root, started, profile, scored, backend, llm_settings,
                            summarise(q_records, []), q_records, [], partial=True))
        scores = gold.scores
        pairs = pick_users(gold, scores, n_users) if n_users else []
        u_records: list[dict[str, Any]] = []
        # one tool at a time, so consecutive prompts share their cached system part
        jobs = [(tool, source, user) for tool in TOOLS for source, user in pairs]
        for tool, source, user in tqdm(jobs, desc="user tools", disable=not progress):
            u_records.append(evaluate_user(tool, source, user, con, backend, gold, scores,
                                           llm_settings.prose_max_tokens))
            _write(out, _report(root, started, profile, scored, backend, llm_settings,
                                summarise(q_records, u_records), q_records, u_records,
                                partial=True))
    finally:
        con.close()
        if own_backend:
            backend.close()
    if reused is not None:
        u_records = reused["user_outputs"]
    report = _report(root, started, profile, scored, backend, llm_settings,
                     summarise(q_records, u_records), q_records, u_records)
    if reused is not None:
        report["user_outputs_from"] = {"report": str(users_from), "date": reused["date"]}
    _write(out, report)
    return report


def _report(root: Path, started: dt.datetime, profile: DataProfile, scored: bool,
            backend: LLMBackend, llm: LLMSettings, summary: dict[str, Any],
            questions: list[dict[str, Any]], users: list[dict[str, Any]],
            partial: bool = False) -> dict[str, Any]:
    return {
        "benchmark": "assistant_eval",
        "date": started.isoformat(timespec="seconds"),
        "partial": partial,
        "workspace": str(root),
        "sources": sorted(profile.sources),
        "scored": scored,
        "model": backend.model, "backend": backend.name,
        "sampling": {"temperature": llm.temperature, "seed": llm.seed,
                     "max_tokens": llm.max_tokens, "prose_max_tokens": llm.prose_max_tokens,
                     "embedded_threads": llm.embedded.n_threads or default_threads(),
                     "embedded_threads_batch": llm.embedded.n_threads_batch
                     or llm.embedded.n_threads or default_threads()},
        "machine": {"python": platform.python_version(),
                    "cpu": platform.processor() or platform.machine(),
                    "logical_cores": os.cpu_count(),
                    "load_average_at_end": [round(x, 2) for x in os.getloadavg()]},
        "summary": summary,
        "questions": questions,
        "user_outputs": users,
    }


def _write(out: Path, report: dict[str, Any]) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2, default=str))
    log.info("evaluation report written to %s", out)
