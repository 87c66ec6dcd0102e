"""Ingest throughput: a generated 10M-event clickstream shaped like Taobao UserBehavior.

Generates `--events` rows (users in contiguous, time-sorted blocks of ~100 events; item
popularity Zipf-like; behavior mix of the real prefix: pv 89.8 %, cart 5.3 %, fav 2.8 %,
buy 2.1 %), then times `insight ingest taobao` in a fresh process and records its peak RSS.
Targets: >= 200k events/s and peak RSS <= 4 GB.

    python benchmarks/ingest_clickstream.py --events 10000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.machine import describe_machine, write_report  # noqa: E402

log = logging.getLogger("benchmarks.ingest")
RESULTS = Path(__file__).resolve().parent / "results"
BEHAVIORS = np.array(["pv", "cart", "fav", "buy"])
MIX = np.array([75_693, 4_494, 2_351, 1_749]) / 84_287


def generate(path: Path, n_events: int, seed: int = 0, chunk: int = 1_000_000) -> None:
    """Write a Taobao-shaped CSV with `n_events` rows."""
    rng = np.random.default_rng(seed)
    start = 1_511_539_200  # 2017-11-25 00:00 China time
    span = 9 * 86_400
    user = 1
    with pacsv.CSVWriter(path, pa.schema([("user_id", pa.int64()), ("item_id", pa.int64()),
                                          ("category_id", pa.int64()),
                                          ("behavior_type", pa.string()),
                                          ("timestamp", pa.int64())])) as writer:
        for offset in tqdm(range(0, n_events, chunk), desc="generate", unit="chunk"):
            n = min(chunk, n_events - offset)
            lengths = rng.integers(20, 180, size=n // 20 + 2)
            users = np.repeat(np.arange(user, user + len(lengths)), lengths)[:n]
            user = int(users[-1]) + 1
            items = (rng.zipf(1.3, size=n) % 4_000_000) + 1
            categories = items % 9_439 + 1
            behaviors = BEHAVIORS[rng.choice(4, size=n, p=MIX)]
            stamps = np.sort(rng.integers(start, start + span, size=n))
            order = np.lexsort((stamps, users))
            writer.write_table(pa.table({
                "user_id": users, "item_id": items[order], "category_id": categories[order],
                "behavior_type": behaviors[order], "timestamp": stamps,
            }))


def main() -> int:
    """Generate, ingest, measure, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--out", type=Path, default=RESULTS / "ingest_clickstream.json")
    parser.add_argument("--keep", action="store_true", help="Keep the generated files.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tmp = Path(tempfile.mkdtemp(prefix="insight-bench-"))
    try:
        csv_path = tmp / "UserBehavior_generated.csv"
        generate(csv_path, args.events)
        size = csv_path.stat().st_size
        log.info("generated %s events, %.0f MB", f"{args.events:,}", size / 1e6)
        workspace = tmp / "ws"
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "insight", "ingest", "taobao", str(csv_path), "-w",
             str(workspace), "--source", "bench", "--json"],
            capture_output=True, text=True, check=False,
        )
        seconds = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if done.returncode != 0:
            log.error("ingest failed: %s", done.stderr)
            return 1
        if peak_kib <= before:
            log.warning("peak RSS may include the generator; measured %s KiB", peak_kib)
        stats = subprocess.run(
            [sys.executable, "-m", "insight", "stats", "--json", "-w", str(workspace)],
            capture_output=True, text=True, check=True,
        )
        events = __import__("json").loads(stats.stdout)["bench"]["events"]
        rate = events / seconds
        parquet_bytes = sum(p.stat().st_size for p in (workspace / "data").rglob("*.parquet"))
        report = {
            "benchmark": "ingest_clickstream",
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": describe_machine(),
            "input": {"events": args.events, "format": "Taobao UserBehavior CSV (generated)",
                      "csv_bytes": size},
            "result": {
                "events_ingested": events,
                "wall_seconds": round(seconds, 2),
                "events_per_second": round(rate),
                "peak_rss_mib": round(peak_kib / 1024, 1),
                "parquet_bytes": parquet_bytes,
            },
            "targets": {"events_per_second": 200_000, "peak_rss_mib": 4096},
            "passed": bool(rate >= 200_000 and peak_kib / 1024 <= 4096 and
                           events == args.events),
            "command": "insight ingest taobao <generated.csv> (fresh process, wall time "
                       "includes interpreter start, DuckDB view rebuild and manifest commit)",
        }
        write_report(args.out, report)
        log.info("%s events/s, peak RSS %.0f MiB -> %s", f"{rate:,.0f}", peak_kib / 1024,
                 args.out)
        return 0 if report["passed"] else 1
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
