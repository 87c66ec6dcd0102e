"""Put the real `ask` tool through the operator question set and score it strictly.

`benchmarks/operator_questions/questions.jsonl` (splits dev and test) and
`questions_dev2.jsonl` (split dev2) hold what operators type, with gold answers computed from
the raw shared files; `strict.py` scores a *structured* answer record. This
module is the runner between them:

* `answer_record` (in `answer_record.py`) turns an `AskResult` into that record from the
  answer's own figures only.
* `run_operator_eval` asks every question (as written, without adding the source) in each
  mode (see `MODES`), times it, and scores
  it strictly and with the old lenient rule; a dialogue asks turn 1, then turn 2 with turn 1's
  plan (the chat's follow-up path); the timing covers both turns.
* `build_operator_workspace` / `check_operator_workspace` make sure the workspace holds
  exactly the three raw files the gold was computed from, under their source names.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import platform
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from assistant.evaluation.answer_record import answer_record, asked_text, wanted_n
from assistant.evaluation.metrics import percentile, ratio
from assistant.evaluation.strict import (
    SPLITS,
    StrictVerdict,
    lenient_score,
    load_questions,
    score_answer,
    summarize,
)
from assistant.evaluation.workspace import SHARED_SOURCES
from assistant.llm.backends import LLMBackend
from assistant.tools.ask import AskResult, ask
from assistant.tools.profile import data_profile
from core.errors import InputError
from store.ingest import ingest
from store.rawio import file_sha256
from store.workspace import Workspace

log = logging.getLogger(__name__)
__all__ = ["answer_record", "check_operator_workspace", "evaluate_operators", "run_operator_eval",
           "wanted_n"]

OPERATOR_SOURCES = ("taobao", "rees46", "musical_instruments")
"""The sources the question set is about (their source-less questions assume only these)."""
MODES = ("rules", "llm", "llm-always")
"""rules: code alone; llm: as shipped (the LLM plans what code cannot read with certainty);
llm-always: the LLM drafts every plan (what the model itself adds)."""
DIALOGUE_NOTE = ("dialogues: turn 1 is asked first (same mode) and turn 2 with turn 1's plan as "
                 "`previous_plan`, as the chat does; only turn 2 is scored")


# --- the workspace ---------------------------------------------------------------------------

def _operator_files(shared: Path) -> dict[str, tuple[str, Path]]:
    return {source: (kind, shared / relative) for kind, relative, source in SHARED_SOURCES
            if source in OPERATOR_SOURCES}


def build_operator_workspace(root: Path, shared: Path) -> dict[str, Any]:
    """Ingest only the three raw files the gold reads into `root` (a no-op when present)."""
    for source, (kind, path) in _operator_files(shared).items():
        if not path.exists():
            raise InputError(f"shared dataset missing: {path}")
        result = ingest(kind, path, root, source=source, progress=False)
        log.info("%s: %s", source, "unchanged" if result.skipped else result.rows)
    return check_operator_workspace(root, shared)


def check_operator_workspace(root: Path, shared: Path | None) -> dict[str, Any]:
    """The workspace's provenance for the report; with `shared`, an `InputError` unless each
    question source holds exactly the raw file the gold was computed from (same sha256)."""
    sources = Workspace.open(root).sources
    missing = [s for s in OPERATOR_SOURCES if s not in sources]
    if missing:
        raise InputError(f"{root} lacks the sources {missing}; build it with --build")
    files = {s: [{"path": f["path"], "sha256": f["sha256"]} for f in sources[s]["files"]]
             for s in OPERATOR_SOURCES}
    if shared is not None:
        for source, (_, path) in _operator_files(shared).items():
            want = file_sha256(path)
            if [f["sha256"] for f in files[source]] != [want]:
                raise InputError(f"source {source} in {root} does not hold exactly {path} "
                                 "(the file the gold was computed from)")
    extra = sorted(set(sources) - set(OPERATOR_SOURCES))
    return {"path": str(root), "files": files, "other_sources": extra,
            "verified_against": str(shared) if shared is not None else None}


# --- the run ---------------------------------------------------------------------------------

def _llm_called(result: AskResult) -> bool:
    return any(s.title == "plan with LLM" and s.status != "skipped" for s in result.run.steps)


def _plan_valid(result: AskResult) -> bool:
    """The LLM's draft parsed and validated into a plan (or was an honest "unsupported")."""
    return result.draft is not None and not any(
        s.title == "validate plan" and s.status == "error" for s in result.run.steps)


