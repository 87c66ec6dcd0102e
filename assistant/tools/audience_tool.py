"""Chat questions such as "who should we target with samsung?" → the audience builder.

The target is read from the question by rules, checked against the workspace: a labelled item
("item 123"), brand or category ("brand apple", "category electronics"), a goal (win back /
churn → ``winback``; carts → ``convert-carts``), then a bare item id, brand or category name
found in the events or items tables. The reply states the audience size, the expected
conversions and the backtest lifts, every number taken from :func:`build_audience`; no user
ids are listed (the chat is shown to roles that may not see them).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from assistant.tools.trace import ToolRun
from core.errors import InputError
from store.workspace import Workspace

log = logging.getLogger(__name__)

AUDIENCE_QUESTION = re.compile(
    r"\b(?:who|whom|which\s+(?:users?|customers?|shoppers?|people|buyers?))\b.{0,60}?"
    r"\b(?:target|get|receive|send|email|mail|push|campaign|reach|contact|likely)\b"
    r"|\b(?:audience|target\s+list|build\s+a\s+segment\s+for)\b", re.IGNORECASE | re.DOTALL)
"""A question asking which users a campaign should reach."""
GOAL_WORDS = (
    ("winback", re.compile(r"\b(?:win[\s-]?back|winback|at[\s-]risk|churn\w*|lapsed|lost)\b",
                           re.I)),
    ("convert-carts", re.compile(r"\b(?:carts?|abandon\w*|basket)\b", re.I)),
)
CHAT_OPTIONS: dict[str, Any] = {"size": 100}
"""The `AudienceOptions` of a chat audience (the CLI and API offer every filter)."""
LABELLED = re.compile(r"\b(item|product|brand|category)\s+([\w.&'-]+)", re.IGNORECASE)
_STOP_TEXT = """a an the to of for with about who whom which what should we our us users
user customers customer get gets target email emails mail send campaign would could will be
is are do does on in at and or it this that new people shoppers buyers reach contact likely
buy most"""
STOP = frozenset(_STOP_TEXT.split())


@dataclass
class AudienceReply:
    """The chat answer about an audience, with the figures it states."""

    answer: str
    source: str
    target: dict[str, str]
    figures: dict[str, Any]
    run: ToolRun = field(repr=False, default_factory=lambda: ToolRun(tool="audience"))

    def to_dict(self) -> dict[str, Any]:
        """JSON form (no user ids)."""
        return {"answer": self.answer, "source": self.source, "target": self.target,
                "figures": self.figures, "run": self.run.to_dict()}


def is_audience_question(message: str) -> bool:
    """Whether `message` asks whom to target."""
    return bool(AUDIENCE_QUESTION.search(message))


def workspace_of(con: duckdb.DuckDBPyConnection) -> Workspace:
    """The workspace whose database `con` is connected to."""
    row = con.execute("SELECT path FROM duckdb_databases() "
                      "WHERE database_name = current_database()").fetchone()
    if not row or not row[0]:
        raise InputError("audiences need a workspace on disk")
    return Workspace.open(Path(row[0]).parent)


def _sources(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [str(r[0]) for r in con.execute("SELECT DISTINCT source FROM events ORDER BY 1")
            .fetchall()]


def _lookup(con: duckdb.DuckDBPyConnection, kinds: tuple[str, ...], words: list[str],
            source: str | None) -> tuple[str, str, str] | None:
    """(source, kind, value) of the first of `words` that names an item / brand / category,
    the source with the most events of it first."""
    if not words:
        return None
    clauses = {
        "item": "SELECT source, 'item', item_id, count(*) FROM events "
                "WHERE list_contains($w, item_id) GROUP BY 1, 3",
        "brand": "SELECT source, 'brand', lower(brand), count(*) FROM events "
                 "WHERE list_contains($w, lower(brand)) GROUP BY 1, 3 UNION ALL "
                 "SELECT source, 'brand', lower(brand), 0 FROM items "
                 "WHERE list_contains($w, lower(brand)) GROUP BY 1, 3",
        # a category word also names its sub-categories ("electronics")
        "category": "SELECT source, 'category', w, count(*) FROM events, unnest($w) t(w) "
                    "WHERE lower(category) = w OR starts_with(lower(category), w || '.') "
                    "GROUP BY 1, 3 UNION ALL SELECT source, 'category', w, 0 FROM items, "
                    "unnest($w) t(w) WHERE lower(category) = w "
                    "OR starts_with(lower(category), w || '.') GROUP BY 1, 3",
    }
    sql = " UNION ALL ".join(clauses[k] for k in kinds)
    rows = con.execute(f"SELECT c0, c1, c2, sum(c3) FROM ({sql}) t(c0, c1, c2, c3) "
                       "GROUP BY 1, 2, 3",
                       {"w": words}).fetchall()
    if source is not None:
        rows = [r for r in rows if r[0] == source]
    if not rows:
        return None
    order = {k: i for i, k in enumerate(kinds)}
    best = min(rows, key=lambda r: (words.index(str(r[2]).lower()) if str(r[2]).lower() in words
                                    else len(words), order[r[1]], -int(r[3] or 0), r[0]))
    return str(best[0]), str(best[1]), str(best[2])


def parse_target(con: duckdb.DuckDBPyConnection, message: str,
                 source: str | None = None) -> tuple[str, str, str]:
    """(source, target kind, target value) named by `message`; InputError saying what could
    not be found."""
    sources = _sources(con)
    named = [s for s in sources if re.search(rf"\b{re.escape(s)}\b", message, re.I)]
    source = source or (named[0] if named else None)
    for kind, value in LABELLED.findall(message):
        kind = {"product": "item"}.get(kind.lower(), kind.lower())
        found = _lookup(con, (kind,), [value if kind == "item" else value.lower()], source)
        if found is None:
            where = f" in source {source!r}" if source else ""
            raise InputError(f"unknown {kind} {value!r}{where}")
        return found
    for goal, pattern in GOAL_WORDS:
        if pattern.search(message):
            if source is None:
                if len(sources) != 1:
                    raise InputError(f"which source? Name one of {', '.join(sources)} for the "
                                     f"{goal} audience")
                source = sources[0]
            return source, "goal", goal
    raw = [t for t in re.findall(r"[\w.&'-]+", message) if t.lower() not in STOP]
    raw = [t.strip(".'-") for t in raw if len(t.strip(".'-")) >= 2]
    words = [t.lower() for t in raw if t.lower() not in {s.lower() for s in sources}]
    found = (_lookup(con, ("item",), [t for t in raw if t.lower() in words], source)
             or _lookup(con, ("brand", "category"), words, source))
    if found is None:
        raise InputError("which item, brand, category or goal? e.g. \"who should we target "
                         "with brand samsung?\" or \"who should get the win-back email?\"")
    return found


def _times(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def audience_answer(message: str, con: duckdb.DuckDBPyConnection,
                    source: str | None = None) -> AudienceReply:
    """Build the audience the question asks for and say how big and how good it is."""
    from predictors.audience import AudienceOptions, AudienceTarget, build_audience

    run = ToolRun(tool="audience")
    with run.step("target") as step:
        chosen, kind, value = parse_target(con, message, source)
        target = AudienceTarget(kind, value)
        step.detail = f"{target.label} in {chosen}"
    with run.step("build audience + backtest") as step:
        options = AudienceOptions(**CHAT_OPTIONS)
        audience = build_audience(workspace_of(con), chosen, target, options)
        step.detail = f"{len(audience.users)} users"
    bt = audience.backtest
    figures: dict[str, Any] = {"size": len(audience.users),
                               "eligible_users": audience.eligible_users,
                               "expected_conversions": round(audience.expected_conversions, 2),
                               "horizon": audience.horizon}
    text = (f"Audience for {target.label} in {chosen}: {len(audience.users)} users "
            f"(of {audience.eligible_users} eligible), expected conversions "
            f"{audience.expected_conversions:.1f} within {audience.horizon} "
            f"({audience.calibration['method']} calibration).")
    if bt is not None:
        d = bt.to_dict()
        figures.update({k: d[k] for k in ("cutoff", "k", "precision_at_k", "lift",
                                           "lift_vs_recent_viewers", "lift_vs_popularity")})
        text += (f" Backtest at {d['cutoff'][:10]}: precision@{d['k']} "
                 f"{d['precision_at_k']:.2f} (base rate {d['base_rate']:.3f}), lift "
                 f"{_times(d['lift'])} over random users, "
                 f"{_times(d['lift_vs_recent_viewers'])} over recent viewers, "
                 f"{_times(d['lift_vs_popularity'])} over popularity.")
    flag = {"item": "--item", "category": "--category", "brand": "--brand", "goal": "--goal"}
    text += (f" Export the list with `insight audience --source {chosen} "
             f"{flag[target.kind]} {target.value} --csv audience.csv`.")
    return AudienceReply(answer=text, source=chosen,
                         target={"kind": target.kind, "value": target.value}, figures=figures,
                         run=run.finish())
