"""Amazon review dumps (McAuley lab): 2014 and 2018 JSON-lines reviews, plus product metadata.

Reviews become `reviews` rows and `review` events. Exact duplicate reviews (the 2018 dump repeats
a review across product variants) are dropped and counted. Metadata (`meta_*.json[.gz]`) is
found beside the review file when there is exactly one candidate, or given with `--items PATH`.
Broken titles (HTML fragments, as in Magazine Subscriptions) are replaced by the product name
that opens the description.
"""

from __future__ import annotations

import ast
import hashlib
import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from core.errors import InputError
from store.loaders.base import Loader
from store.rawio import iter_text_lines

REQUIRED_REVIEW_KEYS = ["reviewerID", "asin", "unixReviewTime"]
_TAG = re.compile(r"<[^>]*>?")
_SPACE = re.compile(r"\s+")
_PRICE = re.compile(r"^\$\s?(\d{1,3}(?:,\d{3})*(?:\.\d+)?)$")
_NAME_END = re.compile(
    r"\s(?:is|are|was|offers?|features?|brings?|delivers?|provides?|covers?|has|gives?)\b"
    r"|[.,:;!?(]|\s[-–—]\s"
)


def review_id(user: str, item: str, ts: Any, text: str | None) -> str:
    """Stable id of a review: the same review always gets the same id, whatever file it is in.

    Two rows with the same user, item, time and text are one review (the 2018 dumps repeat a
    review across product variants, sometimes with a different summary line).
    """
    key = "\x1f".join(str(part or "") for part in (user, item, ts, text))
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]


def clean_text(value: Any) -> str | None:
    """Plain text from a string or list of strings (entities decoded, tags dropped)."""
    if value is None:
        return None
    if isinstance(value, list):
        value = " ".join(str(v) for v in value if v)
    text = _SPACE.sub(" ", _TAG.sub(" ", html.unescape(str(value)))).strip()
    return text or None


def parse_price(value: Any) -> float | None:
    """`$25.00` → 25.0; ranges, CSS blobs and empty strings → None (never guessed)."""
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    match = _PRICE.match(value.strip())
    return float(match.group(1).replace(",", "")) if match else None


def name_from_description(description: str | None, max_words: int = 8) -> str | None:
    """The product name that opens a description ("MAXIMUM PC is …" → "MAXIMUM PC")."""
    if not description:
        return None
    head = _NAME_END.split(description, maxsplit=1)[0].strip()
    words = head.split()
    if not words or len(words) > max_words:
        return None
    return " ".join(words)


def _is_broken_title(title: str | None) -> bool:
    return title is None or title.lstrip().startswith("<") or not title.strip()


def _parse_record(line: str, path: Path, number: int) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        try:  # the 2014 metadata files are Python literals ("loose JSON")
            record = ast.literal_eval(line)
        except (ValueError, SyntaxError) as exc:
            raise InputError(f"{path}: line {number}: not a JSON object") from exc
    if not isinstance(record, dict):
        raise InputError(f"{path}: line {number}: not a JSON object")
    return record


