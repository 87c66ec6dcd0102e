"""Deterministic pre-resolution of an operator question, before (and besides) the LLM.

Code is better than a 1.5B model at a few things: spotting which source names, categories,
brands and item ids a question mentions, and turning "last week", "in 2013" or "on
2017-12-01" into dates anchored at the newest date of the data in scope. The results go to
the LLM as hints, and the confident ones (sources, dates, comparisons, filters) override the
LLM's plan. Questions about attributes the data does not have (age, gender, location…) are
recognised here too, so they get an honest "can't answer" without a model call.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from assistant.analytics.catalog import METRICS
from assistant.tools.measures import refine_measure
from assistant.tools.periods import (
    find_dates,
    find_rating_range,
    find_two_periods,
    period_spans,
)
from assistant.tools.population import Population, event_kinds, read_population
from assistant.tools.profile import DataProfile
from assistant.tools.source_names import STOP_VALUES, find_sources
from assistant.tools.unsupported import UNSUPPORTED

SHARE = r"(\b(share|fraction|percent\w*|proportion|ratio|rate|how often)\b|%)"
PEOPLE = r"\b(users?|customers?|people|ppl|shoppers?|visitors?|persons?)\b"
BUY = r"\b(purchas\w*|bought|buys?|buying|orders?|sales?)\b"
BUYER_WORDS = (r"(buyers?|purchasers?|(purchasing|paying|buying) (users?|customers?|people|"
               r"shoppers?))")
"""People who bought, in one word or two ("purchasers", "paying customers")."""
MEAN = r"\b(average|avg|mean|on avg|typical\w*)\b"
HOW_MANY = r"(\b(how many|number of|no\.? of|num of|count of|total)\b|#\s*(of\b)?)"
DISTINCT = r"(\b(distinct|different|diff|unique|product)\s+){0,2}"
METRIC_WORDS: list[tuple[str, str]] = [
    (rf"{MEAN}.*\b{BUYER_WORDS}\b|\bper {BUYER_WORDS}\b", "purchases_per_buyer"),
    (rf"{MEAN}.*\b(events?|actions?|interactions?)\b.*\b(per|each|a|an)\b.*{PEOPLE}"
     rf"|{MEAN}.*{PEOPLE}.*\b(events?|actions?|interactions?)\b"
     r"|\b(events?|actions?) per (user|customer|person|shopper)\b", "events_per_user"),
    (rf"{SHARE}.*\b(events?|activity|actions?)\b.*{BUY}|how much of .*\b(activity|events?)\b"
     rf".*{BUY}|{SHARE}.*{BUY}.*\b(of|among) (all )?"
     r"(the )?events?\b", "purchase_share"),
    (rf"{HOW_MANY}\s+{DISTINCT}categor|\bcategor\w* (count|total)\b", "categories"),
    (rf"{HOW_MANY}\s+{DISTINCT}brands?\b|\bbrands? (count|total)\b", "brands"),
    (rf"{HOW_MANY}\s+{DISTINCT}(products?|items?|asins?)\b(?! (were |was |got |did )?(sold|"
     r"bought|purchased|ordered|added|carted|viewed|favou?rited|wishlisted|saved))"
     r"(?!\s+(views?|events?|purchases?|sales|carts?|reviews?|orders?)\b)", "items"),
    (r"\b(most expensive|priciest|highest.priced) (items?|products?|asins?)\b(?!\s+(were |was )?"
     r"(sold|bought|purchased|ordered))", "mean_price"),
    (r"\b(highest|max\w*|most expensive|top) (price|amount)\b.*\b(paid|sold|purchase\w*)\b"
     r"|\b(highest|max\w*|biggest|largest) purchase (price|amount)\b|\bpriciest\b"
     r"|\bmost expensive (purchase|order|sale)\b",
     "max_purchase_price"),
    (rf"{BUY}\s+(per|divided by|/|over)\s+(cart|carts|cart adds?|add.to.carts?)\b"
     rf"|\bratio of {BUY} to (carts?|cart adds?|add.to.carts?)\b", "cart_to_purchase_rate"),
    (rf"{BUY}[\s-]*(to|per|for each|for every|divided by|/|over)[\s-]*(an?\s+)?(product\s+|"
     rf"page\s+)?views?\b|{BUY}.*\bper\s+(product\s+|page\s+)?views?\b",
     "view_to_purchase_rate"),
    (rf"\bviews?\s+(per|for each|for every|divided by|/|over)\s+(an?\s+)?{BUY}"
     rf"|\bratio of views? to {BUY}|\bviews?\b.*\bper\s+(an?\s+)?(purchase|order|sale)\b",
     "views_per_purchase"),
    (rf"{SHARE}.*\bviews?\b.*\b(carts?|basket)\b", "view_to_cart_rate"),
    (rf"{SHARE}.*\bviews?\b.*\b(purchas\w*|bought|buys?|orders?)\b", "view_to_purchase_rate"),
    (rf"{SHARE}.*\b(carts?|carted)\b.*\b(purchas\w*|bought|buys?|orders?)\b",
     "cart_to_purchase_rate"),
    (r"average order value|\baov\b|order value", "average_order_value"),
    (r"revenue|sales amount|gmv|turnover|money|\$|\btotal value\b|\bvalue of (all )?(the )?"
     r"(purchases|orders|sales)\b", "revenue"),
    (r"view.to.cart|\bcart rate\b|\bcarts? per views?\b", "view_to_cart_rate"),
    (r"cart.to.purchase|cart.to.buy", "cart_to_purchase_rate"),
    (r"view.to.purchase|conversion", "view_to_purchase_rate"),
    (r"abandon", "cart_abandonment_rate"),
    (r"repeat", "repeat_purchase_rate"),
    (r"churn", "mean_churn"),
    (r"intent|purchase probability|likely to buy", "mean_intent"),
    (r"scored users|users (were|are) scored|users scored", "segment_size"),
    (r"rating|\bstars?\b|rated", "mean_rating"),
    (rf"\breviewers?\b|{PEOPLE}\s+(who\s+)?(reviewed|wrote|left)\b", "reviewers"),
    (r"\breviews?\b|reviewed", "review_count"),
    (r"\bhow many times\b.*\b(add\w* (\w+ )?to (the |their )?cart|carted)\b", "carts"),
    (rf"{PEOPLE}.*\b(add\w* (\w+ )?to (the |their )?cart|carted)\b"
     rf"|{PEOPLE}\s+with\s+(an?\s+)?(cart|add.to.cart)\b|\bcarters?\b", "cart_users"),
    (r"add.to.cart|\bcarts?\b|carted", "carts"),
    (r"favou?rites?|\bfavs?\b|wishlist", "favs"),
    (rf"{HOW_MANY}\s+(\w+\s+)?(sessions?|visits?)\b|\b(sessions?|visits?) (count|total)\b",
     "sessions"),
    (r"purchas(e|es|ed|ing)\b|orders?|bought|\bbuys?\b|\bsold\b|\bsales\b|\bsell(ing|ers?)\b",
     "purchases"),
    (r"\bviews?\b|page views|viewed|\bpvs?\b|\blook(s|ed|ing)? at\b|\blookers?\b", "views"),
    (rf"\b{BUYER_WORDS}\b", "buyers"),
    (r"\busers?\b|customers?|visitors?|shoppers?|people|\bppl\b|reviewers?", "users"),
    (r"\bevents?\b|\bevnts?\b|interactions?|activity|actions?", "events"),
    (r"\b(busiest|most active|peak\w*|popular\w*)\b", "events"),
]
"""Keyword → metric, most specific first; the first match is the hint."""

GROUP_WORDS: list[tuple[str, str]] = [
    (r"categor|\bcats?\b", "category"),
    (r"\bbrands?\b", "brand"),
    (r"\b(items?|products?|asins?)\b", "item_id"),
    (r"\bsources?\b|datasets?|stores?|shops?", "source"),
    (r"event types?|kind of event", "event_type"),
    (r"\bsegments?\b", "segment"),
    (r"\b(weekdays?|day of (the )?week|days of the week)\b", "weekday"),
    (r"\b(days?|daily|dates?)\b", "day"),
    (r"\b(weeks?|weekly)\b", "week"),
    (r"\b(months?|monthly)\b", "month"),
    (r"\b(years?|yearly|annual\w*)\b", "year"),
]
GROUP_CUES = (r"\b(which|what|top|best|worst|per|by|each|every|most|(?<!at )least|highest|"
              r"lowest|rank|"
              r"busiest|peak)\b")
FALL = r"\b(fell|fall|falls|fallen|drop|dropped|drops|declin\w*|decreas\w*|shrank|lost|down)\b"
RISE = r"\b(grew|grow|grows|grown|rose|rise|rises|increas\w*|gain\w*|up|jump\w*)\b"
COMPARE = r"\b(compared?|versus|vs\.?|than the|week before|previous|prior|change[ds]?)\b"
LOW = r"\b((?<!at )least|lowest|fewest|smallest|worst|bottom)\b"
HIGH = r"\b(most|highest|largest|biggest|greatest|best|top|busiest|peak|maximum)\b"
SIDES = r"\b(or|vs\.?|versus|compared?|than|against)\b"
RANKING = r"\b(which|most|highest|lowest|least|fewest|peak|busiest|top|best|worst)\b"
BUYERS = rf"{PEOPLE}.*\b(bought|buy|purchased?|ordered)\b"


@dataclass
class Hints:
    """What code found in a question; `None` / empty means "not found"."""

    sources: list[str] = field(default_factory=list)
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    date_phrase: str | None = None
    compare: bool = False
    direction: str | None = None  # "fell" | "grew"
    metric: str | None = None
    group_by: str | None = None
    ascending: bool = False
    highest: bool = False  # the question asks for the top (the model may not sort ascending)
    ranking: bool = False
    event_type: str | None = None
    categories: list[str] = field(default_factory=list)
    brands: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    unsupported: str | None = None
    anchor: dt.date | None = None
    min_rating: int | None = None
    max_rating: int | None = None
    metrics: list[str] = field(default_factory=list)  # 2+ metrics asked together, in order
    population: Population = field(default_factory=Population)  # who is counted (see module)
    unexplained: list[str] = field(default_factory=list)  # words no pattern accounts for
    other_period: tuple[dt.date, dt.date] | None = None  # "dec 2 vs dec 3": the earlier day
    min_rows: int | None = None  # "items with at least 10 reviews": groups that small are out

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, empty fields left out."""
        def plain(value: Any) -> Any:
            if isinstance(value, dt.date):
                return value.isoformat()
            return [plain(v) for v in value] if isinstance(value, tuple) else value

        return {k: plain(v) for k, v in asdict(self).items() if v not in (None, [], False)}

    def for_prompt(self) -> str:
        """A short line of `key=value` hints for the LLM."""
        hints = [("metric", self.population.metric or self.metric),
                 ("source", ",".join(self.sources)),
                 ("event_type", self.event_type), ("group_by", self.group_by),
                 ("date_from", self.date_from and f"{self.date_from} date_to={self.date_to}"),
                 ("compare_previous_period", self.compare and "true"),
                 ("compare_with", self.other_period and self.other_period[0]),
                 ("category", ",".join(self.categories)), ("brand", ",".join(self.brands)),
                 ("item_id", ",".join(self.item_ids))] + self.population.for_prompt() + [
                 ("unknown_words", ",".join(self.unexplained))]
        return " ".join(f"{key}={value}" for key, value in hints if value) or "none"


