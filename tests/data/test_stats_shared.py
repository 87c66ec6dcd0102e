"""`insight stats --json` on each shared dataset equals the figures of ../shared/data/README.md."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli, shared_file

CASES = {
    "beauty": ("s3rec", "amazon_beauty_2014_5core/s3rec_Beauty.txt.gz"),
    "musical_instruments": (
        "amazon", "amazon_musical_instruments_2014_5core/reviews_Musical_Instruments_5.json.gz"),
    "gift_cards": ("amazon", "amazon_gift_cards_2018_5core/Gift_Cards_5.json.gz"),
    "magazines": (
        "amazon", "amazon_magazine_subscriptions_2018_5core/Magazine_Subscriptions_5.json.gz"),
    "all_beauty": ("amazon", "amazon_all_beauty_2018_5core/All_Beauty_5.json.gz"),
    "taobao": ("taobao", "taobao_userbehavior_prefix/UserBehavior_prefix.csv.gz"),
    "rees46": ("rees46", "rees46_multicategory_2019oct_head/2019-Oct_head.csv.gz"),
}


@pytest.fixture(scope="module")
def shared_stats(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """All shared datasets ingested into one workspace, and its stats."""
    for _kind, relative in CASES.values():
        shared_file(relative)
    ws = tmp_path_factory.mktemp("shared") / "ws"
    for source, (kind, relative) in CASES.items():
        done = run_cli("ingest", kind, str(shared_file(relative)), "-w", str(ws), "--source",
                       source)
        assert done.returncode == 0, done.stderr
    done = run_cli("stats", "--json", "-w", str(ws))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_beauty_matches_readme(shared_stats: dict) -> None:
    s = shared_stats["beauty"]
    assert (s["users"], s["items"], s["events"]) == (22_363, 12_101, 198_502)
    assert s["untimed"] is True and s["time_range"] is None
    assert s["mean_events_per_user"] == pytest.approx(8.88, abs=0.005)
    assert s["median_events_per_user"] == 6
    assert s["catalog_items"] == 12_101


def test_musical_instruments_matches_readme(shared_stats: dict) -> None:
    s = shared_stats["musical_instruments"]
    assert (s["reviews"], s["users"], s["items"]) == (10_261, 1_429, 900)
    assert s["mean_events_per_user"] == pytest.approx(7.2, abs=0.05)
    assert s["median_events_per_user"] == 6
    assert s["time_range"] == {"first": "2004-09-18T00:00:00Z", "last": "2014-07-22T00:00:00Z"}


def test_gift_cards_matches_readme(shared_stats: dict) -> None:
    s = shared_stats["gift_cards"]
    assert (s["reviews"], s["users"], s["items"], s["duplicates_dropped"]) == (2_972, 458, 148, 0)
    assert s["catalog_items"] == 1_547  # the whole category's metadata, one record per asin
    assert s["time_range"]["first"].startswith("2012-01-31")
    assert s["time_range"]["last"].startswith("2018-08-22")


def test_magazines_duplicates_dropped(shared_stats: dict) -> None:
    s = shared_stats["magazines"]
    assert s["raw_rows"] == 2_375
    assert (s["users"], s["items"]) == (348, 157)
    # README: 42 exact duplicate rows (2,333 distinct rows). Two more rows repeat the same user,
    # item, time and text (Kindle and Print editions) with an edited summary line; the
    # README's rule "same user, item, time, text" makes them duplicates too, so 44 are dropped.
    assert s["exact_duplicate_rows"] == 42
    assert s["raw_rows"] - s["exact_duplicate_rows"] == 2_333
    assert s["duplicates_dropped"] == 44
    assert s["reviews"] == 2_331
    assert s["catalog_items"] == 2_320  # 3,385 metadata lines, 1,065 identical repeats


def test_all_beauty_duplicates_dropped(shared_stats: dict) -> None:
    s = shared_stats["all_beauty"]
    assert (s["raw_rows"], s["duplicates_dropped"], s["reviews"]) == (5_269, 1_053, 4_216)
    assert s["exact_duplicate_rows"] == 1_027  # byte-identical records; the rest differ in style
    assert (s["users"], s["items"]) == (991, 85)


def test_taobao_matches_readme(shared_stats: dict) -> None:
    s = shared_stats["taobao"]
    assert s["events"] == 84_287
    assert s["events_by_type"] == {"view": 75_693, "cart": 4_494, "fav": 2_351,
                                   "purchase": 1_749}
    assert (s["users"], s["items"]) == (814, 55_233)
    assert s["mean_events_per_user"] == pytest.approx(103.5, abs=0.05)
    assert s["median_events_per_user"] == 78


def test_rees46_matches_readme(shared_stats: dict) -> None:
    s = shared_stats["rees46"]
    assert s["events"] == 17_424
    assert s["events_by_type"] == {"view": 17_045, "cart": 165, "purchase": 214}
    assert (s["users"], s["items"], s["sessions"]) == (4_501, 6_489, 5_061)
    assert s["mean_events_per_user"] == pytest.approx(3.87, abs=0.005)
    assert s["median_events_per_user"] == 2
    assert s["time_range"] == {"first": "2019-10-01T00:00:00Z", "last": "2019-10-01T02:49:59Z"}
