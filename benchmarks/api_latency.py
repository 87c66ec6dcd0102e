"""Latency and load of the scoring API (`insight api`) on loopback, with real HTTP.

The workspace (by default one holding the full Amazon Beauty source and its next-item
checkpoint: 12,101 items) is copied aside, so the benchmark never changes it, and served by
`insight api` in a subprocess. Then:

1. **single-user latency**: `--requests` sequential `GET /v1/users/beauty/{user}/scores`
   for random users over one keep-alive connection (after `--warmup` requests); client-side
   p50 / p95 / p99. Target: p50 ≤ 10 ms, p95 ≤ 25 ms.
2. **load**: an open-loop schedule of `--rate` requests/s for `--duration` s (asyncio, a
   hand-written HTTP/1.1 client over `--concurrency` keep-alive connections): score reads,
   and a `--write-fraction` of `POST /v1/events` appends of one fresh event each; errors
   (non-2xx, timeouts, connection errors) counted. Target: 0 errors at 200 requests/s for
   60 s, the achieved rate ≥ 95% of the target.

The client runs on the same machine as the server (2 cores here), so its CPU use counts
against the server's. Writes JSON to `benchmarks/results/api_latency.json`.

    python benchmarks/api_latency.py --workspace /tmp/apibench/ws [--source beauty]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.machine import describe_machine, setup_logging, write_report  # noqa: E402
from store.workspace import Workspace  # noqa: E402

log = logging.getLogger("benchmarks.api_latency")
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
TARGET_P50_MS, TARGET_P95_MS = 10.0, 25.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _percentiles(ms: list[float]) -> dict[str, float]:
    a = np.asarray(ms, dtype=np.float64)
    if a.size == 0:
        return {}
    return {"n": int(a.size), "mean_ms": round(float(a.mean()), 3),
            "p50_ms": round(float(np.percentile(a, 50)), 3),
            "p95_ms": round(float(np.percentile(a, 95)), 3),
            "p99_ms": round(float(np.percentile(a, 99)), 3),
            "max_ms": round(float(a.max()), 3)}


def _users_and_items(workspace: Path, source: str) -> tuple[list[str], list[str]]:
    con = Workspace.open(workspace).connect()
    try:
        users = [str(r[0]) for r in con.execute(
            "SELECT DISTINCT user_id FROM events WHERE source = ? ORDER BY 1", [source]
        ).fetchall()]
        items = [str(r[0]) for r in con.execute(
            "SELECT DISTINCT item_id FROM events WHERE source = ? ORDER BY 1", [source]
        ).fetchall()]
    finally:
        con.close()
    return users, items


def _checkpoint(workspace: Path, source: str) -> dict[str, Any]:
    base = workspace / "models" / source / "next_item"
    version = json.loads((base / "current.json").read_text())["version"]
    meta = json.loads((base / version / "meta.json").read_text())
    return {"version": version, "items": meta.get("items"), "users": meta.get("users"),
            "model_config": meta.get("model_config"),
            "epochs_trained": meta.get("training", {}).get("epochs_run"),
            "test_metrics_sasrec": meta.get("metrics", {}).get("sasrec")}


def _start_server(workspace: Path, port: int, log_file: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "INSIGHT_API__KEYS": "", "INSIGHT_LOG_LEVEL": "WARNING"}
    with open(log_file, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "insight", "api", "-w", str(workspace),
                                 "--port", str(port)], cwd=REPO, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"insight api exited: {log_file.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("insight api did not start in 180 s")


def single_user_latency(url: str, source: str, users: list[str], n: int, warmup: int,
                        seed: int) -> dict[str, Any]:
    """Sequential score requests for random users over one keep-alive connection."""
    rng = random.Random(seed)
    ms: list[float] = []
    errors = 0
    with httpx.Client(base_url=url, timeout=10) as http:
        for i in range(warmup + n):
            user = rng.choice(users)
            started = time.perf_counter()
            response = http.get(f"/v1/users/{source}/{user}/scores")
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                errors += 1
            elif i >= warmup:
                ms.append(elapsed)
    out = _percentiles(ms)
    out["errors"] = errors
    out["meets_target"] = bool(out.get("p50_ms", 1e9) <= TARGET_P50_MS
                               and out.get("p95_ms", 1e9) <= TARGET_P95_MS)
    return out


class _Connection:
    """One keep-alive HTTP/1.1 connection spoken by hand: far less client CPU per request
    than a general HTTP client, which matters when client and server share two cores."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> int:
        """Send one request, read the whole response; returns the status code."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Length: {len(body)}\r\n")
        if body:
            head += "Content-Type: application/json\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        """Drop the connection (it is reopened on the next request)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _load(port: int, source: str, users: list[str], items: list[str], rate: float,
                duration: float, concurrency: int, write_fraction: float, seed: int
                ) -> dict[str, Any]:
    """Open-loop load: request i is due at start + i / rate; `concurrency` connections take
    the due requests in order (a request waits for a free connection when all are busy)."""
    rng = random.Random(seed)
    total = int(rate * duration)
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    reads: list[float] = []
    writes: list[float] = []
    errors: dict[str, int] = {}
    late: list[float] = []

    async def worker() -> None:
        conn = _Connection(port)
        while (job := await queue.get()) is not None:
            i, due = job
            late.append(max(0.0, time.perf_counter() - due) * 1000)
            write = rng.random() < write_fraction
            started = time.perf_counter()
            try:
                if write:
                    body = json.dumps({"source": source, "events": [{
                        "event_id": f"bench-{seed}-{i}", "user_id": rng.choice(users),
                        "item_id": rng.choice(items), "event_type": "view"}]}).encode()
                    status = await asyncio.wait_for(conn.request("POST", "/v1/events", body), 5)
                else:
                    path = f"/v1/users/{source}/{rng.choice(users)}/scores"
                    status = await asyncio.wait_for(conn.request("GET", path), 5)
            except (OSError, asyncio.IncompleteReadError, TimeoutError, ValueError) as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                conn.close()
                continue
            if status != 200:
                errors[f"http_{status}"] = errors.get(f"http_{status}", 0) + 1
                continue
            (writes if write else reads).append((time.perf_counter() - started) * 1000)
        conn.close()

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    start = time.perf_counter()
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((i, due))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - start
    n_errors = sum(errors.values())
    achieved = total / elapsed
    return {"requests": total, "target_rate_per_s": rate, "duration_s": duration,
            "achieved_rate_per_s": round(achieved, 1), "wall_s": round(elapsed, 2),
            "errors": n_errors, "errors_by_kind": errors, "reads": _percentiles(reads),
            "writes": _percentiles(writes), "start_lateness": _percentiles(late),
            "client": f"hand-written HTTP/1.1 over {concurrency} keep-alive connections "
                      "(asyncio streams)",
            "meets_target": n_errors == 0 and achieved >= 0.95 * rate}


