"""`persona`: a structured shopper persona of one user or one segment, plus cited prose.

The traits are computed in SQL, each with the fact keys / review ids it rests on: interests
(top categories or reviewed items), price sensitivity (only where prices exist: the subject's
mean price against the source's per-user price distribution), brand and category affinities,
quality expectations (ratings given, with the lowest- and highest-rated reviews), and likely
next needs (predicted items and intent when scores exist, else recent categories). The LLM
only proposes claims, each verified by code (`narrate`); demographic words are rejected by an
extra check.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from assistant.claims.schema import ClaimDraft, tagged_claims
from assistant.facts import REVIEWER_NAMES, ReviewFact, review_fact
from assistant.grounding import personal_check
from assistant.llm.backends import LLMBackend
from assistant.tools.evidence import (
    claim_evidence,
    claim_fact_block,
    review_block,
    review_meta,
    select_reviews,
)
from assistant.tools.narrate import PROSE_MAX_TOKENS, ProseResult, narrate
from assistant.tools.subjects import catalog_names, flat_facts, user_evidence, zero_measures
from assistant.tools.trace import ToolRun
from core.errors import InputError
from prompts import load_prompt
from retrieval.search import Retriever
from store.queries import table_exists

PROMPT = "persona"
TOP = 3
PROMPT_FACTS = ("events", "purchases", "first_activity", "last_activity", "active_span",
                "users_in_segment")
"""Facts shown beside the traits' own facts."""
MIN_CLAIMS = 2


@dataclass
class Trait:
    """One persona trait: a value and the citations it rests on."""

    name: str
    value: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class PersonaResult(ProseResult):
    """A persona: subject, traits, prose and provenance."""

    subject: str
    source: str
    traits: list[Trait]
    prose: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {**super().to_dict(), "traits": [t.__dict__ for t in self.traits]}


def _top(con: duckdb.DuckDBPyConnection, column: str, source: str, users: list[str]
         ) -> list[tuple[str, int]]:
    rows = con.execute(
        f"SELECT {column}, count(*) AS n FROM events WHERE source = ? AND "
        f"list_contains(?, user_id) AND {column} IS NOT NULL GROUP BY 1 ORDER BY n DESC, 1 "
        f"LIMIT ?", [source, users, TOP]).fetchall()
    return [(str(r[0]), int(r[1])) for r in rows]


def _reviewed_titles(con: duckdb.DuckDBPyConnection, source: str, users: list[str]
                     ) -> list[tuple[str, int]]:
    rows = con.execute(
        "SELECT coalesce(i.title, r.item_id), count(*) AS n FROM reviews r LEFT JOIN items i "
        "ON i.source = r.source AND i.item_id = r.item_id WHERE r.source = ? AND "
        "list_contains(?, r.user_id) GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?",
        [source, users, TOP]).fetchall()
    return [(str(r[0])[:60], int(r[1])) for r in rows]


def _price(con: duckdb.DuckDBPyConnection, source: str, users: list[str]
           ) -> dict[str, Any] | None:
    row = con.execute(
        """
        WITH per_user AS (SELECT user_id, avg(price) AS p FROM events
                          WHERE source = ? AND price IS NOT NULL GROUP BY user_id),
        subject AS (SELECT avg(price) AS p FROM events WHERE source = ? AND price IS NOT NULL
                    AND list_contains(?, user_id))
        SELECT (SELECT p FROM subject), median(p),
               avg(CASE WHEN p <= (SELECT p FROM subject) THEN 1.0 ELSE 0.0 END)
        FROM per_user
        """, [source, source, users]).fetchone()
    if row is None or row[0] is None:
        return None
    return {"mean_price": round(float(row[0]), 2),
            "source_median_user_price": round(float(row[1]), 2),
            "price_percentile": round(float(row[2]) * 100)}


def _ratings(con: duckdb.DuckDBPyConnection, source: str, users: list[str]
             ) -> dict[str, Any] | None:
    row = con.execute("SELECT avg(rating), count(rating), avg(CASE WHEN rating <= 2 THEN 1.0 "
                      "ELSE 0.0 END) FROM reviews WHERE source = ? AND list_contains(?, user_id)",
                      [source, users]).fetchone()
    if not row or not row[1]:
        return None
    return {"mean_rating_given": round(float(row[0]), 2), "ratings_given": int(row[1]),
            "low_rating_share": round(float(row[2]), 3)}