GENERIC_METRICS = frozenset({"users", "events"})
"""Metrics code falls back to on any people / activity word: never certain on their own."""


def parsed_with_certainty(hints: Hints) -> bool:
    """Whether code read the whole plan with certainty, so the LLM is not asked (answers in
    well under 2 s): a construction of its own (who is counted, two metrics asked together)
    or a specific metric word, with nothing unsupported or unexplained. Generic words
    ("users", "activity") and questions without a metric word go to the LLM."""
    if hints.unsupported or hints.unexplained:
        return False
    if hints.population.found() or len(hints.metrics) >= 2:
        return True
    return hints.metric is not None and hints.metric not in GENERIC_METRICS


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("_", " ").replace("-", " ")).strip()


MIN_ROWS = (r"\b(items?|products?|asins?|ones|brands?|categor\w*|those)\s+(with|w/|having|that "
            r"(have|got))\s+(?P<q>at least|over|more than|min(imum)?( of)?)?\s*(?P<n>\d+)\s*\+?"
            r"\s*(reviews?|ratings?|events?)\b|\((?P<n2>\d+)\+\s*(reviews?|ratings?)\)")
"""A minimum size for ranked groups: "items with at least 10 reviews", "asin (10+ reviews)"."""
ABSENT = (r"\b(none|not|never|no longer|didn'?t|did not|without|stopped|no (\w+ )?(reviews?|"
          r"purchases?|orders?|events?|activity))\b")
