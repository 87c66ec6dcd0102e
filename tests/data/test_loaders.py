"""Each loader on real files (bundled sample; shared data where present), and the generic one."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from store.ingest import default_source_name, ingest
from store.loaders.amazon import name_from_description, parse_price
from store.workspace import Workspace
from tests.conftest import SAMPLE, run_cli, shared_file


def _query(workspace: Path, sql: str) -> list[tuple]:
    con = Workspace.open(workspace).connect()
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_taobao_sample(workspace: Path) -> None:
    ingest("taobao", SAMPLE / "taobao" / "UserBehavior_sample.csv.gz", workspace, source="t")
    rows = _query(workspace, "SELECT user_id, item_id, event_type, category, "
                  "strftime(timezone('UTC', ts), '%Y-%m-%d %H:%M:%S') FROM events "
                  "ORDER BY ordinal LIMIT 1")
    assert rows == [("1", "2268318", "view", "2520377", "2017-11-24 17:21:10")]


def test_taobao_headerless_official_format(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "UserBehavior.csv"
    path.write_text("1,2268318,2520377,pv,1511544070\n1,2333346,2520771,buy,1511561733\n")
    result = ingest("taobao", path, workspace)
    assert result.rows == {"events": 2}
    assert _query(workspace, "SELECT event_type FROM events ORDER BY ordinal") == [
        ("view",), ("purchase",)]


def test_rees46_sample_derives_items(workspace: Path) -> None:
    ingest("rees46", SAMPLE / "rees46" / "2019-Oct_sample.csv.gz", workspace, source="r")
    first = _query(workspace, "SELECT item_id, category, brand, price, session_id FROM events "
                   "ORDER BY ordinal LIMIT 2")
    assert first[0] == ("44600062", "2103807459595387724", "shiseido", 35.79,
                        "72d76fde-8bb3-4e00-8c23-a032dfed738c")
    assert first[1][1] == "appliances.environment.water_heater"
    n_items, n_distinct = _query(workspace, "SELECT count(*), (SELECT count(DISTINCT item_id) "
                                 "FROM events) FROM items")[0]
    assert n_items == n_distinct == 2_733


def test_amazon_2018_with_meta(workspace: Path) -> None:
    ingest("amazon", SAMPLE / "gift_cards" / "Gift_Cards_5.json.gz", workspace, source="g")
    review = _query(workspace, "SELECT user_id, item_id, rating, verified, summary, text "
                    "FROM reviews WHERE user_id = 'A31UBHTUUIFJUT' AND item_id = 'B004LLIKVU'")
    assert review == [("A31UBHTUUIFJUT", "B004LLIKVU", 5.0, True, "Five Stars",
                       "Another great gift.")]
    item = _query(workspace, "SELECT title, brand, price FROM items WHERE item_id='B004Q7CK9M'")
    assert item == [("Amazon.com Gift Card in a Greeting Card (Various Designs)", "Amazon", 40.0)]
    joined = _query(workspace, "SELECT count(*) FROM reviews r JOIN items i USING (item_id)")
    assert joined == [(2_972,)]


def test_amazon_2014_helpful_votes(workspace: Path) -> None:
    path = SAMPLE / "musical_instruments" / "reviews_Musical_Instruments_sample.json.gz"
    ingest("amazon", path, workspace, source="mi")
    jake = _query(workspace, "SELECT helpful_votes, rating, reviewer_name FROM reviews "
                  "WHERE user_id = 'A14VAT5EAX3D9S' AND item_id = '1384719342'")
    assert jake == [(13, 5.0, "Jake")]
    assert _query(workspace, "SELECT count(*) FROM items") == [(0,)]  # no metadata in 2014 MI


def test_review_ids_are_stable_across_workspaces(tmp_path: Path) -> None:
    path = SAMPLE / "gift_cards" / "Gift_Cards_5.json.gz"
    ids = []
    for name in ("a", "b"):
        ingest("amazon", path, tmp_path / name, source=name)
        ids.append(_query(tmp_path / name, "SELECT review_id FROM reviews ORDER BY review_id"))
    assert ids[0] == ids[1] and len({r[0] for r in ids[0]}) == 2_972


def test_s3rec_sample_is_untimed_and_ordered(workspace: Path) -> None:
    ingest("s3rec", SAMPLE / "beauty" / "s3rec_Beauty_sample.txt.gz", workspace, source="b")
    seq = _query(workspace, "SELECT item_id FROM events WHERE user_id = '1' ORDER BY ordinal")
    assert [r[0] for r in seq] == ["1", "2", "3", "4", "5"]
    assert _query(workspace, "SELECT count(*) FROM events WHERE ts IS NOT NULL") == [(0,)]
    title = _query(workspace, "SELECT external_id, title FROM items WHERE item_id = '1'")
    assert title == [("B004756YJA", "OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce")]


def test_magazine_titles_come_from_descriptions(workspace: Path) -> None:
    path = shared_file(
        "amazon_magazine_subscriptions_2018_5core/Magazine_Subscriptions_5.json.gz")
    ingest("amazon", path, workspace, source="m")
    titles = _query(workspace, "SELECT title FROM items WHERE title LIKE '<%'")
    assert titles == []
    named = _query(workspace, "SELECT count(title) FROM items WHERE item_id IN "
                   "(SELECT item_id FROM events)")[0][0]
    assert named >= 100


def test_name_and_price_helpers() -> None:
    assert name_from_description("MAXIMUM PC is the magazine for…") == "MAXIMUM PC"
    assert name_from_description("Better Homes & Gardens offers ideas") == "Better Homes & Gardens"
    assert parse_price("$25.00") == 25.0
    assert parse_price("$1,299.99") == 1299.99
    assert parse_price("$10.00 - $500.00") is None
    assert parse_price(".a-box{display:block}") is None
    assert default_source_name(Path("Gift_Cards_5.json.gz")) == "gift_cards_5"


# ----- generic loader -----------------------------------------------------------------------

EXPORT_ROWS = [
    {"customer": "c1", "sku": "A", "action": "click", "when": "2024-03-01T10:00:00Z", "amt": 9.5},
    {"customer": "c1", "sku": "A", "action": "basket", "when": "2024-03-01T10:05:00Z", "amt": 9.5},
    {"customer": "c2", "sku": "B", "action": "order", "when": "2024-03-02 08:00:00", "amt": 20.0},
]
FLAGS = ["--col", "user_id=customer", "--col", "item_id=sku", "--col", "event_type=action",
         "--col", "ts=when", "--col", "price=amt",
         "--event-map", "click=view", "--event-map", "basket=cart", "--event-map", "order=purchase"]


def _check_export(workspace: Path) -> None:
    rows = _query(workspace, "SELECT user_id, item_id, event_type, price, "
                  "strftime(timezone('UTC', ts), '%Y-%m-%d %H:%M') FROM events ORDER BY ordinal")
    assert rows == [("c1", "A", "view", 9.5, "2024-03-01 10:00"),
                    ("c1", "A", "cart", 9.5, "2024-03-01 10:05"),
                    ("c2", "B", "purchase", 20.0, "2024-03-02 08:00")]


def test_generic_csv_with_flags(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    header = list(EXPORT_ROWS[0])
    path.write_text(",".join(header) + "\n" + "".join(
        ",".join(str(r[h]) for h in header) + "\n" for r in EXPORT_ROWS))
    done = run_cli("ingest", "generic", str(path), "-w", str(workspace), *FLAGS)
    assert done.returncode == 0, done.stderr
    _check_export(workspace)


def test_generic_parquet_with_yaml_mapping(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.parquet"
    pq.write_table(pa.Table.from_pylist(EXPORT_ROWS), path)
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "columns: {user_id: customer, item_id: sku, event_type: action, ts: when, price: amt}\n"
        "event_map: {click: view, basket: cart, order: purchase}\n")
    done = run_cli("ingest", "generic", str(path), "-w", str(workspace), "--map", str(mapping))
    assert done.returncode == 0, done.stderr
    _check_export(workspace)


def test_generic_jsonl(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in EXPORT_ROWS))
    done = run_cli("ingest", "generic", str(path), "-w", str(workspace), *FLAGS)
    assert done.returncode == 0, done.stderr
    _check_export(workspace)


def test_generic_epoch_millis_and_constant_type(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("user_id,item_id,ts\nu1,i1,1709287200000\n")
    done = run_cli("ingest", "generic", str(path), "-w", str(workspace), "--event-type",
                   "purchase")
    assert done.returncode == 0, done.stderr
    assert _query(workspace, "SELECT event_type, strftime(timezone('UTC', ts), '%Y-%m-%d %H:%M') "
                  "FROM events") == [("purchase", "2024-03-01 10:00")]


def test_generic_items_table(workspace: Path, tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text("sku,name,cost\nA,Red mug,9.50\nB,Blue mug,\n")
    done = run_cli("ingest", "generic", str(path), "-w", str(workspace), "--table", "items",
                   "--col", "item_id=sku", "--col", "title=name", "--col", "price=cost")
    assert done.returncode == 0, done.stderr
    assert _query(workspace, "SELECT item_id, title, price FROM items ORDER BY 1") == [
        ("A", "Red mug", 9.5), ("B", "Blue mug", None)]


@pytest.mark.parametrize(
    ("content", "flags", "expected"),
    [
        ("u,i\n1,2\n", ["--event-type", "view"], "missing column(s) user_id, item_id"),
        ("user_id,item_id\n1,2\n", [], "missing column(s) event_type"),
        ("user_id,item_id,event_type\n1,2,view\n", ["--col", "ts=time"],
         "missing column(s) time (for ts)"),
        ("user_id,item_id,event_type,price\n1,2,view,cheap\n", [],
         "row 1: column 'price' has 'cheap'"),
    ],
)
def test_generic_bad_mappings(workspace: Path, tmp_path: Path, content: str, flags: list[str],
                              expected: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    done = run_cli("ingest", "generic", str(path), "-w", str(workspace), *flags)
    assert done.returncode == 2, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