def _fmt_pairs(pairs: list[tuple[str, int]]) -> str:
    return ", ".join(f"{v} ({n})" for v, n in pairs)


def _listed(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)


def build_traits(facts: dict[str, Any], reviews: list[ReviewFact]) -> list[Trait]:
    """The structured traits from computed facts (each citing its fact keys / reviews)."""
    traits: list[Trait] = []
    if facts.get("top_categories"):
        traits.append(Trait("interests", f"most active in {facts['top_categories']}",
                            ["F:top_categories"]))
    elif facts.get("top_reviewed_items"):
        traits.append(Trait("interests", f"reviews {facts['top_reviewed_items']}",
                            ["F:top_reviewed_items"]))
    if "price_percentile" in facts:
        pct = facts["price_percentile"]
        label = "budget-minded" if pct < 34 else "premium-leaning" if pct > 66 else "mid-range"
        traits.append(Trait("price_sensitivity",
                            f"{label}: mean price {facts['mean_price']} vs source median per "
                            f"user {facts['source_median_user_price']}",
                            ["F:mean_price", "F:source_median_user_price",
                             "F:price_percentile"]))
    if facts.get("top_brands"):
        traits.append(Trait("brand_affinity", str(facts["top_brands"]), ["F:top_brands"]))
    if facts.get("top_categories"):
        traits.append(Trait("category_affinity", str(facts["top_categories"]),
                            ["F:top_categories"]))
    if "mean_rating_given" in facts:
        mean, low = facts["mean_rating_given"], facts.get("low_rating_share", 0)
        label = ("demanding" if mean < 3.5 or low > 0.2 else
                 "easily satisfied" if mean >= 4.5 else "moderate")
        cited = ["F:mean_rating_given", "F:ratings_given", "F:low_rating_share"]
        rated = sorted((r for r in reviews if r.rating is not None), key=lambda r: r.rating or 0)
        if rated:
            cited += sorted({f"R:{rated[0].review_id}", f"R:{rated[-1].review_id}"})
        traits.append(Trait("quality_expectations",
                            f"{label}: mean rating {mean} over {facts['ratings_given']} "
                            "ratings", cited))
    if facts.get("predicted_next_items"):
        value = f"predicted next items {_listed(facts['predicted_next_items'])}"
        cited = ["F:predicted_next_items"]
        if "intent_probability" in facts:
            value += f"; purchase probability {facts['intent_probability']}"
            cited.append("F:intent_probability")
        traits.append(Trait("likely_next_needs", value, cited))
    elif facts.get("recent_items"):
        recent = _listed(facts["recent_items"])
        traits.append(Trait("likely_next_needs", f"more like the recent {recent}",
                            ["F:recent_items"]))
    return traits


def _segment_users(con: duckdb.DuckDBPyConnection, segment: int, source: str | None
                   ) -> tuple[str, list[str]]:
    if not table_exists(con, "user_scores"):
        raise InputError("no user scores yet, so no segments; run `insight train` and "
                         "`insight score` first")
    rows = con.execute("SELECT source, list(user_id) FROM user_scores WHERE segment = ? AND "
                       "(? IS NULL OR source = ?) GROUP BY source ORDER BY count(*) DESC",
                       [segment, source, source]).fetchall()
    if not rows:
        raise InputError(f"unknown segment {segment}" + (f" in source {source!r}"
                                                          if source else ""))
    if len(rows) > 1 and source is None:
        raise InputError(f"segment {segment} exists in several sources "
                         f"({', '.join(r[0] for r in rows)}); choose one with --source")
    return rows[0][0], list(rows[0][1])


def subject_facts(con: duckdb.DuckDBPyConnection, source: str, users: list[str]
                  ) -> dict[str, Any]:
    """Top categories / brands (or reviewed items), price position and ratings of users."""
    facts: dict[str, Any] = {}
    for column, key in (("category", "top_categories"), ("brand", "top_brands")):
        top = _top(con, column, source, users)
        if top:
            facts[key] = _fmt_pairs(top)
    if "top_categories" not in facts:
        titles = _reviewed_titles(con, source, users)
        if titles:
            facts["top_reviewed_items"] = _fmt_pairs(titles)
    facts.update(_price(con, source, users) or {})
    ratings = _ratings(con, source, users)
    if ratings:
        facts.update(ratings, rating_scale="1 to 5 stars")
    return facts


