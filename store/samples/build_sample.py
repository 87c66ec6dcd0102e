"""Rebuild the bundled sample in `samples/data/` from the full datasets in `../shared/data/`.

The slices are deterministic (first users in file order, complete histories kept), so a fresh
clone gets the same real data without `../shared`. Run: `python store/samples/build_sample.py`.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SHARED = ROOT.parents[2] / "shared" / "data"
OUT = ROOT / "data"


def _read_gz(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        return handle.read()


def _write_gz(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz:
        gz.write(text.encode("utf-8"))


def taobao(n_users: int = 120) -> None:
    """First `n_users` users of the Taobao prefix, each with the full 9-day history."""
    src = SHARED / "taobao_userbehavior_prefix" / "UserBehavior_prefix.csv.gz"
    lines = _read_gz(src).splitlines()
    header, rows = lines[0], lines[1:]
    users: list[str] = []
    kept = [header]
    for line in rows:
        user = line.split(",", 1)[0]
        if user not in users:
            if len(users) == n_users:
                break
            users.append(user)
        kept.append(line)
    _write_gz(OUT / "taobao" / "UserBehavior_sample.csv.gz", "\n".join(kept) + "\n")


def rees46(n_rows: int = 6000) -> None:
    """The first `n_rows` events of the REES46 October head (time-sorted)."""
    src = SHARED / "rees46_multicategory_2019oct_head" / "2019-Oct_head.csv.gz"
    lines = _read_gz(src).splitlines()
    _write_gz(OUT / "rees46" / "2019-Oct_sample.csv.gz", "\n".join(lines[: n_rows + 1]) + "\n")


def amazon_users(src: Path, dest: Path, n_users: int) -> None:
    """Every review of the first `n_users` reviewers met in the file."""
    users: set[str] = set()
    order: list[str] = []
    records = _read_gz(src).splitlines()
    for line in records:
        user = json.loads(line)["reviewerID"]
        if user not in users and len(order) < n_users:
            users.add(user)
            order.append(user)
    kept = [line for line in records if json.loads(line)["reviewerID"] in users]
    _write_gz(dest, "\n".join(kept) + "\n")


def gift_cards() -> None:
    """The whole Gift Cards 5-core and the metadata records of its items."""
    base = SHARED / "amazon_gift_cards_2018_5core"
    reviews = _read_gz(base / "Gift_Cards_5.json.gz")
    asins = {json.loads(line)["asin"] for line in reviews.splitlines()}
    meta = [
        line
        for line in _read_gz(base / "meta_Gift_Cards.json.gz").splitlines(keepends=True)
        if json.loads(line)["asin"] in asins
    ]
    _write_gz(OUT / "gift_cards" / "Gift_Cards_5.json.gz", reviews)
    _write_gz(OUT / "gift_cards" / "meta_Gift_Cards.json.gz", "".join(meta))


def beauty(n_users: int = 2000) -> None:
    """First `n_users` S3-Rec Beauty sequences and the items they mention."""
    base = SHARED / "amazon_beauty_2014_5core"
    lines = _read_gz(base / "s3rec_Beauty.txt.gz").splitlines()
    kept = lines[:n_users]
    items = {tok for line in kept for tok in line.split()[1:]}
    reader = csv.DictReader(io.StringIO(_read_gz(base / "items.csv.gz")))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["item_id", "asin", "title"], lineterminator="\n")
    writer.writeheader()
    for row in reader:
        if row["item_id"] in items:
            writer.writerow({k: row[k] for k in ("item_id", "asin", "title")})
    _write_gz(OUT / "beauty" / "s3rec_Beauty_sample.txt.gz", "\n".join(kept) + "\n")
    _write_gz(OUT / "beauty" / "items.csv.gz", out.getvalue())


def main() -> int:
    """Build every slice; fail clearly when the shared data is absent."""
    if not SHARED.exists():
        print(f"missing {SHARED}; the sample is built from the shared datasets", file=sys.stderr)
        return 2
    taobao()
    rees46()
    amazon_users(
        SHARED / "amazon_musical_instruments_2014_5core" / "reviews_Musical_Instruments_5.json.gz",
        OUT / "musical_instruments" / "reviews_Musical_Instruments_sample.json.gz",
        n_users=400,
    )
    gift_cards()
    beauty()
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"sample written to {OUT}: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