def _verdict_dict(verdict: StrictVerdict) -> dict[str, Any]:
    return {"correct": verdict.correct, "reason": verdict.reason, "checks": verdict.checks}


def evaluate_one(question: Mapping[str, Any], con: Any, backend: LLMBackend | None,
                 profile: Any, with_source_form: bool = False, shortcut: bool = True
                 ) -> dict[str, Any]:
    """Ask one question, convert and score the answer; an exception is recorded, not raised."""
    text = asked_text(question)
    started = time.perf_counter()
    try:
        previous = None
        if question.get("turns"):
            previous = ask(str(question["turns"][0]), con, backend, profile=profile,
                           shortcut=shortcut).plan
        result = ask(text, con, backend, profile=profile, previous_plan=previous,
                     shortcut=shortcut)
    except Exception as exc:  # one broken answer must not end a 40-minute run
        log.exception("ask failed on %s", question.get("id"))
        seconds = round(time.perf_counter() - started, 3)
        record = {"refused": False, "fallback": False, "flags_doubt": False, "text": ""}
        verdict = score_answer(question, record)
        return {**_header(question, text), "seconds": seconds, "error": repr(exc)[:300],
                "answer": "", "record": record, "strict": _verdict_dict(verdict),
                "lenient": False, "_verdict": verdict, "llm_called": backend is not None,
                "plan_valid": False}
    seconds = round(time.perf_counter() - started, 3)
    record = answer_record(result, question)
    verdict = score_answer(question, record)
    out = {**_header(question, text), "seconds": seconds, "answer": result.answer,
           "record": record, "strict": _verdict_dict(verdict),
           "lenient": lenient_score(question, record), "_verdict": verdict,
           "answerable": result.answerable, "refusal_reason": result.reason,
           "plan_source": result.plan_source, "plan": result.plan, "draft": result.draft,
           "overrides": result.overrides, "rows": result.rows[:10],
           "llm_called": _llm_called(result), "plan_valid": _plan_valid(result)}
    if record["fallback"]:
        out["correct_if_not_fallback"] = score_answer(
            question, {**record, "fallback": False}).correct
    if with_source_form and question.get("source"):
        form = f"In the {question['source']} data: {text}"
        other = answer_record(ask(form, con, backend, profile=profile), question)
        out["source_form"] = {"text": form, "record": other,
                              "strict": _verdict_dict(score_answer(question, other))}
    return out


def _header(question: Mapping[str, Any], text: str) -> dict[str, Any]:
    return {"id": question["id"], "kind": question["kind"], "hard_kind": question.get("hard_kind"),
            "source": question.get("source"), "asked": text, "turns": question.get("turns"),
            "gold": question.get("gold")}


def _per_kind(records: Sequence[dict[str, Any]], key: str) -> dict[str, Any]:
    table: dict[str, list[int]] = {}
    for r in records:
        entry = table.setdefault(r["kind"], [0, 0])
        entry[0] += 1
        entry[1] += bool(r["strict"]["correct"] if key == "strict" else r["lenient"])
    return {k: {"n": n, "correct": c, "accuracy": ratio(c, n)} for k, (n, c) in
            sorted(table.items())}