"""Words between two named periods that ask for the users absent from the second."""
JOINED = r"(\band\b|&|\s\+\s|\bplus\b|\bas well as\b|\balong with\b)"


def metrics_asked_together(text: str) -> list[str]:
    """The metrics of a question that asks for several joined by "and", "+", "&" ("revenue and
    number of purchases"), in the order asked; [] for a one-metric question."""
    claimed: list[tuple[int, int, str]] = []
    people_who = (rf"{PEOPLE}\s+(who\s+)?(bought|buy|purchased|ordered)\b", "buyers")
    for pattern, metric in [people_who, *METRIC_WORDS]:
        match = next((m for m in re.finditer(pattern, text) if not any(
            s < m.end() and m.start() < e for s, e, _ in claimed)), None)
        if match is None:
            continue
        if metric not in (m for _, _, m in claimed):
            claimed.append((match.start(), match.end(), metric))
    claimed.sort()
    if len(claimed) < 2 or not re.search(JOINED, text[claimed[0][1]:claimed[1][0]]):
        return []
    metrics = [metric for _, _, metric in claimed[:2]]
    doers = {"purchases": "buyers", "carts": "cart_users"}.get(metrics[0])
    if metrics[1] == "users" and doers and re.search(rf"\b(to|by) how many\b.*{PEOPLE}", text):
        metrics[1] = doers  # "how many were sold, and to how many users?": the buyers
    return metrics


