"""Embedded LLM speed on this CPU: time to first token and generation tokens per second.

Starts the embedded backend (llama-cpp-python server, Qwen2.5-Coder-1.5B-Instruct Q4_K_M) as
the app does, sends a short chat prompt with streaming, and times the first content token and
the rest. One warm-up request, then `--runs` measured ones (medians reported). Also records
the server start-up time (model already assembled) and a non-streamed request's token usage.

    python benchmarks/llm_embedded.py [--runs 3] [--max-tokens 128]
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import openai

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from assistant.llm.backends import EmbeddedBackend  # noqa: E402
from assistant.llm.server import default_threads  # noqa: E402
from benchmarks.machine import describe_machine, write_report  # noqa: E402
from core.settings import get_settings  # noqa: E402

log = logging.getLogger("benchmarks.llm_embedded")
RESULTS = Path(__file__).resolve().parent / "results"
# Distinct questions, so that llama.cpp's prompt cache cannot answer a run from the previous one
# (only the chat template's shared system prefix is reused, as in the app).
PROMPTS = [
    "In about 80 words, explain why guitar strings go out of tune.",
    "In about 80 words, explain how to choose a microphone for a small home studio.",
    "In about 80 words, explain what a capo does and when to use one.",
    "In about 80 words, explain why customers leave reviews for gift cards.",
    "In about 80 words, explain what makes a good beginner keyboard.",
]


def stream_once(
    client: openai.OpenAI, model: str, prompt: str, max_tokens: int, seed: int
) -> dict[str, Any]:
    """One streamed chat request: TTFT, content tokens, decode tokens/s."""
    started = time.perf_counter()
    first: float | None = None
    last = started
    tokens = 0
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        stream=True,
        temperature=0,
        seed=seed,
        max_tokens=max_tokens,
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            now = time.perf_counter()
            first = first or now
            last = now
            tokens += 1
    if first is None:
        raise RuntimeError("the server streamed no content")
    decode_s = last - first
    return {
        "ttft_s": first - started,
        "tokens": tokens,
        "total_s": last - started,
        "decode_tokens_per_s": (tokens - 1) / decode_s if decode_s > 0 else 0.0,
    }


def main() -> None:
    """Start the server, measure, write the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--out", type=Path, default=RESULTS / "llm_embedded.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    settings = get_settings().llm
    backend = EmbeddedBackend(settings)
    started = time.perf_counter()
    with backend:
        startup_s = time.perf_counter() - started
        client = openai.OpenAI(base_url=backend.base_url, api_key="not-needed", timeout=600)
        cold = stream_once(client, backend.model, PROMPTS[0], 16, settings.seed)
        runs = [
            stream_once(
                client,
                backend.model,
                PROMPTS[1 + i % (len(PROMPTS) - 2)],
                args.max_tokens,
                settings.seed,
            )
            for i in range(args.runs)
        ]
        plain_started = time.perf_counter()
        plain = client.chat.completions.create(
            model=backend.model,
            messages=[{"role": "user", "content": PROMPTS[-1]}],
            temperature=0,
            seed=settings.seed,
            max_tokens=args.max_tokens,
        )
        plain_s = time.perf_counter() - plain_started
    usage = plain.usage
    report = {
        "benchmark": "llm_embedded",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": describe_machine(),
        "input": {
            "model": "Qwen2.5-Coder-1.5B-Instruct Q4_K_M (GGUF)",
            "server": "llama-cpp-python[server] 0.3.36, CPU",
            "n_threads": settings.embedded.n_threads or default_threads(),
            "n_ctx": settings.embedded.n_ctx,
            "prompts": PROMPTS,
            "max_tokens": args.max_tokens,
            "temperature": 0,
            "runs": args.runs,
        },
        "result": {
            "server_startup_s": round(startup_s, 2),
            "first_request_ttft_s": round(cold["ttft_s"], 3),
            "ttft_s_median": round(statistics.median(r["ttft_s"] for r in runs), 3),
            "decode_tokens_per_s_median": round(
                statistics.median(r["decode_tokens_per_s"] for r in runs), 2
            ),
            "end_to_end_tokens_per_s_median": round(
                statistics.median(r["tokens"] / r["total_s"] for r in runs), 2
            ),
            "runs": [
                {k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in runs
            ],
            "non_streamed": {
                "seconds": round(plain_s, 2),
                "prompt_tokens": usage.prompt_tokens if usage else None,
                "completion_tokens": usage.completion_tokens if usage else None,
            },
        },
        "note": "Shared 2-core machine: other jobs may have been running; figures are a "
        "lower bound of what a dedicated core pair gives.",
    }
    write_report(args.out, report)
    log.info(
        "TTFT %.2fs, decode %.1f tok/s (startup %.1fs)",
        report["result"]["ttft_s_median"],
        report["result"]["decode_tokens_per_s_median"],
        startup_s,
    )


if __name__ == "__main__":
    main()
