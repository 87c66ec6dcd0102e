"""`ask`: an operator's question → validated query plan → read-only SQL → a grounded answer.

Steps: profile the data (sources, date ranges, event types); pre-resolve sources, dates,
filters and unsupported attributes in code; let the LLM fill a compact `PlanDraft` (JSON
schema, constrained output); merge the draft with the confident code hints into a validated
`QueryPlan`; compile and run it on the read-only connection; render the answer from the rows
with a deterministic template and check it with `check_answer`. Nothing the LLM writes is ever
executed: it only picks values from closed vocabularies that are then bound as parameters.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import duckdb
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from assistant.analytics.catalog import DIMENSIONS, DIMENSIONS_BY_RELATION, METRICS
from assistant.analytics.compiler import DEFAULT_MIN_GROUP_SIZE, TIME_DIMENSIONS, PlanError
from assistant.analytics.executor import AnalyticsResult, run_plan
from assistant.analytics.plan import MAX_LIMIT, EventTypeName, QueryPlan
from assistant.grounding import check_answer
from assistant.llm.backends import LLMBackend
from assistant.llm.errors import StructuredOutputError
from assistant.llm.structured import structured
from assistant.tools.coverage import why_unanswerable
from assistant.tools.follow_up import (
    follow_up_plan,
    in_previous_sources,
    is_follow_up,
    pin_peak,
    rescope_dates,
)
from assistant.tools.measures import EVENT_FILTERED
from assistant.tools.periods import names_period
from assistant.tools.population import apply_population, drafted_population
from assistant.tools.profile import DataProfile, data_profile
from assistant.tools.readings import stated_readings
from assistant.tools.render import LABELS, render_answer
from assistant.tools.resolve import (
    GENERIC_METRICS,
    Hints,
    parsed_with_certainty,
    resolve_question,
)
from assistant.tools.trace import ToolRun, TraceStep
from assistant.tools.unexplained import (
    spelled,
    typo_note,
    unexplained_note,
    unexplained_words,
    unmatched_subject,
)
from prompts import load_prompt

log = logging.getLogger(__name__)

PROMPT = "ask_plan"
SHORT = {"users": "distinct users", "events": "all events",
         "cart_abandonment_rate": "share of carted items never bought",
         "repeat_purchase_rate": "share of buyers with 2+ purchases",
         "average_order_value": "revenue per order", "mean_intent": "mean purchase intent",
         "segment_size": "number of scored users", "buyers": "users who bought",
         "cart_users": "users who carted", "events_per_user": "mean events per user",
         "purchases_per_buyer": "mean purchases per buyer",
         "purchase_share": "purchases / all events"}
"""Shorter metric descriptions for the prompt (prompt tokens cost seconds on a CPU)."""
GROUP_LIMIT = 10
MAX_QUESTION_CHARS = 500


def _strip_titles(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_titles(v) for k, v in schema.items() if k != "title"}
    if isinstance(schema, list):
        return [_strip_titles(v) for v in schema]
    return schema


class PlanDraftBase(BaseModel):
    """The compact plan the LLM writes; `to_plan` turns it into a `QueryPlan`.

    Empty strings / "none" / "all" mean "not set", so the schema needs no nullable unions and
    stays short (every schema token is prompt time on a small CPU model).
    """

    model_config = ConfigDict(extra="ignore")

    @classmethod
    def model_json_schema(cls, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The JSON schema without per-field titles."""
        return _strip_titles(super().model_json_schema(*args, **kwargs))  # type: ignore[no-any-return]

    def values(self) -> dict[str, Any]:
        """Fields with the "not set" markers turned into None and dates parsed."""
        out: dict[str, Any] = {}
        for key, value in self.model_dump().items():
            if value in ("", "none", "all"):
                value = None
            elif key in ("date_from", "date_to"):
                try:
                    value = dt.date.fromisoformat(str(value))
                except ValueError:
                    value = None
            out[key] = value
        return out


