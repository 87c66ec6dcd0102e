"""The append log under kill -9, a torn last line, compaction while serving, model hot swap,
and the refusals at start (public bind without keys, a second server on one workspace)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from api.event_log import log_path
from store.checkpoints import NEXT_ITEM, load_checkpoint, save_checkpoint
from store.workspace import Workspace
from tests.api.conftest import ApiProcess, free_port
from tests.conftest import REPO, run_cli

BATCH = 5


@pytest.fixture(scope="module")
def workspace(trained_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private copy of the trained workspace (no live log yet)."""
    target = tmp_path_factory.mktemp("durable") / "ws"
    shutil.copytree(trained_workspace, target, ignore=shutil.ignore_patterns("live"))
    return target


@pytest.fixture(scope="module")
def server(workspace: Path) -> Iterator[ApiProcess]:
    """A key-less (loopback-only) server over the copy; tests restart it as they need."""
    proc = ApiProcess(workspace, env={"INSIGHT_API__KEYS": ""})
    yield proc
    proc.stop()


def _batches(n: int) -> list[list[dict[str, Any]]]:
    return [[{"event_id": f"d-{b}-{i}", "user_id": f"dur-{b % 3}", "item_id": str(1 + i + b),
              "event_type": "view"} for i in range(BATCH)] for b in range(n)]


def _logged_ids(path: Path) -> list[str]:
    text = path.read_bytes()
    return [json.loads(line)["event_id"] for line in text.split(b"\n")[:-1]]


def test_acknowledged_events_survive_kill_9_and_reposts_are_not_duplicated(
        server: ApiProcess, workspace: Path) -> None:
    server.start()
    assert httpx.get(server.url + "/healthz").json()["auth"] == "loopback-only"
    batches = _batches(400)
    acked: list[str] = []
    enough = threading.Event()

    def post_until_killed() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as http:
            for n, batch in enumerate(batches):
                try:
                    response = http.post("/v1/events", json={"source": "beauty",
                                                             "events": batch})
                except httpx.HTTPError:
                    return  # the server died under this request: it was never acknowledged
                assert response.status_code == 200, response.text
                acked.extend(e["event_id"] for e in batch)
                if n == 20:
                    enough.set()
        enough.set()

    poster = threading.Thread(target=post_until_killed)
    poster.start()
    assert enough.wait(60)
    server.kill9()
    poster.join(30)
    logged = _logged_ids(log_path(workspace, "beauty"))
    assert len(acked) >= 21 * BATCH and len(acked) < len(batches) * BATCH, "kill came too late"
    assert set(acked) <= set(logged)  # nothing acknowledged was lost
    assert len(logged) == len(set(logged))

    server.start()
    accepted = duplicates = 0
    with httpx.Client(base_url=server.url, timeout=10) as http:
        for start in range(0, len(batches), 20):  # 100 events a request
            events = [e for batch in batches[start:start + 20] for e in batch]
            body = http.post("/v1/events", json={"source": "beauty", "events": events}).json()
            accepted += body["accepted"]
            duplicates += body["duplicates"]
        assert duplicates == len(logged) and accepted == len(batches) * BATCH - len(logged)
        final = _logged_ids(log_path(workspace, "beauty"))
        assert sorted(final) == sorted(e["event_id"] for b in batches for e in b)
        per_user = sum(1 for b, batch in enumerate(batches) if b % 3 == 0) * BATCH
        scores = http.get("/v1/users/beauty/dur-0/scores").json()
        assert scores["n_live_events"] == scores["n_events"] == per_user


def test_a_torn_last_line_is_dropped_on_restart(server: ApiProcess, workspace: Path) -> None:
    server.stop()
    path = log_path(workspace, "beauty")
    lines_before = len(_logged_ids(path))
    with open(path, "ab") as handle:
        handle.write(b'{"event_id":"torn","user_id":"dur-0","item_')  # a crash mid-write
    server.start()
    assert not path.read_bytes().endswith(b'"item_')  # truncated back to the last full line
    response = httpx.post(server.url + "/v1/events", json={"source": "beauty", "events": [
        {"event_id": "torn", "user_id": "dur-0", "item_id": "1", "event_type": "cart"}]})
    assert response.json()["accepted"] == 1  # the torn event was never acknowledged
    assert len(_logged_ids(path)) == lines_before + 1