def _first(patterns: list[tuple[str, str]], text: str) -> str | None:
    for pattern, value in patterns:
        if re.search(pattern, text):
            return value
    return None


def _counted_by_rating(text: str) -> str | None:
    """Who or what a question with a star rating counts: "how many reviewers gave a 1-star
    review" counts people, "how many products got a 1-star review" counts items; None when it
    counts the reviews themselves."""
    counted = re.search(rf"{HOW_MANY}\s+{DISTINCT}(\w+)(\s+\w+)?", text)
    for noun in (counted.groups()[-2:] if counted else ()):
        noun = (noun or "").strip()
        if re.fullmatch(rf"reviewers?|{PEOPLE}", noun):
            return "reviewers"
        if re.fullmatch(r"items?|products?|asins?", noun):
            return "reviewed_items"
    return None


def _group_by(text: str) -> str | None:
    """A grouping only when the question asks for a ranking or a breakdown."""
    for pattern, dim in GROUP_WORDS:
        for m in re.finditer(pattern, text):
            before = text[max(0, m.start() - 40): m.start()]
            if re.search(r"\b(an?|any|one|single)\s*$", before):
                continue  # "the highest price paid for an item": any item, not per item
            if re.search(GROUP_CUES, before) or re.search(r"\b(each|per|by)\s*$", before):
                return dim
    return None


VALUE_SYNONYMS = {"laptop": "notebook", "laptops": "notebook", "fridge": "refrigerators",
                  "fridges": "refrigerators", "television": "tv", "televisions": "tv",
                  "tvs": "tv", "toaster": "toster", "cartridge": "cartrige"}
"""Everyday words for category names the data spells otherwise ("laptops" →
computers.notebook; the data's own typos: "toster", "cartrige")."""