def draft_model(sources: list[str]) -> type[PlanDraftBase]:
    """The draft schema for this workspace (its source names are an enum)."""
    metric = Literal[tuple([*METRICS, "unsupported"])]  # type: ignore[valid-type]
    dimension = Literal[tuple([*DIMENSIONS, "none"])]  # type: ignore[valid-type]
    source = Literal[tuple([*sources, "all"])]  # type: ignore[valid-type]
    event = Literal[tuple([*get_args(EventTypeName), "none"])]  # type: ignore[valid-type]
    return create_model(  # type: ignore[call-overload,no-any-return]
        "PlanDraft", __base__=PlanDraftBase,
        metric=(metric, ...),
        source=(source, "all"),
        group_by=(dimension, "none"),
        category=(str, Field("", max_length=200)),
        brand=(str, Field("", max_length=200)),
        date_from=(str, Field("", max_length=10)),
        date_to=(str, Field("", max_length=10)),
        compare_previous_period=(bool, False),
        lowest_first=(bool, False),
        never_did=(event, "none"),
        min_times=(int, Field(0, ge=0, le=100_000)),
        times_of=(event, "none"),
    )


@dataclass
class AskResult:
    """An answer with the table, chart, plan and provenance that produced it."""

    question: str
    answer: str
    answerable: bool
    run: ToolRun
    hints: dict[str, Any] = field(default_factory=dict)
    draft: dict[str, Any] | None = None
    plan: dict[str, Any] | None = None
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    chart: dict[str, Any] | None = None
    sql: list[str] = field(default_factory=list)
    params: list[list[str]] = field(default_factory=list)
    reason: str | None = None
    available: str | None = None
    overrides: list[str] = field(default_factory=list)
    periods: dict[str, list[str]] = field(default_factory=dict)
    plan_source: str = "llm"  # llm | llm+hints | rules | hints (draft invalid) | follow-up | none
    grounding: dict[str, Any] = field(default_factory=dict)
    readings: list[str] = field(default_factory=list)  # "I read 'orders' as purchase events."
    privacy: dict[str, int] = field(default_factory=dict)  # min_group_size, hidden_groups

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form for the CLI, the UI and the evaluation report."""
        return {"question": self.question, "answer": self.answer,
                "answerable": self.answerable, "reason": self.reason,
                "available": self.available, "columns": self.columns, "rows": self.rows,
                "chart": self.chart, "plan": self.plan, "draft": self.draft,
                "hints": self.hints, "overrides": self.overrides,
                "plan_source": self.plan_source, "periods": self.periods, "sql": self.sql,
                "params": self.params, "privacy": self.privacy,
                "grounding": self.grounding, "readings": self.readings,
                **self.run.to_dict()}


def available_text(profile: DataProfile) -> str:
    """What this workspace can answer: metrics, groupings and sources with their date ranges."""
    metrics = ", ".join(LABELS.get(m, m) for m in METRICS
                        if METRICS[m].relation != "scores" or profile.has_scores)
    sources = "; ".join(s.describe() for s in profile.sources.values())
    return (f"I can count and compare {metrics}, grouped by source, category, brand, item, "
            f"event type, segment, day, week, month or year. Sources: {sources}.")


def _mentioned(value: str | None, question: str) -> bool:
    return bool(value) and str(value).lower() in question.lower()


def _compatible(metric: str, group_by: str | None) -> bool:
    return group_by is None or group_by in DIMENSIONS_BY_RELATION[METRICS[metric].relation]


def to_plan(draft: PlanDraftBase | None, hints: Hints, question: str,
            profile: DataProfile) -> tuple[QueryPlan | None, list[str]]:
    """Merge the LLM's draft with the code hints (hints win); validate as a `QueryPlan`."""
    values = draft.values() if draft is not None else {}
    overrides: list[str] = []

    def pick(name: str, hinted: Any, drafted: Any) -> Any:
        if hinted not in (None, [], False) and hinted != drafted:
            overrides.append(name)
            return hinted
        return drafted

    metric = values.get("metric")
    if metric == "unsupported" and not hints.population.found() and (
            hints.unexplained or hints.metric in (None, *GENERIC_METRICS)):
        return None, overrides  # the model and code agree: nothing here measures this
    if metric in (None, "unsupported") or metric not in METRICS:
        metric = pick("metric", hints.metric, None if metric == "unsupported" else metric)
    if hints.population.metric is not None:  # who is counted, read with certainty
        metric = pick("metric", hints.population.metric, metric)
    if metric is None:
        return None, overrides
    group_by = hints.group_by or (values.get("group_by") if _mentioned(
        str(values.get("group_by") or "").replace("item_id", "item"), question) else None)
    if group_by != values.get("group_by") and group_by:
        overrides.append("group_by")
    if not _compatible(metric, group_by) and hints.metric and _compatible(hints.metric, group_by):
        metric = hints.metric
        overrides.append("metric")
    if not _compatible(metric, group_by):
        group_by = None
    # Sources come from code, which finds every name and alias in the question; a source the
    # question does not name is the model guessing (small models pick the first enum value).
    sources = list(hints.sources)
    if values.get("source") and values["source"] not in sources:
        overrides.append("source")
    categories = hints.categories or ([values["category"]] if _mentioned(
        values.get("category"), question) else [])
    brands = hints.brands or ([values["brand"]] if _mentioned(values.get("brand"), question)
                              else [])
    date_from, date_to = hints.date_from, hints.date_to
    if date_from is None and names_period(question) and values.get("date_from"):
        # a period code could not read: take the model's dates (no rows → "no data")
        date_from, date_to = values["date_from"], values.get("date_to") or values["date_from"]
        if date_to < date_from:
            date_from, date_to = None, None
    elif (date_from, date_to) != (values.get("date_from"), values.get("date_to")):
        overrides.append("dates")
    compare = hints.compare and date_from is not None
    if compare != bool(values.get("compare_previous_period")):
        overrides.append("compare_previous_period")
    model_lowest = bool(values.get("lowest_first"))
    if model_lowest and hints.highest:
        overrides.append("lowest_first")  # "most …" asked: the model's ascending sort is wrong
    ascending = hints.ascending or hints.direction == "fell" or (
        model_lowest and hints.direction != "grew" and not hints.highest)
    relation = METRICS[metric].relation
    filters: dict[str, Any] = {"source": sources, "date_from": date_from, "date_to": date_to}
    if relation != "scores":
        filters.update(category=categories, brand=brands, item_id=hints.item_ids,
                       min_rating=hints.min_rating, max_rating=hints.max_rating)
    else:
        filters.update(date_from=None, date_to=None)
        compare = False
    if relation == "events" and hints.event_type and metric in EVENT_FILTERED:
        filters["event_type"] = [hints.event_type]
    metrics = [metric]
    together = [m for m in hints.metrics if METRICS[m].relation == relation]
    if not (group_by or filters.get("event_type") or hints.population.found() or compare
            or relation == "scores" or (hints.min_rating, hints.max_rating) != (None, None)):
        together = list(hints.metrics)  # "reviewers and items": totals of two relations
    if len(together) >= 2 and metric in together and not group_by:
        metrics = together  # "revenue and number of purchases": both, in the order asked
        if metrics != [metric]:
            overrides.append("metrics")
    plan: dict[str, Any] = {"metrics": metrics, "filters": filters,
                            "group_by": [group_by] if group_by else [],
                            "descending": not ascending, "limit": GROUP_LIMIT,
                            "compare_previous_period": compare}
    apply_population(plan, hints.population if hints.population.found()
                     else drafted_population(values))
    if group_by and hints.min_rows is not None:
        plan["min_rows"] = hints.min_rows
    if compare and hints.other_period is not None:
        plan.update(compare_from=hints.other_period[0], compare_to=hints.other_period[1])
    if compare and group_by and hints.direction:
        plan["order_by"] = "change"
    elif group_by in TIME_DIMENSIONS:
        if hints.ranking:  # "which day had the most…": rank by the metric, not by time
            plan["order_by"] = metric
        else:
            plan["limit"] = MAX_LIMIT
    return QueryPlan.model_validate(plan), overrides


