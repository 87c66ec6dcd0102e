"""The one writer API: two writers at once both land; writes outside the lock are refused."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pytest

from core.errors import WorkspaceError
from store.workspace import Workspace
from tests.conftest import REPO, SAMPLE, run_cli

# A writer that opens the workspace (reading the manifest), waits for the go signal, then holds
# the lock while it stages a file for a while before publishing: the other writer must wait and
# build on this one's commit instead of overwriting it with its stale manifest.
WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import pyarrow as pa, pyarrow.parquet as pq
    from store.workspace import Workspace

    root, name, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    ws = Workspace.open(root)
    while not go.exists():
        time.sleep(0.01)
    with ws.lock(), ws.stage() as batch:
        pq.write_table(pa.table({"writer": [name] * 3}), batch.staging_dir / "part.parquet")
        batch.files["writers"] = ["part.parquet"]
        time.sleep(1.0)
        ws.publish_derived("writers", batch, {"by": name}, partition=name)
""")


def _start_writer(root: Path, name: str, go: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), name, str(go)],
                            cwd=REPO, env=env, text=True, stderr=subprocess.PIPE)


def test_two_writers_in_two_processes_both_survive(workspace: Path) -> None:
    Workspace.open(workspace, create=True)
    go = workspace.parent / "go"
    writers = [_start_writer(workspace, name, go) for name in ("alpha", "beta")]
    go.touch()
    for writer in writers:
        _, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
    ws = Workspace.open(workspace)
    assert set(ws.manifest["derived"]["writers"]["partitions"]) == {"alpha", "beta"}
    con = ws.connect()
    rows = con.execute("SELECT writer, count(*) FROM writers GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    assert rows == [("alpha", 3), ("beta", 3)]
    assert ws.generation == 2
    assert not any((workspace / ".staging").glob("*"))


def test_two_ingests_at_once_both_land(workspace: Path) -> None:
    taobao = SAMPLE / "taobao" / "UserBehavior_sample.csv.gz"
    rees46 = SAMPLE / "rees46" / "2019-Oct_sample.csv.gz"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    runs = [subprocess.Popen([sys.executable, "-m", "insight", "ingest", kind, str(path),
                              "-w", str(workspace)], cwd=REPO, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for kind, path in (("taobao", taobao), ("rees46", rees46))]
    for run in runs:
        _, err = run.communicate(timeout=300)
        assert run.returncode == 0, err
    assert set(Workspace.open(workspace).sources) == {"userbehavior_sample", "2019_oct_sample"}
    stats = run_cli("stats", "-w", str(workspace))
    assert stats.returncode == 0 and "12,652" in stats.stdout


def test_a_writer_that_waits_too_long_is_told_who_holds_the_lock(workspace: Path) -> None:
    Workspace.open(workspace, create=True)
    holder = Workspace.open(workspace)
    impatient = Workspace.open(workspace, lock_wait_seconds=0.2)
    with holder.lock(), pytest.raises(WorkspaceError, match=rf"another process.*pid {os.getpid()}"):
        impatient.write_derived("t", pa.table({"x": [1]}), {})
    assert "t" not in Workspace.open(workspace).manifest["derived"]


def test_publishing_outside_the_lock_is_refused(workspace: Path) -> None:
    ws = Workspace.open(workspace, create=True)
    with pytest.raises(WorkspaceError, match="outside `with ws.lock\\(\\)`"):
        ws.sweep()
    with pytest.raises(WorkspaceError, match="outside"), ws.stage():
        pass