def _beauty_events(workspace: Path) -> int:
    con = Workspace.open(workspace).connect()
    try:
        return int(con.execute("SELECT count(*) FROM events WHERE source = 'beauty'"
                               ).fetchall()[0][0])
    finally:
        con.close()


def _wait_for(check: Any, what: str, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_compaction_folds_the_log_once_while_serving(server: ApiProcess,
                                                     workspace: Path) -> None:
    url = server.url + "/v1/users/beauty/dur-0/scores"
    before = httpx.get(url).json()
    stored = _beauty_events(workspace)
    n_logged = len(_logged_ids(log_path(workspace, "beauty")))
    done = run_cli("api", "compact", "-w", str(workspace), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["beauty"]["events"] == n_logged
    assert _beauty_events(workspace) == stored + n_logged
    after = _wait_for(lambda: (r := httpx.get(url).json())["n_live_events"] == 0 and r,
                      "the server to reread the workspace")
    assert after["n_events"] == before["n_events"]  # folded events are not counted twice
    assert after["next_items"] == before["next_items"]
    again = run_cli("api", "compact", "-w", str(workspace), "--json")
    assert json.loads(again.stdout)["beauty"]["events"] == 0
    repost = httpx.post(server.url + "/v1/events", json={"source": "beauty",
                                                         "events": _batches(1)[0]})
    assert repost.json()["duplicates"] == BATCH  # ids stay known after the fold


def test_a_new_checkpoint_is_picked_up_without_restart(server: ApiProcess,
                                                       workspace: Path) -> None:
    url = server.url + "/v1/users/beauty/1/scores"
    before = httpx.get(url).json()
    ws = Workspace.open(workspace)
    path, meta = load_checkpoint(ws, "beauty", NEXT_ITEM, check_data=False)
    items = json.loads((path / "items.json").read_text())
    state = torch.load(path / "model.pt", weights_only=True)
    vocab = items["index_to_id"]
    top, new_top = before["next_items"][0]["item_id"], before["next_items"][5]["item_id"]
    weight = state["item_emb.weight"]
    weight[vocab.index(new_top) + 1] = 3 * weight[vocab.index(top) + 1]

    def write(directory: Path) -> None:
        torch.save(state, directory / "model.pt")
        shutil.copy(path / "items.json", directory / "items.json")

    keep = {k: meta[k] for k in ("model_config", "options", "use_types", "users", "items",
                                 "mask_seen", "repeat_share")}
    version = save_checkpoint(ws, "beauty", NEXT_ITEM, write, keep)
    after = _wait_for(lambda: (r := httpx.get(url).json())["model_version"] == version and r,
                      "the new checkpoint")
    assert after["model_versions"]["next_item"] == version != before["model_version"]
    assert after["next_items"][0]["item_id"] == new_top
    metrics = httpx.get(server.url + "/metrics").text
    assert "insight_api_model_reloads 1" in metrics


def test_public_bind_without_keys_and_a_second_server_are_refused(
        server: ApiProcess, workspace: Path) -> None:
    no_keys = {**os.environ, "INSIGHT_API__KEYS": ""}
    runs = {  # started together: each is a separate `insight api` that must refuse at once
        "public": (["--host", "0.0.0.0"], no_keys),
        "short key": ([], {**os.environ, "INSIGHT_API__KEYS": "short"}),
        "second server": ([], no_keys),
    }
    procs = {name: subprocess.Popen(
        [sys.executable, "-m", "insight", "api", "-w", str(workspace), "--port",
         str(free_port()), *args], cwd=REPO, env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True) for name, (args, env) in runs.items()}
    out = {}
    for name, proc in procs.items():
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(f"{name}: `insight api` did not refuse") from None
        out[name] = (proc.returncode, " ".join(err.split()))
    assert out["public"][0] == 2
    assert "refusing to bind '0.0.0.0' without API keys" in out["public"][1]
    assert out["short key"][0] == 2 and "shorter than 16" in out["short key"][1]
    assert out["second server"][0] == 3 and "already serves" in out["second server"][1]
    assert server.proc is not None and server.proc.poll() is None  # still serving
