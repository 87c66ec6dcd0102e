"""`insight doctor`: checks that this installation can do its work, each with a clear verdict.

Every check is a small function returning a `CheckResult` (OK, FAIL or SKIP, one-line detail,
seconds taken, and machine-readable `data`). `run_checks` runs the chosen ones in order and
never raises: an unexpected exception inside a check becomes that check's FAIL. The checks:
interpreter and key package versions against `requirements/lock.txt`, torch's device, the
embedded model file, the embedded LLM (see `insight.doctor_llm`), the offline embedding model,
the Chroma store (and server), the workspace, and chromium for the browser tests.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

from core.settings import Settings

log = logging.getLogger(__name__)

Status = Literal["OK", "FAIL", "SKIP"]

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCK = REPO_ROOT / "requirements" / "lock.txt"
KEY_PACKAGES = ("torch", "duckdb", "pandas", "pyarrow", "chromadb", "sentence-transformers",
                "transformers", "gradio", "langchain", "openai", "llama-cpp-python", "pydantic",
                "typer", "fastapi", "uvicorn")
CHROMIUM_PATHS = ("/usr/bin/chromium",)
EMBEDDING_DIMENSION = 384
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_LOCK_PYTHON = re.compile(r"pip-compile with Python (\d+)\.(\d+)")


@dataclass
class CheckResult:
    """The verdict of one check."""

    check: str
    status: Status
    detail: str
    seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        """Whether this check failed."""
        return self.status == "FAIL"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (check, status, detail, seconds, data)."""
        return asdict(self)


@dataclass
class DoctorOptions:
    """What to check, and where."""

    settings: Settings
    workspace: Path
    lock: Path | None = None
    skip_llm: bool = False
    browser: bool = False
    llm_timeout_s: float = 120.0


def canonical_name(name: str) -> str:
    """PEP 503 normalised distribution name (`Llama_CPP.python` → `llama-cpp-python`)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> dict[str, str]:
    """Pinned versions of a pip-compile lock file: canonical name → version (`2.13.0+cpu`)."""
    pins: dict[str, str] = {}
    for line in text.splitlines():
        match = _PIN.match(line)
        if match:
            pins[canonical_name(match.group(1))] = match.group(2)
    return pins


def lock_python(text: str) -> tuple[int, int] | None:
    """The Python (major, minor) a pip-compile lock was generated with, from its header."""
    match = _LOCK_PYTHON.search(text)
    return (int(match.group(1)), int(match.group(2))) if match else None


def find_lock(explicit: Path | None = None) -> Path | None:
    """The lock file to compare against: `explicit`, else the checkout's (source tree or the
    working directory, as in the Docker image, where the package is installed non-editable)."""
    if explicit is not None:
        return explicit
    for candidate in (DEFAULT_LOCK, Path.cwd() / "requirements" / "lock.txt"):
        if candidate.is_file():
            return candidate
    return None


def installed_version(name: str) -> str | None:
    """The installed version of a distribution, or None when it is not installed."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def versions_match(installed: str, pinned: str) -> bool:
    """Whether two version strings name the same release, local label included."""
    from packaging.version import InvalidVersion, Version

    try:
        return Version(installed) == Version(pinned)
    except InvalidVersion:
        return installed == pinned