def persona(user_id: str | None = None, segment: int | None = None, source: str | None = None,
            *, con: duckdb.DuckDBPyConnection, backend: LLMBackend,
            retriever: Retriever | None = None,
            on_chunk: Callable[[str], None] | None = None,
            mask_pii: bool = True, prose_max_tokens: int = PROSE_MAX_TOKENS) -> PersonaResult:
    """Persona of a user (or of a segment's users): computed traits + cited prose (personal
    data in review text masked unless `mask_pii` is off; the prose capped at
    `prose_max_tokens`, the `llm.prose_max_tokens` setting)."""
    if (user_id is None) == (segment is None):
        raise InputError("give either a user id or a segment")
    run = ToolRun(tool="persona", model=backend.model)
    with run.step("compute traits") as step:
        if user_id is not None:
            evidence = user_evidence(con, user_id, source, retriever, k=3, mask_pii=mask_pii)
            source, users = evidence.user.source, [evidence.user.user_id]
            facts = {**flat_facts(evidence.user), **subject_facts(con, source, users)}
            reviews = evidence.reviews
            subject = f"customer {evidence.user.user_id} ({source})"
        else:
            assert segment is not None
            source, users = _segment_users(con, segment, source)
            facts = {"segment": segment, "users_in_segment": len(users),
                     **subject_facts(con, source, users)}
            pool = con.execute(
                "SELECT r.review_id, r.item_id, NULL, r.rating, CAST(r.ts AS DATE), r.summary, "
                f"r.text, {REVIEWER_NAMES} FROM reviews r WHERE r.source = ? AND "
                "list_contains(?, r.user_id) ORDER BY r.helpful_votes DESC NULLS LAST, "
                "r.ts DESC LIMIT 50", [source, users]).fetchall()
            candidates = [review_fact(r, mask_pii) for r in pool]
            reviews, _ = select_reviews(con, candidates, 3)
            subject = f"segment {segment} of {source} ({len(users)} users)"
        traits = build_traits(facts, reviews)
        step.detail = f"{len(traits)} traits"
    prompt = load_prompt(PROMPT)
    run.use_prompt(prompt.ref)
    lines = "\n".join(f"{t.name.replace('_', ' ')}: {t.value} (evidence: "
                      f"{', '.join(t.evidence)})" for t in traits)
    keys = [*PROMPT_FACTS, *(e[2:] for t in traits for e in t.evidence if e.startswith("F:"))]
    shown = {k: facts[k] for k in dict.fromkeys(keys) if k in facts}
    messages = prompt.render(subject=subject, traits=lines or "(none)",
                             facts=claim_fact_block(shown), reviews=review_block(reviews))
    context = ({"user_id": user_id, "source": source} if user_id is not None
               else {"segment": segment, "source": source})
    ev = claim_evidence(shown, reviews, context=context,
                        zero=zero_measures(facts) if user_id is not None else frozenset(),
                        names=catalog_names(con, source))
    narration = narrate(backend, messages, evidence=ev, run=run,
                        fallback=fallback_claims(traits, subject, user_id is not None),
                        min_claims=MIN_CLAIMS, on_chunk=on_chunk,
                        extra_check=personal_check({"subject": subject, "traits": lines,
                                                    "facts": shown,
                                                    "titles": [r.item_title for r in reviews]}),
                        max_tokens=prose_max_tokens)
    return PersonaResult(subject=subject, source=source, traits=traits, prose=narration.text,
                         facts=facts, reviews=[{**review_meta(r), "snippet": r.snippet(300)}
                                               for r in reviews], **narration.outcome(run))


def fallback_claims(traits: list[Trait], subject: str, of_user: bool) -> list[ClaimDraft]:
    """The facts-only persona: one claim per trait, citing the trait's evidence."""
    text = " ".join(f"{t.name.replace('_', ' ').capitalize()}: {t.value} "
                    f"{' '.join(f'[{e}]' for e in t.evidence)}." for t in traits) or (
        f"Too little activity to describe {subject} "
        f"[F:{'events' if of_user else 'users_in_segment'}].")
    return tagged_claims(text)