class AmazonLoader(Loader):
    """Reads an Amazon review file (2014 or 2018 format) and its metadata when present."""

    kind = "amazon"
    description = "Amazon review JSON lines (2014 or 2018), optional meta_*.json(.gz) beside it"

    def meta_path(self) -> Path | None:
        """The metadata file: `--items`, else the only meta_*.json* beside the reviews."""
        if self.options.get("items"):
            return Path(self.options["items"])
        if self.options.get("no_meta"):
            return None
        candidates = sorted(self.path.parent.glob("meta_*.json*"))
        return candidates[0] if len(candidates) == 1 else None

    def input_files(self) -> list[Path]:
        meta = self.meta_path()
        return [self.path] + ([meta] if meta else [])

    def chunks(self) -> Iterator[tuple[str, pa.Table]]:
        yield from self._reviews()
        meta = self.meta_path()
        if meta is not None:
            yield from self._items(meta)

    def _reviews(self) -> Iterator[tuple[str, pa.Table]]:
        chunk_rows = int(self.options.get("chunk_rows", 100_000))
        seen: set[str] = set()
        seen_rows: set[bytes] = set()
        rows: list[dict[str, Any]] = []
        ordinal = 0
        for number, line in iter_text_lines(self.path):
            if not line.strip():
                continue
            record = _parse_record(line, self.path, number)
            self.report.raw_rows += 1
            row_key = hashlib.sha1(json.dumps(record, sort_keys=True).encode("utf-8")).digest()
            if row_key in seen_rows:
                self.report.exact_duplicate_rows += 1
            seen_rows.add(row_key)
            missing = [k for k in REQUIRED_REVIEW_KEYS if k not in record]
            if missing:
                raise InputError(
                    f"{self.path}: line {number}: missing key(s) {', '.join(missing)} for an "
                    f"Amazon review; expected {', '.join(REQUIRED_REVIEW_KEYS)}; "
                    f"found {', '.join(record) or 'none'}"
                )
            ts = record["unixReviewTime"]
            if isinstance(ts, str) and ts.strip().lstrip("-").isdigit():
                ts = int(ts)
            if not isinstance(ts, int) or isinstance(ts, bool):
                raise InputError(
                    f"{self.path}: line {number}: unparseable timestamp {ts!r} in "
                    "'unixReviewTime' (expected Unix seconds)"
                )
            user, item = str(record["reviewerID"]), str(record["asin"])
            summary, text = record.get("summary"), record.get("reviewText")
            rid = review_id(user, item, ts, text)
            if rid in seen:
                self.report.duplicates_dropped += 1
                continue
            seen.add(rid)
            rows.append(
                {
                    "review_id": rid,
                    "user_id": user,
                    "item_id": item,
                    "rating": _float_or_none(record.get("overall")),
                    "ts": ts * 1_000_000,
                    "summary": summary,
                    "text": text,
                    "verified": record.get("verified"),
                    "helpful_votes": _helpful_votes(record),
                    "reviewer_name": record.get("reviewerName"),
                    "ordinal": ordinal,
                }
            )
            ordinal += 1
            if len(rows) >= chunk_rows:
                yield from self._emit(rows)
                rows = []
        if rows:
            yield from self._emit(rows)

    def _emit(self, rows: list[dict[str, Any]]) -> Iterator[tuple[str, pa.Table]]:
        table = pa.Table.from_pylist(rows)
        ts = table["ts"].cast(pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        yield "reviews", table.set_column(table.schema.get_field_index("ts"), "ts", ts)
        yield "events", pa.table(
            {
                "user_id": table["user_id"],
                "item_id": table["item_id"],
                "event_type": pa.repeat(pa.scalar("review"), table.num_rows),
                "ts": ts,
                "ordinal": table["ordinal"],
                "rating": table["rating"],
            }
        )

    def _items(self, path: Path) -> Iterator[tuple[str, pa.Table]]:
        items: dict[str, dict[str, Any]] = {}
        first_line: dict[str, int] = {}
        for number, line in iter_text_lines(path):
            if not line.strip():
                continue
            record = _parse_record(line, path, number)
            if "asin" not in record:
                raise InputError(
                    f"{path}: line {number}: missing key asin for Amazon metadata; "
                    f"found {', '.join(record) or 'none'}"
                )
            row = _item_row(record)
            asin = row["item_id"]
            if asin in items:
                if items[asin] != row:
                    raise InputError(
                        f"{path}: duplicate item id {asin} with different content "
                        f"(lines {first_line[asin]} and {number})"
                    )
                continue
            items[asin] = row
            first_line[asin] = number
        if items:
            yield "items", pa.Table.from_pylist(list(items.values()))


def _item_row(record: dict[str, Any]) -> dict[str, Any]:
    description = clean_text(record.get("description"))
    title = clean_text(record.get("title")) if not _is_broken_title(record.get("title")) else None
    if title is None:
        title = name_from_description(description)
    categories: list[str] = []
    raw_categories = record.get("category") or record.get("categories") or []
    if raw_categories and isinstance(raw_categories[0], list):  # 2014: list of paths
        raw_categories = raw_categories[0]
    for name in raw_categories:
        name = clean_text(name)
        if name and (not categories or categories[-1] != name):
            categories.append(name)
    return {
        "item_id": str(record["asin"]),
        "title": title,
        "brand": clean_text(record.get("brand")),
        "category": " > ".join(categories) or None,
        "price": parse_price(record.get("price")),
        "description": description,
        "external_id": str(record["asin"]),
    }


def _float_or_none(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _helpful_votes(record: dict[str, Any]) -> int | None:
    if isinstance(record.get("helpful"), list) and record["helpful"]:
        return int(record["helpful"][0])
    vote = record.get("vote")
    if vote is None:
        return None
    try:
        return int(str(vote).replace(",", ""))
    except ValueError:
        return None