def _read_lock(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    return path.read_text(encoding="utf-8")


def check_python(lock: Path | None) -> CheckResult:
    """The interpreter's version, and the Python the lock was compiled for."""
    running = sys.version_info[:2]
    version = ".".join(str(p) for p in sys.version_info[:3])
    data: dict[str, Any] = {"version": version, "executable": sys.executable}
    text = _read_lock(lock)
    wanted = lock_python(text) if text else None
    if wanted is None:
        return CheckResult("python", "OK", f"{version} ({sys.executable}); no lock header "
                           "to compare with", data=data)
    data["lock_python"] = f"{wanted[0]}.{wanted[1]}"
    if running != wanted:
        return CheckResult("python", "FAIL", f"Python {version} is running, the lock {lock} "
                           f"is for Python {wanted[0]}.{wanted[1]}", data=data)
    return CheckResult("python", "OK", f"{version} ({sys.executable}), as the lock", data=data)


def check_packages(lock: Path | None, packages: tuple[str, ...] = KEY_PACKAGES) -> CheckResult:
    """Installed versions of the key packages against the lock's pins."""
    text = _read_lock(lock)
    if text is None:
        where = f"{lock} does not exist" if lock else f"no lock file at {DEFAULT_LOCK}"
        return CheckResult("packages", "SKIP", f"{where}; pass --lock PATH")
    pins = parse_lock(text)
    versions: dict[str, dict[str, str | None]] = {}
    problems: list[str] = []
    for name in packages:
        pinned = pins.get(canonical_name(name))
        installed = installed_version(name)
        versions[name] = {"installed": installed, "lock": pinned}
        if pinned is None:
            problems.append(f"{name} is not pinned in the lock")
        elif installed is None:
            problems.append(f"{name} is not installed (lock pins {pinned})")
        elif not versions_match(installed, pinned):
            problems.append(f"{name} {installed} is installed, the lock pins {pinned}")
    data = {"lock": str(lock), "versions": versions}
    if problems:
        return CheckResult("packages", "FAIL", "; ".join(problems), data=data)
    return CheckResult("packages", "OK", f"{len(packages)} key packages match {lock}",
                       data=data)


def check_torch() -> CheckResult:
    """Which device torch computes on (CUDA or CPU) and how many threads it uses."""
    import torch

    threads = torch.get_num_threads()
    data: dict[str, Any] = {"version": torch.__version__, "threads": threads,
                            "cuda": torch.cuda.is_available()}
    if data["cuda"]:
        data["device"] = torch.cuda.get_device_name(0)
        where = f"CUDA ({data['device']}, {torch.cuda.device_count()} device(s))"
    else:
        data["device"] = "cpu"
        where = "CPU (no CUDA)"
    return CheckResult("torch", "OK", f"torch {torch.__version__} on {where}, "
                       f"{threads} threads", data=data)


def check_model_file(settings: Settings) -> CheckResult:
    """The embedded GGUF: assembled from the part packages if needed, and its sha256 verified."""
    from assistant.llm.errors import ModelFileError
    from assistant.llm.model_file import ensure_model

    if settings.llm.backend != "embedded":
        return CheckResult("model-file", "SKIP", f"the LLM backend is {settings.llm.backend}")
    cfg = settings.llm.embedded
    try:
        path = ensure_model(cfg.model_path, cfg.model_sha256, cfg.parts_prefix, cfg.parts_count,
                            progress=False)
    except ModelFileError as exc:
        return CheckResult("model-file", "FAIL", str(exc))
    size = path.stat().st_size
    data = {"path": str(path), "size": size, "sha256": cfg.model_sha256 or None}
    if not cfg.model_sha256:
        return CheckResult("model-file", "OK", f"{path} ({size / 1e9:.2f} GB); no sha256 "
                           "configured, so not verified", data=data)
    return CheckResult("model-file", "OK", f"{path} ({size / 1e9:.2f} GB), sha256 "
                       f"{cfg.model_sha256[:16]}… verified", data=data)


@contextlib.contextmanager
def hub_offline() -> Iterator[None]:
    """Forbid Hugging Face downloads (HF_HUB_OFFLINE=1, TRANSFORMERS_OFFLINE=1) and progress
    bars meanwhile (read when huggingface_hub is first imported)."""
    names = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS")
    previous = {name: os.environ.get(name) for name in names}
    os.environ.update({name: "1" for name in names})
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check_embedder(settings: Settings) -> CheckResult:
    """The embedding model loads offline and embeds one sentence to a unit vector."""
    import numpy as np

    from retrieval.embedder import PACKAGED_MODEL_NAMES, create_embedder

    name = settings.retrieval.embedding_model
    with hub_offline():
        embedder = create_embedder(settings.retrieval)
        vectors = embedder.embed(["Customers who viewed this item also bought a phone case."])
    dimension = int(vectors.shape[1])
    norm = float(np.linalg.norm(vectors[0]))
    data = {"model": name, "dimension": dimension, "norm": round(norm, 4)}
    expected = EMBEDDING_DIMENSION if name in PACKAGED_MODEL_NAMES else dimension
    if dimension != expected or dimension == 0:
        return CheckResult("embedder", "FAIL", f"{name} gives {dimension}-dimensional "
                           f"vectors, expected {expected}", data=data)
    if not np.isfinite(vectors).all() or abs(norm - 1.0) > 1e-3:
        return CheckResult("embedder", "FAIL", f"{name} gives a vector of norm {norm:.4f} "
                           "(expected a finite unit vector)", data=data)
    return CheckResult("embedder", "OK", f"{name} loaded offline; dimension {dimension}",
                       data=data)


def check_chroma(settings: Settings, workspace: Path) -> CheckResult:
    """The on-disk Chroma store opens: the workspace's (counting records), else a temporary
    one (upsert and query one vector)."""
    import numpy as np

    from retrieval.chroma_store import ChromaStore
    from retrieval.factory import chroma_dir
    from retrieval.store import COLLECTIONS

    path = chroma_dir(settings.retrieval, workspace)
    if path.is_dir():
        store = ChromaStore.persistent(path)
        counts = {name: store.count(name) for name in COLLECTIONS}
        summary = ", ".join(f"{n:,} {name}" for name, n in counts.items())
        return CheckResult("chroma", "OK", f"{path} opens: {summary}",
                           data={"path": str(path), "counts": counts})
    with tempfile.TemporaryDirectory(prefix="insight-doctor-chroma-",
                                     ignore_cleanup_errors=True) as tmp:
        store = ChromaStore.persistent(Path(tmp))
        vectors = np.eye(2, 8, dtype=np.float32)
        store.upsert("doctor", ["a", "b"], vectors, ["first", "second"], [{"n": 1}, {"n": 2}])
        hits = store.query("doctor", vectors[1], 1)
    if not hits or hits[0].id != "b":
        return CheckResult("chroma", "FAIL", "a temporary store answered a query with "
                           f"{[h.id for h in hits]}, expected ['b']")
    return CheckResult("chroma", "OK", f"no store at {path} yet; a temporary store opens, "
                       "stores and finds a vector", data={"path": None})


def check_chroma_server(settings: Settings) -> CheckResult:
    """A Chroma server answers a heartbeat, when `retrieval.chroma.host` is set."""
    from core.errors import WorkspaceError
    from retrieval.chroma_store import ChromaStore

    cfg = settings.retrieval.chroma
    if not cfg.host:
        return CheckResult("chroma-server", "SKIP", "no server configured "
                           "(INSIGHT_RETRIEVAL__CHROMA__HOST)")
    try:
        ChromaStore.http(cfg.host, cfg.port, cfg.ssl)
    except WorkspaceError as exc:
        return CheckResult("chroma-server", "FAIL", str(exc))
    return CheckResult("chroma-server", "OK", f"{cfg.host}:{cfg.port} answers the heartbeat",
                       data={"host": cfg.host, "port": cfg.port})


def check_workspace(workspace: Path) -> CheckResult:
    """The workspace's manifest, data files and DuckDB views read back (read-only)."""
    import duckdb

    from store.workspace import DATABASE, MANIFEST, Workspace

    if not (workspace / MANIFEST).is_file():
        return CheckResult("workspace", "SKIP", f"no workspace at {workspace} (no {MANIFEST})")
    ws = Workspace(workspace)
    tables = sorted({t for s in ws.sources.values() for t, f in s["tables"].items() if f}
                    | set(ws.manifest["derived"]))
    missing = [f for table in tables for f in ws.table_files(table)
               if not (workspace / f).is_file()]
    data: dict[str, Any] = {"path": str(workspace), "sources": sorted(ws.sources),
                            "tables": tables, "generation": ws.generation}
    if missing:
        return CheckResult("workspace", "FAIL", f"{len(missing)} data file(s) in the manifest "
                           f"are missing, e.g. {missing[0]}", data=data)
    detail = f"{workspace}: {len(ws.sources)} source(s), {len(tables)} table(s)"
    database = workspace / DATABASE
    if not database.is_file():
        return CheckResult("workspace", "OK", f"{detail}; no views yet (built on first use)",
                           data=data)
    con = duckdb.connect(str(database), read_only=True)
    try:
        generation, root = con.execute("SELECT generation, root FROM insight_meta").fetchone()
        current = generation == ws.generation and root == str(workspace.resolve())
        events = con.execute("SELECT count(*) FROM events").fetchone()[0] if current else None
    finally:
        con.close()
    data["events"] = events
    if not current:
        return CheckResult("workspace", "OK", f"{detail}; views lag the manifest (rebuilt on "
                           "next use)", data=data)
    return CheckResult("workspace", "OK", f"{detail}; {events:,} events readable", data=data)


def find_chromium() -> str | None:
    """Path of the chromium executable (/usr/bin/chromium, else `chromium` on PATH)."""
    for candidate in CHROMIUM_PATHS:
        if Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("chromium")


def check_chromium(required: bool) -> CheckResult:
    """chromium for the browser tests runs `--version`; a problem FAILs only if `required`."""
    problem_status: Status = "FAIL" if required else "SKIP"
    path = find_chromium()
    if path is None:
        return CheckResult("chromium", problem_status, "chromium not found (/usr/bin/chromium "
                           "or PATH); the browser tests cannot run")
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=60,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CheckResult("chromium", problem_status, f"{path} --version failed: {exc}")
    version = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    if done.returncode != 0 or not version:
        tail = " ".join(done.stderr.split())[-300:]
        return CheckResult("chromium", problem_status, f"{path} --version exited "
                           f"{done.returncode}: {tail}")
    return CheckResult("chromium", "OK", f"{version} ({path})",
                       data={"path": path, "version": version})


def _checks(options: DoctorOptions,
            done: dict[str, CheckResult]) -> dict[str, Callable[[], CheckResult]]:
    from insight.doctor_llm import check_llm

    settings, lock = options.settings, find_lock(options.lock)

    def skipped() -> CheckResult:
        return CheckResult("", "SKIP", "--skip-llm")

    def llm() -> CheckResult:
        if options.skip_llm:
            return skipped()
        if done.get("model-file") and done["model-file"].failed:
            return CheckResult("llm", "SKIP", "needs the model file (see model-file)")
        return check_llm(settings.llm, options.llm_timeout_s)

    return {
        "python": lambda: check_python(lock),
        "packages": lambda: check_packages(lock),
        "torch": check_torch,
        "model-file": lambda: skipped() if options.skip_llm else check_model_file(settings),
        "llm": llm,
        "embedder": lambda: check_embedder(settings),
        "chroma": lambda: check_chroma(settings, options.workspace),
        "chroma-server": lambda: check_chroma_server(settings),
        "workspace": lambda: check_workspace(options.workspace),
        "chromium": lambda: check_chromium(options.browser),
    }


CHECK_NAMES = ("python", "packages", "torch", "model-file", "llm", "embedder", "chroma",
               "chroma-server", "workspace", "chromium")


def run_checks(options: DoctorOptions, only: list[str] | None = None,
               on_start: Callable[[str], None] | None = None) -> list[CheckResult]:
    """Run the checks (all, or those named in `only`) in order; never raises."""
    done: dict[str, CheckResult] = {}
    for name, check in _checks(options, done).items():
        if only and name not in only:
            continue
        if on_start is not None:
            on_start(name)
        started = time.perf_counter()
        try:
            result = check()
        except Exception as exc:  # noqa: BLE001 - a crashing check is that check's FAIL
            log.debug("check %s raised", name, exc_info=True)
            result = CheckResult(name, "FAIL", f"{type(exc).__name__}: {exc}")
        result.check = name
        result.seconds = round(time.perf_counter() - started, 2)
        log.info("doctor %s: %s %s", name, result.status, result.detail)
        done[name] = result
    return list(done.values())
