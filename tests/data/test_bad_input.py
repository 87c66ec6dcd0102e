"""Bad input gets a one-line reason and exit code 2, never a traceback, and stores nothing."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tests.conftest import SAMPLE, run_cli

TAOBAO_HEADER = "user_id,item_id,category_id,behavior_type,timestamp\n"


def _ingest_fails(kind: str, path: Path, workspace: Path, *extra: str) -> str:
    done = run_cli("ingest", kind, str(path), "-w", str(workspace), *extra)
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    message = done.stderr.strip()
    assert message.startswith("error:")
    assert len(message.splitlines()) == 1, message
    assert not (workspace / "data").exists() or not any((workspace / "data").iterdir())
    return message


def _write(path: Path, text: str | bytes) -> Path:
    data = text.encode("utf-8") if isinstance(text, str) else text
    if path.suffix == ".gz":
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def test_missing_path(tmp_path: Path, workspace: Path) -> None:
    msg = _ingest_fails("taobao", tmp_path / "nope.csv", workspace)
    assert "nope.csv: no such file" in msg


def test_empty_file(tmp_path: Path, workspace: Path) -> None:
    msg = _ingest_fails("taobao", _write(tmp_path / "empty.csv", ""), workspace)
    assert "file is empty" in msg


def test_header_only_file_has_no_rows(tmp_path: Path, workspace: Path) -> None:
    msg = _ingest_fails("taobao", _write(tmp_path / "h.csv", TAOBAO_HEADER), workspace)
    assert "no rows" in msg


def test_renamed_column(tmp_path: Path, workspace: Path) -> None:
    path = _write(tmp_path / "t.csv", "user_id,item_id,category_id,action,timestamp\n1,2,3,pv,1\n")
    msg = _ingest_fails("taobao", path, workspace)
    assert "missing column(s) behavior_type" in msg
    assert "expected user_id, item_id, category_id, behavior_type, timestamp" in msg
    assert "found user_id, item_id, category_id, action, timestamp" in msg


def test_missing_column_rees46(tmp_path: Path, workspace: Path) -> None:
    path = _write(tmp_path / "r.csv", "event_time,event_type,product_id\n")
    msg = _ingest_fails("rees46", path, workspace)
    assert "missing column(s) category_id, category_code, brand, price, user_id" in msg


def test_bad_timestamp_names_row_and_value(tmp_path: Path, workspace: Path) -> None:
    rows = "".join(f"1,{i},3,pv,151154407{i}\n" for i in range(5)) + "1,9,3,pv,yesterday\n"
    msg = _ingest_fails("taobao", _write(tmp_path / "t.csv", TAOBAO_HEADER + rows), workspace)
    assert "row 6" in msg and "'yesterday'" in msg and "timestamp" in msg


def test_bad_text_timestamp_rees46(tmp_path: Path, workspace: Path) -> None:
    header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id," \
             "user_session\n"
    good = "2019-10-01 00:00:00 UTC,view,1,2,,b,1.5,7,s\n"
    bad = "2019-13-45 00:00:00 UTC,view,1,2,,b,1.5,7,s\n"
    msg = _ingest_fails("rees46", _write(tmp_path / "r.csv", header + good + bad), workspace)
    assert "row 2" in msg and "2019-13-45 00:00:00 UTC" in msg


def test_bad_amazon_timestamp(tmp_path: Path, workspace: Path) -> None:
    record = {"reviewerID": "u", "asin": "a", "unixReviewTime": "last week"}
    path = _write(tmp_path / "r.json", json.dumps(record) + "\n")
    msg = _ingest_fails("amazon", path, workspace)
    assert "line 1" in msg and "'last week'" in msg


def test_wrong_compression(tmp_path: Path, workspace: Path) -> None:
    path = tmp_path / "plain.csv.gz"
    path.write_text(TAOBAO_HEADER + "1,2,3,pv,1511544070\n")
    msg = _ingest_fails("taobao", path, workspace)
    assert "wrong compression" in msg and "gzip" in msg


def test_truncated_gzip(tmp_path: Path, workspace: Path) -> None:
    data = gzip.compress((TAOBAO_HEADER + "1,2,3,pv,1511544070\n" * 5000).encode())
    path = tmp_path / "cut.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    msg = _ingest_fails("taobao", path, workspace)
    assert "cut.csv.gz" in msg


def test_unknown_event_type_has_mapping_hint(tmp_path: Path, workspace: Path) -> None:
    path = _write(tmp_path / "t.csv", TAOBAO_HEADER + "1,2,3,pv,1\n1,2,3,click,2\n")
    msg = _ingest_fails("taobao", path, workspace)
    assert "unknown event type 'click'" in msg and "row 2" in msg
    assert "--event-map click=" in msg


def test_event_map_resolves_unknown_type(tmp_path: Path, workspace: Path) -> None:
    path = _write(tmp_path / "t.csv", TAOBAO_HEADER + "1,2,3,pv,1\n1,2,3,click,2\n")
    done = run_cli("ingest", "taobao", str(path), "-w", str(workspace), "--event-map", "click=view")
    assert done.returncode == 0, done.stderr


def test_non_utf8_csv(tmp_path: Path, workspace: Path) -> None:
    header = "event_time,event_type,product_id,category_id,category_code,brand,price,user_id," \
             "user_session\n"
    good = "2019-10-01 00:00:00 UTC,view,1,2,,brand,1.5,7,s\n"
    bad = "2019-10-01 00:00:00 UTC,view,1,2,,caf\xe9,1.5,7,s\n".encode("latin-1")
    path = _write(tmp_path / "r.csv", header.encode() + good.encode() + bad)
    msg = _ingest_fails("rees46", path, workspace)
    assert "not UTF-8" in msg and "line 3" in msg


def test_non_utf8_json(tmp_path: Path, workspace: Path) -> None:
    line = '{"reviewerID": "u", "asin": "a", "unixReviewTime": 1, "reviewText": "caf\xe9"}\n'
    msg = _ingest_fails("amazon", _write(tmp_path / "r.json", line.encode("latin-1")), workspace)
    assert "line 1: not UTF-8" in msg


def test_duplicate_item_ids_with_conflicting_content(tmp_path: Path, workspace: Path) -> None:
    reviews = _write(tmp_path / "Cat_5.json",
                     json.dumps({"reviewerID": "u", "asin": "a", "unixReviewTime": 1}) + "\n")
    meta = [{"asin": "a", "title": "One"}, {"asin": "a", "title": "Two"}]
    _write(tmp_path / "meta_Cat.json", "".join(json.dumps(m) + "\n" for m in meta))
    msg = _ingest_fails("amazon", reviews, workspace)
    assert "duplicate item id a" in msg and "lines 1 and 2" in msg


def test_duplicate_user_lines_in_sequences(tmp_path: Path, workspace: Path) -> None:
    path = _write(tmp_path / "seq.txt", "1 10 11 12\n2 10 13\n1 14 15\n")
    msg = _ingest_fails("s3rec", path, workspace)
    assert "line 3: duplicate user id 1" in msg


def test_non_integer_sequence_token(tmp_path: Path, workspace: Path) -> None:
    msg = _ingest_fails("s3rec", _write(tmp_path / "seq.txt", "1 10 x11\n"), workspace)
    assert "line 1" in msg and "'x11'" in msg


def test_unknown_kind(tmp_path: Path, workspace: Path) -> None:
    path = SAMPLE / "taobao" / "UserBehavior_sample.csv.gz"
    msg = _ingest_fails("clickhouse", path, workspace)
    assert "unknown kind 'clickhouse'" in msg and "taobao" in msg


def test_empty_user_id(tmp_path: Path, workspace: Path) -> None:
    path = _write(tmp_path / "t.csv", TAOBAO_HEADER + "1,2,3,pv,1\n,2,3,pv,2\n")
    msg = _ingest_fails("taobao", path, workspace)
    assert "row 2: empty user_id" in msg


def test_stats_without_workspace(tmp_path: Path) -> None:
    done = run_cli("stats", "-w", str(tmp_path / "none"))
    assert done.returncode == 3
    assert "no workspace" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize("flag", ["--event-map", "--col"])
def test_malformed_flag_pairs(tmp_path: Path, workspace: Path, flag: str) -> None:
    path = _write(tmp_path / "e.csv", "u,i,e\n1,2,view\n")
    msg = _ingest_fails("generic", path, workspace, flag, "nonsense")
    assert flag in msg