def summarize_mode(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Headline figures of one mode: strict `summarize`, lenient accuracy, per kind, timing,
    plan validity (valid LLM drafts / LLM calls), wrong-without-doubt and fallback rates."""
    verdicts = [r["_verdict"] for r in records]
    strict = summarize(verdicts)
    n = len(records)
    called = [r for r in records if r.get("llm_called")]
    seconds = [r["seconds"] for r in records]
    forms = [r["source_form"]["strict"]["correct"] for r in records if "source_form" in r]
    fallbacks = [r for r in records if r["record"].get("fallback")]
    return {
        "n": n,
        "strict_accuracy": strict["accuracy"],
        "lenient_accuracy": ratio(sum(bool(r["lenient"]) for r in records), n),
        "strict_per_kind": {k: v["accuracy"] for k, v in strict["per_kind"].items()},
        "lenient_per_kind": {k: v["accuracy"] for k, v in _per_kind(records, "lenient").items()},
        "wrong_without_doubt_rate": strict["confidently_wrong_rate"],
        "plan_validity": ratio(sum(r["plan_valid"] for r in called), len(called)),
        "llm_calls": len(called),
        "planned_share": ratio(sum(bool(r.get("plan")) for r in records), n),
        "fallbacks": len(fallbacks),
        "fallbacks_right_but_for_the_flag": sum(bool(r.get("correct_if_not_fallback"))
                                                for r in fallbacks),
        "errors": sum("error" in r for r in records),
        "seconds_median": percentile(seconds, 50), "seconds_p95": percentile(seconds, 95),
        "seconds_total": round(sum(seconds), 1),
        "with_source_form_strict_accuracy": ratio(sum(forms), len(forms)) if forms else None,
        "strict": strict,
    }


def run_operator_eval(workspace: Path, questions: Sequence[Mapping[str, Any]] | None = None,
                      backend_factory: Callable[[], LLMBackend] | None = None,
                      modes: Iterable[str] = MODES, split: str | None = "dev",
                      progress: bool = False, out: Path | None = None,
                      shared: Path | None = None,
                      source_form_modes: Iterable[str] = ("rules",)) -> dict[str, Any]:
    """Run every question of `split` in each mode and return the JSON-able report.

    `questions` default to the question set (filtered by `split`; None keeps all). The `llm`
    mode needs `backend_factory` (called once; the backend is closed at the end). `out`, when
    given, receives the report after each mode and every 10 questions (`partial: true` until
    the end). `shared` verifies the workspace against the raw files (see
    `check_operator_workspace`). Modes in `source_form_modes` also ask each question with a
    source in the held-out form "In the SOURCE data: …" and score it separately.
    """
    modes = tuple(modes)
    unknown = [m for m in modes if m not in MODES]
    if unknown or (any(m.startswith("llm") for m in modes) and backend_factory is None):
        raise InputError(f"modes must be among {MODES} and llm needs a backend; got {modes}")
    pool = list(questions) if questions is not None else load_questions(split=split)
    if split is not None:
        pool = [q for q in pool if q.get("split", split) == split]
    report: dict[str, Any] = {
        "benchmark": "operator_eval", "date": dt.datetime.now(dt.UTC).isoformat(
            timespec="seconds"), "partial": True, "split": split, "n_questions": len(pool),
        "workspace": check_operator_workspace(workspace, shared), "asked_as": "as written",
        "dialogues": DIALOGUE_NOTE, "modes": {}, "records": {}}
    con = Workspace.open(workspace).connect()
    try:
        profile = data_profile(con)
        for mode in modes:
            backend = (backend_factory() if mode.startswith("llm") and backend_factory
                       else None)
            if backend is not None:  # started here, so no answer's time includes the start
                begin = time.perf_counter()
                getattr(backend, "start", lambda: None)()
                report["model"] = {"name": backend.model, "backend": backend.name,
                                   "start_s": round(time.perf_counter() - begin, 1)}
            records: list[dict[str, Any]] = []
            try:
                for i, q in enumerate(tqdm(pool, desc=mode, disable=not progress), start=1):
                    records.append(evaluate_one(q, con, backend, profile,
                                                mode in source_form_modes,
                                                shortcut=mode != "llm-always"))
                    if out is not None and i % 10 == 0:
                        _store(report, mode, records, out)
            finally:
                if backend is not None:
                    backend.close()
            _store(report, mode, records, out)
    finally:
        con.close()
    report["partial"] = False
    report["machine"] = {"python": platform.python_version(), "logical_cores": os.cpu_count(),
                         "load_average_at_end": [round(x, 2) for x in os.getloadavg()]}
    if out is not None:
        write_report(report, out)
    return report


def _store(report: dict[str, Any], mode: str, records: list[dict[str, Any]],
           out: Path | None) -> None:
    report["modes"][mode] = summarize_mode(records)
    report["records"][mode] = [{k: v for k, v in r.items() if k != "_verdict"} for r in records]
    if out is not None:
        write_report(report, out)


def write_report(report: Mapping[str, Any], out: Path) -> None:
    """Write the report as JSON (atomically: a reader never sees half a file)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(out.suffix + ".tmp")
    tmp.write_text(json.dumps(report, indent=1, default=str))
    tmp.replace(out)


# --- the one entry point of the CLI and the benchmark script ---------------------------------

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS = REPO_ROOT / "benchmarks" / "results"


def find_shared_data(explicit: Path | None = None) -> Path:
    """The shared data folder: explicit, $INSIGHT_SHARED_DATA, or `../shared/data` beside the
    repository (where `benchmarks/operator_questions/raw.py` reads the gold's raw files)."""
    env = os.environ.get("INSIGHT_SHARED_DATA")
    candidates = [explicit] if explicit else [Path(env)] if env else []
    candidates += [REPO_ROOT.parent / "shared" / "data", REPO_ROOT / "shared" / "data"]
    for path in candidates:
        if path is not None and all(p.exists() for _, p in _operator_files(path).values()):
            return path
    raise InputError(f"shared data not found in {[str(c) for c in candidates]}")


def evaluate_operators(workspace: Path, split: str = "dev", mode: str = "both",
                       limit: int | None = None, out: Path | None = None, build: bool = False,
                       shared: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """`insight eval-operators` and `benchmarks/operator_eval.py`: (build and) verify the
    workspace, run `mode` (rules | llm | both) on `split` (optionally the first `limit`
    questions: a partial report) and write `out` (default
    `benchmarks/results/operator_eval_<split>.json`). The LLM is the configured backend."""
    from assistant.llm.backends import create_backend
    from assistant.llm.server import default_threads
    from core.settings import get_settings

    modes = {"rules": ("rules",), "llm": ("llm",), "llm-always": ("llm-always",),
             "both": ("rules", "llm"), "all": MODES}.get(mode)
    if modes is None:
        raise InputError(f"--mode must be rules, llm, llm-always, both or all, not {mode!r}")
    if split not in SPLITS:
        raise InputError(f"--split must be one of {', '.join(SPLITS)}, not {split!r}")
    folder = find_shared_data(shared)
    if build:
        build_operator_workspace(workspace, folder)
    questions = load_questions(split=split)[:limit]
    out = out or RESULTS / f"operator_eval_{split}.json"
    llm = get_settings().llm
    report = run_operator_eval(workspace, questions,
                               lambda: create_backend(llm, progress=progress), modes, split,
                               progress=progress, out=out, shared=folder)
    report["report_path"] = str(out)
    if limit is not None:
        report["limited_to"] = limit
    if any(m.startswith("llm") for m in modes):
        threads = llm.embedded.n_threads or default_threads()
        report["llm_settings"] = {"backend": llm.backend, "temperature": llm.temperature,
                                  "seed": llm.seed, "max_tokens": llm.max_tokens,
                                  "embedded_threads": threads}
    write_report(report, out)
    return report
