"""Each claim verified on its own against the evidence of its request.

A claim passes when all of these hold:

1. it cites at least one id, and every id exists in this request (it belongs to the subject);
2. every number is the value of a cited fact (or a cited review's rating or date), and the
   measure word next to it ("23 *purchases*") is one that fact measures: 23 reviews cited for
   "23 purchases" is refused;
3. every named thing — an item id, a capitalised name, a brand or category of the catalogue —
   appears in the cited evidence (or names the subject itself);
4. a review-derived claim shares content words with the review (or description) it cites;
5. it says nothing positive about a measure the data says is zero ("their last purchase" of
   a customer with no purchases), and nothing personal, and it is plain text (no markup, no
   instructions);
6. it calls no bare count "high", "many" or "popular" unless it cites a comparison (a rank,
   a share, a percentile pointing the same way); "out of 5" is the rating scale.

A trailing inference (", suggesting they …", "which indicates …") is cut off before the
checks: the stated fact is kept (and shown), the model's reading of it is not. Failures are
reasons phrased so they can be fed back to the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from assistant.claims import wording
from assistant.claims.measure_words import (
    TOKEN,
    WORD_MEASURE,
    measure_near,
    measures_of,
    qualifier_of,
)
from assistant.claims.schema import ID_KINDS, TAG, ClaimDraft, split_id
from assistant.grounding import (
    ISO_DATE_PATTERN,
    NUMBER_PATTERN,
    NUMBERED_CITATION,
    Violation,
    allowed_numbers,
    canonical_number,
    iso_dates,
    strip_unsafe_markup,
)


def _wordset(text: str) -> frozenset[str]:
    """The whitespace-separated words of `text` as a set."""
    return frozenset(text.split())


NEGATIONS = _wordset("no not never none zero without yet 0 n't nor")
HEDGES = _wordset("may might could would will likely predicted consider considering want "
                   "future next probability intent chance likelihood risk")
CONTINUATION = _wordset("more again another")
SMALL_WORDS = _wordset(
    "about after again also among because been being between both could does from have "
    "into just more most much only other over same some such than that their them then "
    "there these they this those through very were what when where which while with would "
    "your customer customers shopper shoppers user users review reviews reviewed wrote "
    "written says said item items product products mention mentions mentioned")
SAFE_CAPITALS = _wordset(
    "I January February March April May June July August September October November "
    "December Monday Tuesday Wednesday Thursday Friday Saturday Sunday")
INSTRUCTION = re.compile(r"(?i)\b(ignore|disregard)\b.{0,40}\b(instruction|previous|above)|"
                         r"\bsystem prompt\b|\bas an ai\b|\bassistant:|\bsystem:")
ID_LIKE = re.compile(r"(?<![\w.-])(?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{6,}(?![\w-])")
CAPITALISED = re.compile(r"(?<![\w.'’-])[A-Z][A-Za-z0-9&'’-]+")
LIST_NAME = re.compile(r"(?:^|,\s*)([^,()]+?)\s*\(\d+\)")
REVIEW_TALK = re.compile(r"(?i)\b(review\w*|customers?|buyers?|says?|said|rated|raves?)\b")
MIN_SHARED_WORDS = 2
MIN_SHARED_SHARE = 0.3


@dataclass
class ReviewEvidence:
    """A review as evidence: its text (untrusted, only compared) and its trusted fields."""

    review_id: str
    text: str
    rating: float | None = None
    date: str | None = None
    item_id: str | None = None
    title: str | None = None

    def meta(self) -> dict[str, Any]:
        """The trusted fields, the only ones numbers may come from."""
        return {"rating": self.rating, "date": self.date}


@dataclass
class EvidenceSet:
    """Everything the claims of one request may rest on.

    `facts` are citable as `F:key`, `reviews` as `R:id`, `items` (id → title) as `I:id`;
    `context` names the subject (its ids and source may be written without a citation);
    `zero` lists measures (keys of `measure_words.MEASURES`) the data says are zero for the subject;
    `names` are catalogue names (lower case) that need evidence when a claim mentions them.
    """

    facts: Mapping[str, Any]
    reviews: Mapping[str, ReviewEvidence] = field(default_factory=dict)
    items: Mapping[str, str | None] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)
    zero: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()

    def ids(self) -> list[str]:
        """Every id a claim may cite, in `K:id` form."""
        return ([f"F:{k}" for k in self.facts] + [f"R:{r}" for r in self.reviews]
                + [f"I:{i}" for i in self.items])

    @cached_property
    def context_text(self) -> str:
        """The subject's ids and names, lower case (free to mention)."""
        return " ".join(str(v) for v in self.context.values()).lower().replace("_", " ")

    @cached_property
    def context_numbers(self) -> set[str]:
        """Number forms of the subject's ids (a numeric user id is no claim)."""
        return allowed_numbers(*self.context.values())

    @cached_property
    def names_pattern(self) -> re.Pattern[str] | None:
        """One pattern matching any catalogue name as a whole phrase."""
        names = sorted((n for n in self.names if len(n) >= 3 and not n.isdigit()),
                       key=len, reverse=True)
        if not names:
            return None
        return re.compile(r"(?<![\w.-])(" + "|".join(re.escape(n) for n in names)
                          + r")(?![\w-])", re.IGNORECASE)


