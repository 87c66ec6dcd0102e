"""Idempotent re-ingest, replace, and crash safety: a failed or killed ingest changes nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from store import ingest as ingest_module
from store.ingest import ingest
from store.sample import SAMPLE_FILES, ingest_sample
from store.stats import workspace_stats
from store.workspace import Workspace
from tests.conftest import REPO, SAMPLE, run_cli

TAOBAO = SAMPLE / "taobao" / "UserBehavior_sample.csv.gz"
REES46 = SAMPLE / "rees46" / "2019-Oct_sample.csv.gz"


def _snapshot(root: Path) -> tuple[str, dict]:
    ws = Workspace.open(root)
    return (root / "manifest.json").read_text(), workspace_stats(ws)


def test_reingest_same_file_is_noop(workspace: Path) -> None:
    first = ingest("taobao", TAOBAO, workspace, source="taobao")
    manifest, stats = _snapshot(workspace)
    again = ingest("taobao", TAOBAO, workspace, source="taobao")
    assert not first.skipped and again.skipped
    assert _snapshot(workspace) == (manifest, stats)
    assert stats["taobao"]["events"] == first.rows["events"] == 12_652


def test_cli_reingest_reports_unchanged(workspace: Path) -> None:
    assert run_cli("ingest", "taobao", str(TAOBAO), "-w", str(workspace)).returncode == 0
    done = run_cli("ingest", "taobao", str(TAOBAO), "-w", str(workspace))
    assert done.returncode == 0 and "unchanged" in done.stdout


def test_second_file_appends_and_replace_replaces(workspace: Path, tmp_path: Path) -> None:
    ingest("taobao", TAOBAO, workspace, source="clicks")
    extra = tmp_path / "more.csv"
    extra.write_text("user_id,item_id,category_id,behavior_type,timestamp\n"
                     "u9,i9,c9,buy,1511600000\n")
    ingest("taobao", extra, workspace, source="clicks")
    assert workspace_stats(Workspace.open(workspace))["clicks"]["events"] == 12_653
    ingest("taobao", extra, workspace, source="clicks", replace=True)
    stats = workspace_stats(Workspace.open(workspace))["clicks"]
    assert stats["events"] == 1 and stats["events_by_type"] == {"purchase": 1}
    data_dirs = list((workspace / "data" / "clicks").iterdir())
    assert len(data_dirs) == 1, "replaced files are swept"


def test_source_kind_mismatch_is_refused(workspace: Path) -> None:
    ingest("taobao", TAOBAO, workspace, source="mixed")
    done = run_cli("ingest", "rees46", str(REES46), "-w", str(workspace), "--source", "mixed")
    assert done.returncode == 3 and "holds 'taobao' data" in done.stderr


def test_failure_mid_write_leaves_workspace_intact(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ingest("taobao", TAOBAO, workspace, source="taobao")
    before = _snapshot(workspace)
    calls = {"n": 0}
    real_write = pq.ParquetWriter.write_table

    def failing_write(self: pq.ParquetWriter, table: object, *args: object, **kw: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full (injected)")
        real_write(self, table, *args, **kw)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", failing_write)
    monkeypatch.setattr(ingest_module, "ROWS_PER_FILE", 1000)
    with pytest.raises(OSError, match="injected"):
        ingest("rees46", REES46, workspace, source="rees46",
               options={"block_size": 64 << 10})
    assert calls["n"] == 2
    assert _snapshot(workspace) == before
    assert not (workspace / ".staging").exists() or not any((workspace / ".staging").iterdir())
    monkeypatch.undo()
    ingest("rees46", REES46, workspace, source="rees46")
    assert workspace_stats(Workspace.open(workspace))["rees46"]["events"] == 6_000


def test_failure_while_publishing_manifest(workspace: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    ingest("taobao", TAOBAO, workspace, source="taobao")
    before = _snapshot(workspace)

    def boom(self: Workspace, manifest: dict) -> None:
        raise OSError("crash before manifest swap (injected)")

    monkeypatch.setattr(Workspace, "_commit_manifest", boom)
    with pytest.raises(OSError, match="injected"):
        ingest("rees46", REES46, workspace, source="rees46")
    monkeypatch.undo()
    assert _snapshot(workspace) == before
    ingest("taobao", TAOBAO, workspace, source="other")  # next write sweeps the orphan
    assert not (workspace / "data" / "rees46").exists()


def _big_taobao(path: Path, rows: int) -> Path:
    lines = ["user_id,item_id,category_id,behavior_type,timestamp"]
    kinds = ("pv", "pv", "pv", "cart", "fav", "buy")
    lines += [f"{i // 100},{i % 7919},{i % 97},{kinds[i % 6]},{1511544070 + i}"
              for i in range(rows)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_killed_ingest_leaves_previous_workspace(workspace: Path, tmp_path: Path) -> None:
    ingest("taobao", TAOBAO, workspace, source="taobao")
    before = _snapshot(workspace)
    big = _big_taobao(tmp_path / "big.csv", 1_500_000)
    env = {**os.environ, "INSIGHT_INGEST__BLOCK_SIZE_BYTES": str(256 << 10)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "insight", "ingest", "taobao", str(big), "-w", str(workspace),
         "--source", "big"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 60
    staged: list[Path] = []
    while time.time() < deadline and not staged:
        staged = list((workspace / ".staging").glob("*/events-*.parquet"))
        time.sleep(0.05)
    assert staged, "the ingest never started writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert _snapshot(workspace) == before
    # the lock died with the process; the next ingest cleans the leftovers and succeeds
    ingest("taobao", TAOBAO, workspace, source="again")
    assert not (workspace / ".staging").exists()
    assert set(Workspace.open(workspace).sources) == {"taobao", "again"}


def test_views_rebuilt_when_stale(workspace: Path) -> None:
    ingest("taobao", TAOBAO, workspace, source="taobao")
    (workspace / "insight.duckdb").unlink()
    con = Workspace.open(workspace).connect()
    assert con.execute("SELECT count(*) FROM events").fetchone()[0] == 12_652
    con.close()


def test_sample_ingests_every_slice(workspace: Path) -> None:
    results = ingest_sample(workspace)
    assert [r.source for r in results] == [f.source for f in SAMPLE_FILES]
    stats = workspace_stats(Workspace.open(workspace))
    assert stats["beauty"]["untimed"] and stats["beauty"]["users"] == 2_000
    assert stats["gift_cards"]["reviews"] == 2_972 and stats["gift_cards"]["catalog_items"] == 148
    assert stats["taobao"]["users"] == 120
    assert stats["rees46"]["events"] == 6_000
    assert stats["musical_instruments"]["users"] == 400
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total <= 5_000_000


def test_stats_human_table_lists_sources(workspace: Path) -> None:
    ingest("taobao", TAOBAO, workspace, source="taobao")
    done = run_cli("stats", "-w", str(workspace))
    assert done.returncode == 0 and "taobao" in done.stdout and "12,652" in done.stdout
    as_json = json.loads(run_cli("stats", "--json", "-w", str(workspace)).stdout)
    assert as_json["taobao"]["events_by_type"]["purchase"] == 245
