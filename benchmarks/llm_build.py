"""llama.cpp builds compared on this CPU: prompt and generation tokens per second.

Each build is a llama-cpp-python installation (a `pip install --target` folder, or the project
venv's own) and, for a portable build, a CPU backend variant. Every configuration runs in its
own child process (a host-only build may crash on the first matrix product: that is recorded
as a crash with its signal, not a number). The child loads the embedded model (Qwen2.5-Coder-
1.5B Q4_K_M), then per run: clears the context, evaluates a ~300-token prompt and generates 64
tokens greedily; llama.cpp's own perf counters give the prompt and generation rates. Each child
reports the median of `--runs` runs after one warm-up; the builds are measured in interleaved
`--rounds` and the report gives the median over rounds.

    python benchmarks/llm_build.py --build portable= --build native=/tmp/site-native \
        [--variant portable=auto] [--threads 2] [--runs 3]

(`NAME=` with no folder is the project venv's own llama-cpp-python.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.machine import describe_machine, write_report  # noqa: E402

log = logging.getLogger("benchmarks.llm_build")
RESULTS = Path(__file__).resolve().parent / "results"
PROMPT = ("A shopper browses guitar strings, tuners and a capo, adds two of them to the cart, "
          "reads reviews about tuning stability, then buys the strings a day later. ") * 8
GENERATE = 64


def _child(model: str, variant: str, threads: int, runs: int) -> dict[str, Any]:
    """Runs inside the child: load the variant (portable builds) and the model, then measure."""
    import llama_cpp
    from llama_cpp import Llama

    from assistant.llm import cpu_backend

    chosen = None
    if cpu_backend.variants_dir() is not None:
        chosen = cpu_backend.prepare(Path(model), variant).name
    llm = Llama(model, n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False,
                seed=1)
    tokens = llm.tokenize(PROMPT.encode())
    measured = []
    for _ in range(runs + 1):  # the first run warms caches and is dropped
        llm.reset()
        llama_cpp.llama_perf_context_reset(llm.ctx)
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
        llm.eval(tokens)
        for _step in range(GENERATE):
            token = llm.sample(temp=0.0)
            llm.eval([token])
        perf = llama_cpp.llama_perf_context(llm.ctx)
        measured.append({"prompt_tokens": perf.n_p_eval, "prompt_ms": perf.t_p_eval_ms,
                         "generated_tokens": perf.n_eval, "generate_ms": perf.t_eval_ms})
    measured = measured[1:]
    return {
        "variant": chosen,
        "llama_cpp_python": llama_cpp.__version__,
        "prompt_tokens_per_s": round(statistics.median(
            r["prompt_tokens"] / r["prompt_ms"] * 1000 for r in measured), 2),
        "generation_tokens_per_s": round(statistics.median(
            r["generated_tokens"] / r["generate_ms"] * 1000 for r in measured), 2),
        "runs": measured,
    }


def measure(site: str, variant: str, model: Path, threads: int, runs: int) -> dict[str, Any]:
    """One configuration in a child process; a crash is reported with its signal."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (site, root) if p)
    command = [sys.executable, __file__, "--child", str(model), variant, str(threads), str(runs)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False,
                          timeout=1800)
    if done.returncode != 0:
        crash = (signal.Signals(-done.returncode).name if done.returncode < 0
                 else f"exit {done.returncode}")
        return {"ok": False, "crash": crash, "stderr_tail": done.stderr[-600:]}
    return {"ok": True, **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    """Measure every `--build`, print a table and write benchmarks/results/llm_build.json."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--build", action="append", required=True,
                        help="NAME=SITE_DIR (empty SITE_DIR: the venv's own llama-cpp-python)")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME=VARIANT for a portable build (default auto)")
    parser.add_argument("--describe", action="append", default=[],
                        help="NAME=how the build was made (CMAKE_ARGS), for the report")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=2, help="measured runs per child")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    parser.add_argument("--out", type=Path, default=RESULTS / "llm_build.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from assistant.llm.model_file import ensure_model
    from core.settings import Settings

    cfg = Settings().llm.embedded
    model = ensure_model(cfg.model_path, cfg.model_sha256, cfg.parts_prefix, cfg.parts_count,
                         progress=False)
    variants = dict(v.split("=", 1) for v in args.variant)
    described = dict(d.split("=", 1) for d in args.describe)
    results: dict[str, dict[str, Any]] = {}
    load_before = os.getloadavg()
    # Rounds interleave the builds (A B C, A B C, …) so that other load on the machine falls on
    # all of them alike; the figures are medians over rounds.
    for round_index in range(args.rounds):
        for spec in args.build:
            name, _, site = spec.partition("=")
            log.info("round %d: %s (%s)…", round_index + 1, name, site or "project venv")
            row = measure(site, variants.get(name, "auto"), model, args.threads, args.runs)
            entry = results.setdefault(name, {"site": site or "project venv",
                                              "cmake_args": described.get(name), "rounds": []})
            entry["rounds"].append(row)
            log.info("  %s", f"prompt {row['prompt_tokens_per_s']} tok/s, generation "
                     f"{row['generation_tokens_per_s']} tok/s, variant {row['variant']}"
                     if row["ok"] else f"crashed: {row['crash']}")
    for entry in results.values():
        done = [r for r in entry["rounds"] if r["ok"]]
        entry["ok"] = len(done) == len(entry["rounds"])
        entry["crash"] = next((r["crash"] for r in entry["rounds"] if not r["ok"]), None)
        entry["variant"] = done[0]["variant"] if done else None
        for key in ("prompt_tokens_per_s", "generation_tokens_per_s"):
            entry[key] = round(statistics.median(r[key] for r in done), 2) if done else None
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    report = {
        "benchmark": "llm_build",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {**describe_machine(), "amx": " amx_tile " in f" {cpuinfo} ",
                    "avx512f": " avx512f " in f" {cpuinfo} "},
        "input": {"model": "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (GGUF)", "threads": args.threads,
                  "prompt_tokens_approx": 300, "generated_tokens": GENERATE, "runs": args.runs,
                  "rounds": args.rounds,
                  "sampling": "greedy"},
        "load_average_1m": {"before": round(load_before[0], 2),
                            "after": round(os.getloadavg()[0], 2)},
        "builds": results,
    }
    write_report(args.out, report)
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))))
    else:
        main()