@dataclass
class Verdict:
    """A claim, the ids it cites (normalised) and whether it passed, with the reasons if not."""

    text: str
    kind: str
    evidence: list[str]
    verified: bool
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {"text": self.text, "kind": self.kind, "evidence": self.evidence,
                "verified": self.verified, "reasons": self.reasons}


ExtraCheck = Callable[[str], list[Violation]]


def _stem(word: str) -> str:
    word = word.lower().replace("’", "'").strip("'")
    if word.endswith("'s"):  # a possessive names the same thing: "Cook's Country's" holds "Country"
        word = word[:-2]
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Stems of the words of `text` that carry content (4+ letters, not function words)."""
    return {_stem(w) for w in re.findall(r"[A-Za-z][A-Za-z'’-]{3,}", text)
            if w.lower() not in SMALL_WORDS}


def _normalise(evidence: Iterable[str], ev: EvidenceSet) -> tuple[list[str], list[str]]:
    """(ids as `K:id`, reasons for ids that are not this request's)."""
    ids, reasons = [], []
    tables = {"F": ev.facts, "R": ev.reviews, "I": ev.items}
    for raw in evidence:
        kind, ident = split_id(raw)
        if kind is None:
            kind = next((k for k, table in tables.items() if ident in table), None)
        if kind is None or ident not in tables.get(kind, {}):
            what = ID_KINDS.get(kind or "", "fact or review")
            reasons.append(f"{kind + ':' if kind else ''}{ident} is not a {what} of this "
                           "request; cite only the ids given")
            continue
        ids.append(f"{kind}:{ident}")
    return list(dict.fromkeys(ids)), reasons


def _cited_values(ids: list[str], ev: EvidenceSet) -> dict[str, Any]:
    """The cited evidence as id → the value numbers may come from."""
    out: dict[str, Any] = {}
    for ident in ids:
        kind, key = ident.split(":", 1)
        if kind == "F":
            out[ident] = ev.facts[key]
        elif kind == "R":
            out[ident] = ev.reviews[key].meta()
        else:
            out[ident] = {"item_id": key, "title": ev.items.get(key)}
    return out


def _cited_text(ids: list[str], ev: EvidenceSet) -> str:
    """Everything the cited evidence says, lower case (for named things)."""
    parts = []
    for ident in ids:
        kind, key = ident.split(":", 1)
        if kind == "F":
            parts.append(f"{key.replace('_', ' ')} {ev.facts[key]}")
        elif kind == "R":
            r = ev.reviews[key]
            parts.append(f"{r.item_id} {r.title or ''} {r.text}")
        else:
            parts.append(f"{key} {ev.items.get(key) or ''}")
    return " ".join(parts).lower()


def _words_of(ident: str, value: Any) -> set[str]:
    """The lower-case words of a cited id's name and value ("top" of `top_reviewed_items`)."""
    return set(re.findall(r"[a-z]+", f"{ident.replace('_', ' ')} {value}".lower()))


def _is_year_of(form: str, value: Any) -> bool:
    """Whether `form` is the year of a date in `value` (a fact's date, a review's date)."""
    dates = value.values() if isinstance(value, dict) else [value]
    return form.isdigit() and len(form) == 4 and any(
        isinstance(d, str) and ISO_DATE_PATTERN.fullmatch(d[:10]) and d.startswith(form)
        for d in dates)


def _scale_max(ids: list[str], ev: EvidenceSet) -> str | None:
    """The top of the rating scale ("5" of "1 to 5 stars") when a cited fact is a rating."""
    if not any("rating" in ident for ident in ids):
        return None
    numbers = re.findall(r"\d+", str(ev.facts.get("rating_scale", "1 to 5")))
    return numbers[-1] if numbers else None


def _list_names(values: Mapping[str, Any]) -> set[str]:
    """The names of "name (count)" lists among cited values (a category id is a name)."""
    names: set[str] = set()
    for value in values.values():
        if isinstance(value, str):
            names |= {m.group(1).strip() for m in LIST_NAME.finditer(value)}
        elif isinstance(value, list | tuple):
            names |= {str(v).split(" (")[0].strip() for v in value}
    return names


def check_numbers(text: str, ids: list[str], ev: EvidenceSet, quoted: str = "") -> list[str]:
    """Rule 2: every number and date is the value of a cited fact it is said to measure
    ("three items" counts like "3 items"; the top of the rating scale may follow "out of"
    beside a cited rating; a name in a cited "name (count)" list, such as a numeric
    category id, measures nothing; a review claim may repeat a number of the `quoted` text
    of its reviews)."""
    text = wording.spelled_counts(text)
    values = _cited_values(ids, ev)
    list_names = _list_names(values)
    forms = {ident: allowed_numbers(value) for ident, value in values.items()}
    every = set().union(*forms.values()) if forms else set()
    written = iso_dates(NUMBERED_CITATION.sub(" ", TAG.sub(" ", text)))
    reasons = []
    for match in ISO_DATE_PATTERN.finditer(written):
        date = match.group()
        if f"date:{date}" not in every and f"date:{date}" not in ev.context_numbers:
            reasons.append(f"the date {date} is not the value of a cited fact")
    rest = ISO_DATE_PATTERN.sub(lambda m: " " * len(m.group()), written)
    scale = _scale_max(ids, ev)
    for match in NUMBER_PATTERN.finditer(rest):
        number = match.group()
        form = canonical_number(float(number.replace(",", "").lstrip("+")))
        if (scale and form == scale and wording.after_out_of(rest[:match.start()])) or (
                number in list_names) or number in quoted.split():
            continue
        owners = [ident for ident, f in forms.items() if form in f]
        if not owners:
            if form not in ev.context_numbers:
                reasons.append(f"the number {number} is not the value of a cited fact")
            continue
        if any(_is_year_of(form, values[o]) for o in owners):
            continue  # "since 2012": a date's year measures nothing
        near = measure_near(rest[:match.start()], rest[match.end():])
        if near and not any(near[1] in measures_of(o, values[o]) for o in owners):
            reasons.append(f"'{number} {near[0]}': {number} is the value of "
                           f"{', '.join(owners)}, which does not count {near[0]}")
        qualifier = qualifier_of(rest[match.end():])
        if near and qualifier and not any(qualifier in _words_of(o, values[o]) for o in owners):
            reasons.append(f"'{number} {qualifier} {near[0]}': {number} is the value of "
                           f"{', '.join(owners)}, which counts every one, not only "
                           f"'{qualifier}' ones")
    return reasons


def check_names(text: str, ids: list[str], ev: EvidenceSet) -> list[str]:
    """Rule 3: item ids, capitalised names and catalogue names appear in the cited evidence."""
    cited = _cited_text(ids, ev)
    body = NUMBERED_CITATION.sub(" ", TAG.sub(" ", text)).strip()
    mentioned = set(ID_LIKE.findall(body))
    first = re.match(r"\W*\w+", body)
    for match in CAPITALISED.finditer(body):
        if (first and match.start() < first.end()) or match.group() in SAFE_CAPITALS:
            continue
        mentioned.add(re.sub(r"(?:['’]s?|(?<![sS'’])s)$", "", match.group()) or match.group())
    if ev.names_pattern is not None:
        mentioned |= {m.group(1) for m in ev.names_pattern.finditer(body)}
    missing = sorted(name for name in mentioned
                     if name.lower() not in cited and name.lower() not in ev.context_text)
    return [f"'{name}' is not in the cited evidence; cite the fact or review that names it"
            for name in missing]


def check_review_overlap(text: str, ids: list[str], ev: EvidenceSet) -> list[str]:
    """Rule 4: a review-derived claim shares content words with a review it cites."""
    sources = [f"{r.title or ''} {r.text}" for i in ids if i.startswith("R:")
               for r in [ev.reviews[i.split(":", 1)[1]]]]
    if not sources:  # the product's description quoted under the review kind: held alike
        sources = [str(ev.facts[i[2:]]) for i in ids if i.endswith("description")]
        if not sources or REVIEW_TALK.search(text):
            return ["a claim about what reviews say must cite a review (R:id)"]
    words = content_words(text)
    best = max(len(words & content_words(source)) for source in sources)
    if best >= MIN_SHARED_WORDS and best >= MIN_SHARED_SHARE * len(words):
        return []
    return ["the cited review does not say this; stay close to the review's own words"]


def _states_meta(text: str, ids: list[str], ev: EvidenceSet) -> bool:
    """Whether a claim citing only reviews states their trusted fields (a rating, a date, an
    item), so needs no overlap with their text."""
    values = _cited_values(ids, ev)
    forms = set().union(*(allowed_numbers(v) for v in values.values())) if values else set()
    written = iso_dates(text)
    if any(f"date:{m.group()}" in forms for m in ISO_DATE_PATTERN.finditer(written)):
        return True
    return any(canonical_number(float(m.group().replace(",", ""))) in forms
               for m in NUMBER_PATTERN.finditer(ISO_DATE_PATTERN.sub(" ", written)))


def check_zero(text: str, kind: str, ev: EvidenceSet, quoted: str = "") -> list[str]:
    """Rule 5: nothing positive about a measure the data says is zero for the subject (a
    review claim may repeat its review's own words: `quoted`)."""
    tokens = [t.lower() for t in TOKEN.findall(text.replace("n't", " n't"))]
    reasons = []
    for i, token in enumerate(tokens):
        measure = WORD_MEASURE.get(token)
        if measure not in ev.zero or token in quoted.split():
            continue
        before = tokens[max(0, i - 4):i]
        if NEGATIONS & set(before):
            continue
        hedged = HEDGES & set(before[-3:] + tokens[i + 1:i + 2]) or kind == "suggestion"
        if hedged and not CONTINUATION & set(tokens):
            continue  # about the future, not a past purchase ("more" implies one)
        reasons.append(f"'{token}': the data has no {measure} for this subject")
    return list(dict.fromkeys(reasons))


def verify_claim(draft: ClaimDraft, ev: EvidenceSet,
                 extra_check: ExtraCheck | None = None) -> Verdict:
    """Apply every rule of the module docstring to one claim."""
    evidence = list(draft.evidence) + [f"{k}:{i}" for k, i in TAG.findall(draft.text)]
    text = re.sub(r"\s{2,}", " ", TAG.sub("", NUMBERED_CITATION.sub("", draft.text))).strip()
    if draft.kind != "review":
        text = wording.without_inference(text)
    ids, reasons = _normalise(evidence, ev)
    ids += wording.companions(ids, text, ev.facts)
    values = _cited_values(ids, ev)
    text = wording.exact_figures(text, set().union(*map(allowed_numbers, values.values())))
    if strip_unsafe_markup(text) != text or INSTRUCTION.search(text):
        reasons.append("write plain text: no markup, links or instructions")
    if not 3 <= len(text) <= 400:
        reasons.append("write one short sentence per claim")
    if not ids and not reasons:
        reasons.append("cite the fact or review the claim rests on")
    described = [i for i in ids if i.endswith("description")]  # product text, quoted
    quoted = re.sub(r"[^\w\s]", " ", _cited_text(ids if draft.kind == "review" else described, ev))
    if ids:
        reasons += check_numbers(text, ids, ev, quoted)
        reasons += check_names(text, ids, ev)
        only_reviews = all(i.startswith("R:") for i in ids)
        if draft.kind == "review" or (only_reviews and not _states_meta(text, ids, ev)):
            reasons += check_review_overlap(text, ids, ev)
    reasons += check_zero(text, draft.kind, ev, quoted)
    reasons += wording.check_unmeasured(text, draft.kind, values)
    reasons += wording.check_comparisons(text, draft.kind, values)
    reasons += wording.check_scope(text, ids, "F:purchases" in ids)
    if extra_check is not None:
        reasons += [v.message for v in extra_check(text)]
    return Verdict(text, draft.kind, ids, not reasons, list(dict.fromkeys(reasons)))


def verify_claims(drafts: Iterable[ClaimDraft], ev: EvidenceSet,
                  extra_check: ExtraCheck | None = None) -> list[Verdict]:
    """`verify_claim` for each draft, in order."""
    return [verify_claim(d, ev, extra_check) for d in drafts]