def main() -> None:
    """Copy the workspace, serve it, measure, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workspace", type=Path, required=True,
                        help="Workspace with the source and its next-item checkpoint.")
    parser.add_argument("--source", default="beauty")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--write-fraction", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS / "api_latency.json")
    args = parser.parse_args()
    setup_logging()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    report: dict[str, Any] = {"benchmark": "api_latency", "machine": describe_machine(),
                              "load_average_at_start": list(os.getloadavg()),
                              "checkpoint": _checkpoint(args.workspace, args.source),
                              "source": args.source, "workspace": str(args.workspace)}
    users, items = _users_and_items(args.workspace, args.source)
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        copy = Path(tmp) / "ws"
        shutil.copytree(args.workspace, copy, ignore=shutil.ignore_patterns("live", ".lock"))
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        started = time.perf_counter()
        proc = _start_server(copy, port, Path(tmp) / "server.log")
        report["server_start_s"] = round(time.perf_counter() - started, 2)
        server = psutil.Process(proc.pid)
        try:
            health = httpx.get(url + "/healthz").json()
            report["served"] = health["loaded"]
            log.info("single-user latency: %d requests", args.requests)
            report["single_user"] = single_user_latency(url, args.source, users, args.requests,
                                                        args.warmup, args.seed)
            log.info("single user: %s", report["single_user"])
            cpu_before = server.cpu_times()
            log.info("load: %.0f requests/s for %.0f s", args.rate, args.duration)
            report["load"] = asyncio.run(_load(port, args.source, users, items, args.rate,
                                               args.duration, args.concurrency,
                                               args.write_fraction, args.seed))
            cpu_after = server.cpu_times()
            busy = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
            report["load"]["server_cpu_cores_busy"] = round(busy / report["load"]["wall_s"], 2)
            report["load"]["server_rss_mib"] = round(server.memory_info().rss / 2**20, 1)
            log.info("load: %s", {k: v for k, v in report["load"].items() if k != "reads"})
            metrics = httpx.get(url + "/metrics").text
            report["server_metrics_excerpt"] = [line for line in metrics.splitlines()
                                                if line.startswith("insight_api_requests_total")
                                                or line.startswith("insight_api_events")]
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    report["load_average_at_end"] = list(os.getloadavg())
    report["targets"] = {"single_user_p50_ms": TARGET_P50_MS,
                         "single_user_p95_ms": TARGET_P95_MS,
                         "load": f"{args.rate:g} requests/s for {args.duration:g} s, 0 errors"}
    write_report(args.out, report)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
