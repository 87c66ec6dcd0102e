"""Refresh benchmark: `insight train --resume` against a full retrain on the same grown data.

Protocol (fixed before any run; the criterion is the issue's):

* Data: Amazon Musical Instruments 2014 5-core (10,261 reviews as `review` events, 1,429 users,
  900 items, real timestamps 2004-2014). Chosen because it has real event times (so "events
  since the checkpoint" is a real time cut, which Beauty lacks) and a catalogue small enough
  that the default `insight train` options run to early stopping three times within ~12
  minutes on 2 busy cores (one Taobao-prefix epoch over its 42k items took 25-75 s here with the
  full softmax).
* T0 = ``--cut`` (default 2014-01-01 UTC, about three quarters of the events): the events up to
  T0 are ingested and a next-item model is trained with the default options: "the current
  checkpoint". Then the later events (up to T1, the end of the file) are ingested into the
  same source as a second file, as new data arrives.
* (a) ``resume_next_item`` (the code path of ``insight train --resume``) from the T0
  checkpoint; (b) ``train_next_item`` from scratch with the same options. Each is timed
  wall-clock around the library call (data read, training, evaluation, publishing).
* Both are evaluated on the same held-out test: the leave-one-out split of the T1 data (the
  last event of each user with 3+ events, predicted from the rest), full ranking over every
  item, the user's history masked (``test_filtered``); unmasked figures are reported too. The
  T0 checkpoint without any refresh is scored on the same test for context (items it never
  saw count as misses).
* Criterion: NDCG@10 (masked) of (a) >= 95% of (b), and wall time of (a) <= 25% of (b).
  The resume schedule is :class:`ResumeOptions`' defaults, chosen by ``--tune`` on validation
  NDCG@10 and wall time only (``refresh_tuning.json``), never on test figures.

Run from the repository root (about 5-10 minutes on 2 busy cores)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/refresh.py

Writes ``benchmarks/results/refresh.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script: the repository's packages

from benchmarks.machine import (  # noqa: E402
    file_sha256,
    find_data,
    machine_info,
    peak_rss_mib,
    setup_logging,
    shown_path,
    write_report,
)
from predictors.evaluation.evaluator import evaluate  # noqa: E402
from predictors.evaluation.splits import leave_one_out_split  # noqa: E402
from predictors.next_item import (  # noqa: E402
    TYPE_IDS,
    NextItemModel,
    read_training_data,
    train_next_item,
)
from predictors.training.recipe import NextItemOptions  # noqa: E402
from predictors.training.resume import ResumeOptions, resume_next_item  # noqa: E402
from store.ingest import ingest  # noqa: E402
from store.readers import UserSequences  # noqa: E402
from store.workspace import Workspace  # noqa: E402

logger = logging.getLogger("refresh")

DATA_REL = Path("shared/data/amazon_musical_instruments_2014_5core/"
                "reviews_Musical_Instruments_5.json.gz")
SOURCE = "instruments"
NDCG_RATIO_MIN, TIME_RATIO_MAX = 0.95, 0.25
TUNE_TIME_RATIO = 0.20


def split_reviews(path: Path, cut: int, out: Path) -> tuple[Path, Path, dict[str, int]]:
    """The review file as reviews up to `cut` (epoch s) and reviews after it (two files)."""
    early, late = out / "reviews_until_T0.json", out / "reviews_after_T0.json"
    counts = {"until_T0": 0, "after_T0": 0}
    with gzip.open(path, "rt", encoding="utf-8") as src, early.open("w") as a, late.open("w") as b:
        for line in src:
            if not line.strip():
                continue
            after = int(json.loads(line)["unixReviewTime"]) > cut
            (b if after else a).write(line)
            counts["after_T0" if after else "until_T0"] += 1
    return early, late, counts


def heldout_metrics(model: NextItemModel, sequences: UserSequences) -> dict[str, Any]:
    """Leave-one-out test metrics (full ranking) with and without the history masked.

    Items the model does not know are dropped from histories; an unknown test target (or an
    empty history) counts as a miss, so models with different vocabularies are compared on the
    same users and targets.
    """
    encoded, types = [], []
    for items, kinds in zip(sequences.items, sequences.event_types, strict=True):
        known = [(model.items.id_to_index.get(i, 0), TYPE_IDS[k]) for i, k in zip(items, kinds,
                                                                                  strict=True)]
        encoded.append([i for i, _ in known])
        types.append([k for _, k in known])
    split = leave_one_out_split(encoded, types if model.use_types else None)
    inputs, type_inputs = [], []
    for history, kinds in zip(split.test.inputs, split.test.type_inputs or split.test.inputs,
                              strict=True):
        kept = [(i, k) for i, k in zip(history, kinds, strict=True) if i != 0]
        inputs.append([i for i, _ in kept])
        type_inputs.append([k for _, k in kept])
    targets = split.test.targets  # 0 (padding) for an unknown target
    keep = [n for n, (t, h) in enumerate(zip(targets, inputs, strict=True)) if t and h]
    share = len(keep) / max(len(targets), 1)  # the others are misses: metrics scale by share
    out: dict[str, Any] = {}
    for name, masked in (("test_filtered", True), ("test", False)):
        metrics = evaluate(model.model, [inputs[n] for n in keep], [targets[n] for n in keep],
                           max_len=model.max_len,
                           type_inputs=[type_inputs[n] for n in keep] if model.use_types
                           else None, filter_history=masked)
        out[name] = {k: v * share for k, v in metrics.items()}
    out["users"] = {"n": len(targets), "scored": len(keep)}
    return out


def _timed(label: str, call: Any) -> tuple[NextItemModel, float]:
    started = time.perf_counter()
    model = call()
    seconds = time.perf_counter() - started
    logger.info("%s: %.1fs, version %s", label, seconds, model.version)
    return model, seconds


def _grown_workspace(tmp: Path, data: Path, cut: str, options: NextItemOptions
                     ) -> tuple[Workspace, NextItemModel, float, dict[str, int]]:
    """Ingest the events up to T0, train "the current checkpoint", then ingest the rest."""
    cut_ts = int(dt.datetime.fromisoformat(cut).replace(tzinfo=dt.UTC).timestamp())
    early, late, counts = split_reviews(data, cut_ts, tmp)
    root = tmp / "ws"
    ingest("amazon", early, root, source=SOURCE, options={"no_meta": True}, progress=False)
    ws = Workspace.open(root)
    t0_model, t0_seconds = _timed("T0 training", lambda: train_next_item(ws, SOURCE, options))
    ingest("amazon", late, root, source=SOURCE, options={"no_meta": True}, progress=False)
    return Workspace.open(root), t0_model, t0_seconds, counts


def tune(data: Path, cut: str, options: NextItemOptions, schedules: list[ResumeOptions],
         seeds: tuple[int, ...] = (0, 1, 2)) -> dict[str, Any]:
    """Validation-only choice of the resume schedule (no test figure is computed or read).

    Rule fixed in advance: every schedule and the full retrain run once per seed on copies of
    the same grown workspace; among schedules whose mean wall time is <= 20% of the full
    retrain's mean (the criterion's 25% less a margin for timing noise), the best mean
    validation NDCG@10 (ties: the faster one).
    """
    with tempfile.TemporaryDirectory(prefix="refresh-tune-") as tmp:
        ws, _, _, _ = _grown_workspace(Path(tmp), data, cut, options)
        rows = [_tune_row(ws, Path(tmp), {"schedule": asdict(s)},
                          lambda w, seed, s=s: resume_next_item(w, SOURCE, replace(s, seed=seed)),
                          seeds) for s in schedules]
        full = _tune_row(ws, Path(tmp), {}, lambda w, seed: train_next_item(
            w, SOURCE, replace(options, seed=seed)), seeds)
    fits = [r for r in rows if r["seconds"] <= TUNE_TIME_RATIO * full["seconds"]] or rows
    best = max(fits, key=lambda r: (r["valid_ndcg10"], -r["seconds"]))
    return {"rule": tune.__doc__, "seeds": list(seeds), "full_retrain": full,
            "schedules": rows, "chosen": best["schedule"]}


def _tune_row(ws: Workspace, tmp: Path, row: dict[str, Any], call: Any,
              seeds: tuple[int, ...]) -> dict[str, Any]:
    """Mean wall time and validation NDCG@10 of `call(workspace copy, seed)` over the seeds."""
    seconds, ndcg, epochs = [], [], []
    for seed in seeds:
        copy = tmp / "ws-copy"
        shutil.rmtree(copy, ignore_errors=True)
        shutil.copytree(ws.root, copy)
        model, took = _timed(f"{row or 'full retrain'} seed {seed}",
                             lambda c=copy, s=seed: call(Workspace.open(c), s))
        seconds.append(took)
        ndcg.append(model.meta["training"]["best_valid"]["NDCG@10"])
        epochs.append(model.meta["training"]["epochs_run"])
    return {**row, "seconds": round(statistics.mean(seconds), 2),
            "valid_ndcg10": statistics.mean(ndcg), "valid_ndcg10_per_seed": ndcg,
            "epochs_run": epochs}


def run(data: Path, cut: str, options: NextItemOptions,
        schedule: ResumeOptions) -> dict[str, Any]:
    """The whole benchmark in a temporary workspace; returns the report."""
    machine = machine_info("cpu", runtime={"torch_threads": options.num_threads})
    with tempfile.TemporaryDirectory(prefix="refresh-") as tmp:
        ws, t0_model, t0_seconds, counts = _grown_workspace(Path(tmp), data, cut, options)
        sequences, _ = read_training_data(ws, SOURCE)
        stale = heldout_metrics(t0_model, sequences)
        resumed, resume_s = _timed("resume", lambda: resume_next_item(ws, SOURCE, schedule))
        full, full_s = _timed("full retrain", lambda: train_next_item(ws, SOURCE, options))
        resumed_test = heldout_metrics(resumed, sequences)
        full_test = heldout_metrics(full, sequences)
    ndcg_ratio = (resumed_test["test_filtered"]["NDCG@10"]
                  / max(full_test["test_filtered"]["NDCG@10"], 1e-12))
    time_ratio = resume_s / full_s
    return {
        "benchmark": "next-item refresh: insight train --resume vs a full retrain",
        "protocol": __doc__.split("Run from")[0].strip() if __doc__ else "",
        "data": {"file": shown_path(data), "sha256": file_sha256(data), "source": SOURCE,
                 "why": "real timestamps (a real 'events since' cut) and a 900-item catalogue: "
                        "the default options train to early stopping 3 times in the budget",
                 "T0": cut, "T1": "end of file (2014-07-23)", "events": counts,
                 "users_T1": len(sequences),
                 "items_T0": len(t0_model.items), "items_T1": len(full.items)},
        "options": asdict(options),
        "resume_schedule": asdict(schedule),
        "resume_schedule_choice": "ResumeOptions defaults, chosen before this run by "
                                  "`--tune` on validation only (results/refresh_tuning.json)",
        "machine": machine,
        "t0_checkpoint": {"seconds": round(t0_seconds, 2), "version": t0_model.version,
                          "best_epoch": t0_model.meta["training"]["best_epoch"],
                          "test_on_T1_without_refresh": stale},
        "resume": {"seconds": round(resume_s, 2), "test_on_T1": resumed_test,
                   "best_epoch": resumed.meta["training"]["best_epoch"],
                   "epochs_run": resumed.meta["training"]["epochs_run"],
                   "best_valid": resumed.meta["training"]["best_valid"],
                   **{k: resumed.meta["resume"][k] for k in (
                       "new_items", "old_items", "users_with_new_events",
                       "sequences_trained")},
                   "resumed_from": resumed.meta["resumed_from"]},
        "full_retrain": {"seconds": round(full_s, 2), "test_on_T1": full_test,
                         "best_epoch": full.meta["training"]["best_epoch"],
                         "epochs_run": full.meta["training"]["epochs_run"],
                         "best_valid": full.meta["training"]["best_valid"]},
        "ratios": {"ndcg10_resume_over_full": round(ndcg_ratio, 4),
                   "hr10_resume_over_full": round(
                       resumed_test["test_filtered"]["HR@10"]
                       / max(full_test["test_filtered"]["HR@10"], 1e-12), 4),
                   "time_resume_over_full": round(time_ratio, 4)},
        "criterion": {"ndcg10_ratio_min": NDCG_RATIO_MIN, "time_ratio_max": TIME_RATIO_MAX,
                      "metric": "test_filtered NDCG@10 (history masked, full ranking)",
                      "ndcg_ok": ndcg_ratio >= NDCG_RATIO_MIN,
                      "time_ok": time_ratio <= TIME_RATIO_MAX,
                      "passed": ndcg_ratio >= NDCG_RATIO_MIN and time_ratio <= TIME_RATIO_MAX},
        "cost": {"peak_rss_mib": round(peak_rss_mib(), 1),
                 "load_average_at_end": list(os.getloadavg())},
    }


def over_seeds(data: Path, cut: str, n_seeds: int) -> dict[str, Any]:
    """The protocol once per seed (T0 model, resume and full retrain all take the seed).

    Added after two single runs (``refresh.json``) showed the verdict of one run is decided by
    noise on this data: a full retrain early-stopped at its first epoch in one of them. The
    criterion is unchanged and applies to the means over seeds; nothing is chosen here.
    """
    runs = [run(data, cut, NextItemOptions(progress=False, seed=seed),
                ResumeOptions(progress=False, seed=seed)) for seed in range(n_seeds)]
    ndcg = {k: [r[k]["test_on_T1"]["test_filtered"]["NDCG@10"] for r in runs]
            for k in ("resume", "full_retrain")}
    secs = {k: [r[k]["seconds"] for r in runs] for k in ("resume", "full_retrain")}
    stale = [r["t0_checkpoint"]["test_on_T1_without_refresh"]["test_filtered"]["NDCG@10"]
             for r in runs]
    ndcg_ratio = statistics.mean(ndcg["resume"]) / statistics.mean(ndcg["full_retrain"])
    time_ratio = statistics.mean(secs["resume"]) / statistics.mean(secs["full_retrain"])
    per_seed = [{"seed": n, **{f"{k}_ndcg10": ndcg[k][n] for k in ndcg},
                 **{f"{k}_seconds": secs[k][n] for k in secs},
                 "t0_without_refresh_ndcg10": stale[n],
                 "full_retrain_epochs": runs[n]["full_retrain"]["epochs_run"],
                 "resume_epochs": runs[n]["resume"]["epochs_run"], **runs[n]["ratios"]}
                for n in range(n_seeds)]
    return {"benchmark": "next-item refresh over seeds", "protocol": over_seeds.__doc__,
            "single_run_protocol": runs[0]["protocol"], "data": runs[0]["data"],
            "options": runs[0]["options"], "resume_schedule": runs[0]["resume_schedule"],
            "machine": runs[0]["machine"], "per_seed": per_seed,
            "means": {"resume_ndcg10": statistics.mean(ndcg["resume"]),
                      "full_retrain_ndcg10": statistics.mean(ndcg["full_retrain"]),
                      "t0_without_refresh_ndcg10": statistics.mean(stale),
                      "resume_seconds": statistics.mean(secs["resume"]),
                      "full_retrain_seconds": statistics.mean(secs["full_retrain"])},
            "ratios": {"ndcg10_resume_over_full": round(ndcg_ratio, 4),
                       "time_resume_over_full": round(time_ratio, 4),
                       "ndcg10_ratio_per_seed_min_max": [
                           min(p["ndcg10_resume_over_full"] for p in per_seed),
                           max(p["ndcg10_resume_over_full"] for p in per_seed)]},
            "criterion": {"ndcg10_ratio_min": NDCG_RATIO_MIN, "time_ratio_max": TIME_RATIO_MAX,
                          "on": "means over seeds",
                          "passed": ndcg_ratio >= NDCG_RATIO_MIN and time_ratio <= TIME_RATIO_MAX},
            "cost": {"peak_rss_mib": round(peak_rss_mib(), 1)}}


def earlier_runs(path: Path) -> list[dict[str, Any]]:
    """The runs recorded in the report about to be replaced (a miss stays on the record)."""
    if not path.exists():
        return []
    old = json.loads(path.read_text())
    summary = {k: old.get(k) for k in ("resume_schedule", "ratios", "criterion")}
    summary["date"] = old.get("date") or old.get("machine", {}).get("date")
    summary["seconds"] = {k: old.get(k, {}).get("seconds") for k in ("resume", "full_retrain")}
    return [*old.get("earlier_runs", []), summary]


def main() -> None:
    """Parse arguments, run, write the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else "")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--cut", default="2014-01-01", help="T0 (UTC date or datetime)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "benchmarks/results/refresh.json")
    parser.add_argument("--seeds", type=int, default=0,
                        help="run the protocol once per seed 0..N-1 (writes refresh_seeds.json)")
    parser.add_argument("--tune", action="store_true",
                        help="validation-only schedule choice (writes refresh_tuning.json)")
    args = parser.parse_args()
    setup_logging()
    data = find_data(args.data, DATA_REL, "Amazon Musical Instruments 2014")
    if args.tune:
        grid = [ResumeOptions(max_epochs=e, patience=1, replay_fraction=r, lr_mult=lr,
                              batch_size=b, progress=False)
                for e in (1, 2, 3) for r in (0.5, 1.0) for lr in (1.0, 2.0) for b in (None, 256)]
        tuning = tune(data, args.cut, NextItemOptions(progress=False), grid)
        write_report(args.out.with_name("refresh_tuning.json"), tuning)
        logger.info("chosen schedule %s", tuning["chosen"])
        return
    if args.seeds:
        out = args.out.with_name("refresh_seeds.json")
        write_report(out, over_seeds(data, args.cut, args.seeds))
        logger.info("wrote %s", out)
        return
    report = run(data, args.cut, NextItemOptions(progress=False),
                 ResumeOptions(progress=False))
    report["earlier_runs"] = earlier_runs(args.out)
    write_report(args.out, report)
    logger.info("ratios %s; passed %s; wrote %s", report["ratios"],
                report["criterion"]["passed"], args.out)


if __name__ == "__main__":
    main()