def _values_in_question(con: duckdb.DuckDBPyConnection, question: str, column: str,
                        sources: list[str]) -> list[str]:
    """Category / brand values of the sources in scope named in the question."""
    text = question.lower()
    words = set(re.findall(r"[\w.&'-]{3,}", text))
    words = (words | {w[:-1] for w in words if w.endswith("s") and len(w) > 4}) - STOP_VALUES
    words |= {VALUE_SYNONYMS[w] for w in words if w in VALUE_SYNONYMS}
    if not words:
        return []
    scope = "AND list_contains(?, source)" if sources else ""
    params: list[Any] = [list(words), list(words)] + ([sources] if sources else [])
    rows = con.execute(
        f"SELECT DISTINCT {column} FROM events WHERE {column} IS NOT NULL AND "
        f"(list_contains(?, lower({column})) OR "
        f"list_contains(?, lower(split_part({column}, '.', -1)))) {scope} LIMIT 20",
        params).fetchall()
    found = [r[0] for r in rows if r[0].lower() not in STOP_VALUES
             and r[0].lower().rsplit(".", 1)[-1] not in STOP_VALUES]
    exact = [v for v in found if v.lower() in words]
    return sorted(exact or found)[:5]


def _item_ids(con: duckdb.DuckDBPyConnection, question: str, sources: list[str]) -> list[str]:
    tokens = [t for t in re.findall(r"\b[A-Z0-9]{5,}\b", question) if not re.fullmatch(
        r"(19|20)\d{2}", t)]
    if not tokens:
        return []
    scope = "AND list_contains(?, source)" if sources else ""
    rows = con.execute(f"SELECT DISTINCT item_id FROM events WHERE list_contains(?, item_id) "
                       f"{scope} LIMIT 10", [tokens] + ([sources] if sources else [])).fetchall()
    return sorted(r[0] for r in rows)


def _sources_having(con: duckdb.DuckDBPyConnection, brands: list[str],
                    categories: list[str]) -> list[str]:
    """The sources whose events have the brands or categories named (the source left out
    because only one fits: "% of buyers who bought apple")."""
    rows = con.execute("SELECT DISTINCT source FROM events WHERE list_contains(?, brand) OR "
                       "list_contains(?, category) ORDER BY 1", [brands, categories]).fetchall()
    return [r[0] for r in rows]


def _active_then_not(text: str, hints: Hints) -> None:
    """ "reviewers in 2013 but none in 2014", "bought in november but not in december": the
    users of the first period without such an event in the second (a set difference)."""
    spans = period_spans(text, hints.anchor)
    if len(spans) != 2:
        return
    (first, start, end), (second, other_start, other_end) = spans
    gap = re.search(ABSENT, text[first:second + 1])
    if gap is None:
        return
    kinds = event_kinds(text)
    hints.date_from, hints.date_to, hints.date_phrase = start, end, f"{start} to {end}"
    hints.compare, hints.direction = False, None
    hints.population = Population(users=[{
        "event_type": kinds[0] if kinds else None, "never": True,
        "date_from": other_start, "date_to": other_end}])


def _anchor_where_data_is(question: str, profile: DataProfile, hints: Hints) -> None:
    """A day without a year and without a source ("on 12/2") read in the newest year of all
    the data may fall where no source has events; read it in the year of the first source
    whose data covers it instead (sources with the metric's events first)."""
    def covered(day: dt.date) -> bool:
        return any(s.first_date and s.last_date and s.first_date <= day <= s.last_date
                   for s in profile.sources.values())

    if hints.date_from is None or covered(hints.date_from):
        return
    needed = set(METRICS[hints.metric].population) if hints.metric in METRICS else set()
    for name in sorted(profile.sources, key=lambda s: not needed <= set(
            profile.sources[s].event_types)):
        anchor = profile.anchor([name])
        start, end, phrase = find_dates(question, anchor)
        if start is not None and covered(start):
            hints.anchor, hints.date_from, hints.date_to, hints.date_phrase = (
                anchor, start, end, phrase)
            return


