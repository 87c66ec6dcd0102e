"""The operator question set (issue 13) put to the real `ask` tool, scored strictly.

A thin wrapper around `assistant.evaluation.operator_eval.evaluate_operators`, the same function
`insight eval-operators` calls. Run from the repository root::

    .venv/bin/python benchmarks/operator_eval.py --workspace /tmp/opeval_ws --build --mode rules
    .venv/bin/python benchmarks/operator_eval.py --workspace /tmp/opeval_ws --mode llm

Writes ``benchmarks/results/operator_eval_<split>.json``. Report the test split once only.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run as a script: the repository's packages

from assistant.evaluation.operator_eval import evaluate_operators  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, run the evaluation, print the headline figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--split", default="dev", choices=("dev", "test"))
    parser.add_argument("--mode", default="both",
                        choices=("rules", "llm", "llm-always", "both", "all"))
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--build", action="store_true", help="ingest the three raw files first")
    parser.add_argument("--shared", type=Path, default=None, help="the shared data folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    report = evaluate_operators(args.workspace, args.split, args.mode, args.limit, args.out,
                                args.build, args.shared, progress=sys.stderr.isatty())
    heads = {m: {k: v for k, v in s.items() if k != "strict"} for m, s in report["modes"].items()}
    print(json.dumps(heads, indent=2))
    print(f"report written to {report['report_path']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