def _draft(backend: LLMBackend, question: str, hints: Hints, profile: DataProfile,
           run: ToolRun) -> PlanDraftBase | None:
    prompt = load_prompt(PROMPT)
    run.use_prompt(prompt.ref)
    run.model = backend.model
    metrics = "\n".join(f"- {name}: {SHORT.get(name, m.description)}"
                        for name, m in METRICS.items()
                        if m.relation != "scores" or profile.has_scores)
    messages = prompt.render(metrics=metrics, dimensions=", ".join(DIMENSIONS),
                             sources=profile.describe(), question=question,
                             hints=hints.for_prompt())
    anchor = hints.anchor.isoformat() if hints.anchor else "untimed data"
    messages[1] = ("user", f"{messages[1][1]} Today: {anchor}")
    model = draft_model(list(profile.sources))
    try:
        return structured(backend, messages, model)
    except StructuredOutputError as exc:
        log.warning("plan draft failed: %s", exc)
        return None


def _cannot(question: str, run: ToolRun, profile: DataProfile, reason: str,
            **extra: Any) -> AskResult:
    available = available_text(profile)
    answer = f"I can't answer that from this data: {reason}. {available}"
    return AskResult(question=question, answer=answer, answerable=False, run=run.finish(),
                     reason=reason, available=available, **extra)