def resolve_question(question: str, profile: DataProfile,
                     con: duckdb.DuckDBPyConnection | None = None) -> Hints:
    """Everything code can read off the question; see the module docstring."""
    text = _norm(question)
    hints = Hints()
    for pattern, what in UNSUPPORTED.items():
        if re.search(pattern, text):
            hints.unsupported = what
            break
    hints.sources = find_sources(question, list(profile.sources))
    hints.anchor = profile.anchor(hints.sources)
    hints.date_from, hints.date_to, hints.date_phrase = find_dates(question, hints.anchor)
    hints.metric = _first(METRIC_WORDS, text)
    hints.metrics = metrics_asked_together(text)
    hints.min_rating, hints.max_rating = find_rating_range(text)
    if (hints.min_rating, hints.max_rating) != (None, None) and hints.metric in (
            "mean_rating", None):
        hints.metric = "review_count"  # "how many 1-star reviews": a count of those reviews
    if hints.min_rating is not None or hints.max_rating is not None:
        hints.metric = _counted_by_rating(text) or hints.metric
    hints.group_by = _group_by(text)
    if hints.group_by == "source" and hints.sources and len(hints.sources) == 1:
        hints.group_by = None
    if hints.group_by is None and len(hints.sources) >= 2 and re.search(SIDES, text):
        hints.group_by = "source"  # "more buyers: tb or rees?" compares the sources
    hints.ascending = bool(re.search(LOW, text))
    hints.highest = bool(re.search(HIGH, text)) and not hints.ascending
    hints.ranking = bool(re.search(RANKING, text))
    counted = re.search(rf"{HOW_MANY}\s+(\w+)", text)
    noun = _first(METRIC_WORDS, counted.group(counted.lastindex or 0)) if counted else None
    if hints.metric == "users" and noun in ("events", "purchases", "views", "carts", "favs",
                                            "review_count"):
        hints.metric = noun  # "how many actions did ppl log": the noun counted wins
    most_people = re.search(rf"\bmost {PEOPLE}\s+(buying|who (bought|buy)|purchasing)", text)
    if ((most_people or re.search(BUYERS, text) and re.search(HOW_MANY, text))
            and hints.metric in (None, "users", "purchases")):
        hints.metric = "buyers"
    if re.search(r"\b(viewers|lookers)\b", text) and hints.metric in (None, "views", "users"):
        hints.metric, hints.event_type = "users", "view"  # "unique viewers of smartphones"
    fell, grew = re.search(FALL, text), re.search(RISE, text)
    if (fell or grew or re.search(COMPARE, text)) and hints.date_from is not None:
        hints.compare = True
        hints.direction = "fell" if fell else ("grew" if grew else None)
    two = find_two_periods(question, hints.anchor)
    if two is not None:  # two named days set against each other: the later one is "now"
        (hints.date_from, hints.date_to), hints.other_period = two
        hints.compare, hints.direction = True, None
    if con is not None:
        hints.categories = _values_in_question(con, question, "category", hints.sources)
        hints.brands = _values_in_question(con, question, "brand", hints.sources)
        hints.item_ids = _item_ids(con, question, hints.sources)
        if not hints.sources and (hints.brands or hints.categories):
            hints.sources = _sources_having(con, hints.brands, hints.categories)
    hints.population = read_population(text, bool(hints.brands or hints.categories),
                                       (hints.min_rating, hints.max_rating) != (None, None))
    if hints.metric == "reviewed_items":
        hints.population = Population()  # "items with at least one 1-star review": items
    if not hints.sources and hints.date_from is not None:
        _anchor_where_data_is(question, profile, hints)
    measure = refine_measure(text)
    if measure is not None:  # a mean, price, helpful-vote or distinct-among measure
        hints.metric, hints.event_type, hints.metrics = measure.metric, measure.event_type, []
        hints.population = Population()
        if measure.ungrouped(text):
            hints.group_by = None
    _active_then_not(text, hints)
    enough = re.search(MIN_ROWS, text)
    if enough and hints.group_by in ("item_id", "brand", "category"):
        number = int(enough.group("n") or enough.group("n2"))
        hints.min_rows = number + 1 if re.match(r"(over|more than)", enough.group("q") or "") \
            else number
        hints.population = Population()  # the count is of the group's rows, not of users'
    if hints.group_by is None and re.search(SIDES, text):
        for dim, named in (("brand", hints.brands), ("category", hints.categories)):
            if len(named) >= 2:  # "huawei or xiaomi?": the two brands side by side
                hints.group_by = dim
                break
    return hints