def ask(question: str, con: duckdb.DuckDBPyConnection, backend: LLMBackend | None,
        profile: DataProfile | None = None,
        on_chunk: Callable[[str], None] | None = None,
        min_group_size: int = DEFAULT_MIN_GROUP_SIZE,
        previous_plan: dict[str, Any] | None = None, shortcut: bool = True) -> AskResult:
    """Answer an operator question from the workspace; see the module docstring.

    With `backend=None` the plan comes from the code hints alone (offline mode). Groups of
    fewer than `min_group_size` distinct users are hidden (the answer says how many), and an
    answer about fewer users than that is withheld. `previous_plan` (the plan of the last
    answer in a conversation) lets a follow-up such as "and in November?" keep its filters.
    With `shortcut`, a question code parses with certainty skips the LLM (`plan_source`
    "rules"); without it every question goes to the LLM (for evaluation).
    """
    run = ToolRun(tool="ask")
    question = re.sub(r"\s+", " ", question).strip()[:MAX_QUESTION_CHARS]
    with run.step("profile data") as step:
        profile = profile or data_profile(con)
        step.detail = f"{len(profile.sources)} sources"
    with run.step("resolve question") as step:
        read, typos = spelled(question, profile.sources)  # "actualy purchsed": typos fixed
        hints = resolve_question(read, profile, con)
        hints.unexplained = unexplained_words(read, hints, profile.sources)
        hints.unsupported = hints.unsupported or unmatched_subject(read, hints.unexplained)
        step.detail = hints.for_prompt()
    if hints.unsupported:
        run.steps.append(TraceStep("plan with LLM", "skipped",
                                   detail="question needs " + hints.unsupported))
        return _cannot(question, run, profile, f"no source records {hints.unsupported}",
                       hints=hints.to_dict(), plan_source="none")
    follow = previous_plan is not None and is_follow_up(question, hints)
    if follow:
        previous_plan = pin_peak(previous_plan or {}, question, lambda p: run_plan(
            con, QueryPlan.model_validate(p), min_group_size=min_group_size).rows)
        rescope_dates(question, hints, previous_plan, profile)
    if hints.date_from is not None and hints.anchor is not None and hints.date_from > hints.anchor:
        run.steps.append(TraceStep("plan with LLM", "skipped", detail="period after the data"))
        return _cannot(question, run, profile, f"the data in scope ends on {hints.anchor} and "
                       f"the question asks about {hints.date_phrase or hints.date_from} (no "
                       "forecasts)", hints=hints.to_dict(), plan_source="none")
    draft: PlanDraftBase | None = None
    certain = shortcut and parsed_with_certainty(hints)
    if follow:
        run.steps.append(TraceStep("plan with LLM", "skipped",
                                   detail="follow-up: the previous plan with the new words"))
    elif backend is None:  # offline mode: the plan comes from the code hints alone
        run.steps.append(TraceStep("plan with LLM", "skipped", detail="no LLM backend"))
    elif certain:
        run.steps.append(TraceStep("plan with LLM", "skipped",
                                   detail="code read the plan with certainty"))
    else:
        with run.step("plan with LLM") as step:
            draft = _draft(backend, question, hints, profile, run)
            if draft is None:
                step.status, step.detail = "fallback", "invalid draft; using code hints"
            else:
                step.detail = draft.model_dump_json(exclude_defaults=True)
    draft_dict = ({k: v.isoformat() if isinstance(v, dt.date) else v
                   for k, v in draft.values().items()} if draft is not None else None)
    with run.step("validate plan") as step:
        try:
            if follow:
                plan = follow_up_plan(previous_plan or {}, hints, read)
                overrides = ["follow-up"]
            else:
                plan, overrides = to_plan(draft, hints, question, profile)
                if plan is not None:
                    plan = in_previous_sources(plan, previous_plan, hints, profile)
        except ValidationError as exc:
            step.status, step.detail = "error", str(exc.errors()[:2])
            return _cannot(question, run, profile, "the question does not map to a valid "
                           "query on this data", hints=hints.to_dict(), draft=draft_dict,
                           plan_source="none")
        step.detail = "overrode " + ", ".join(overrides) if overrides else "as drafted"
    if plan is None:
        return _cannot(question, run, profile, "it is outside the metrics this workspace "
                       "tracks", hints=hints.to_dict(), draft=draft_dict, plan_source="none")
    source = ("hints" if draft is None else "llm+hints" if overrides else "llm")
    if backend is None:
        source = "offline"
    elif certain:
        source = "rules"
    if follow:
        source = "follow-up"
    missing = why_unanswerable(con, read, plan, profile)
    if missing:
        return _cannot(question, run, profile, missing, hints=hints.to_dict(), draft=draft_dict,
                       plan=plan.model_dump(mode="json"), overrides=overrides,
                       plan_source=source)
    with run.step("run SQL (read-only)") as step:
        try:
            result = run_plan(con, plan, min_group_size=min_group_size)
        except PlanError as exc:
            step.status, step.detail = "error", str(exc)
            return _cannot(question, run, profile, str(exc), hints=hints.to_dict(),
                           draft=draft_dict, plan=plan.model_dump(mode="json"),
                           plan_source=source, overrides=overrides)
        step.detail = f"{len(result.rows)} rows" + (
            f", {result.hidden_groups} small groups hidden" if result.hidden_groups else "")
    common = dict(hints=hints.to_dict(), draft=draft_dict, plan=plan.model_dump(mode="json"),
                  sql=result.sql, params=[[str(p) for p in ps] for ps in result.params],
                  plan_source=source, overrides=overrides, columns=result.columns,
                  rows=result.rows, periods=result.periods,
                  privacy={"min_group_size": result.min_group_size,
                           "hidden_groups": result.hidden_groups})
    if not result.answerable or _all_empty(result):
        reason = result.reason or (f"there is no {LABELS.get(plan.metrics[0])} data for "
                                   "these filters")
        return _cannot(question, run, profile, reason, **common)
    with run.step("render answer") as step:
        answer = render_answer(result)
        report = check_answer(answer, result.to_dict(), question=question)
        step.detail = "grounded" if report.ok else report.feedback()
    if not report.ok:  # cannot happen with the templates; never show an ungrounded number
        log.error("template answer failed grounding: %s", report.feedback())
        answer = "The result table has the answer; see the rows."
    readings = (typo_note(typos) + stated_readings(question, common["plan"])
                + unexplained_note(hints.unexplained))
    answer = " ".join([answer, *readings])
    if on_chunk is not None:
        run.mark_first_token()
        on_chunk(answer)
    return AskResult(question=question, answer=answer, answerable=True, run=run.finish(),
                     chart=result.chart,
                     grounding={"ok": report.ok, "numbers_checked": report.numbers_checked,
                                "violations": [v.message for v in report.violations]},
                     readings=readings, **common)


def _all_empty(result: AnalyticsResult) -> bool:
    metrics = result.plan.metrics
    return all(row.get(m) is None for row in result.rows for m in metrics)

