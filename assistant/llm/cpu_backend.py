"""Chooses and loads llama.cpp's CPU backend variant in a portable build.

The project builds llama-cpp-python with `GGML_NATIVE=OFF GGML_BACKEND_DL=ON
GGML_CPU_ALL_VARIANTS=ON`: one shared library per x86-64 level (x64, sse42, haswell, skylakex,
icelake, zen4, sapphirerapids…) instead of one compiled for the build host's own instructions.
llama.cpp scores each variant against the running CPU and loads the best one, but it looks for
them beside the Python executable and in the working directory, while the wheel installs them
in `site-packages/bin`. So the server child calls `prepare()` before llama.cpp initialises: it
scores the variants itself (each library exports `ggml_backend_score`) and loads the chosen one.

AMX: a CPU can advertise AMX in cpuid while its hypervisor does not let a process use the tiles
(seen on a cloud Xeon: SIGILL on `tilezero` in the first matrix product). The AMX variant
(`sapphirerapids`) is therefore used only after a probe in a separate process ran a real
completion with it; the verdict is cached per CPU and build in the user's cache folder. When the
build has no variants (a native or an older build), nothing is done and llama.cpp links its own.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import json
import logging
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

VARIANT_PREFIX = "libggml-cpu-"
AMX_VARIANTS = frozenset({"sapphirerapids"})
PROBE_TIMEOUT_S = 180.0
CACHE_DIR = Path("~/.cache/behavior-insight").expanduser()


@dataclass(frozen=True)
class Variant:
    """One CPU backend library and llama.cpp's score for this CPU (0: cannot run here)."""

    name: str
    path: Path
    score: int


def variants_dir() -> Path | None:
    """Where the portable build put its CPU variants (`site-packages/bin`), or None."""
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).resolve().parent.parent / "bin"
    return folder if any(folder.glob(f"{VARIANT_PREFIX}*.so")) else None


def _score(path: Path) -> int:
    """llama.cpp's own score of a variant library for the running CPU."""
    try:
        library = ctypes.CDLL(str(path))
        function = library.ggml_backend_score
    except (OSError, AttributeError):
        return 0
    function.restype = ctypes.c_int
    return int(function())


def scored_variants(folder: Path) -> list[Variant]:
    """Every variant in `folder` with its score, best first."""
    _ggml()  # the variants link against libggml-base, which llama-cpp-python loads
    found = []
    for path in sorted(folder.glob(f"{VARIANT_PREFIX}*.so")):
        name = path.name[len(VARIANT_PREFIX):-len(".so")]
        found.append(Variant(name, path, _score(path)))
    return sorted(found, key=lambda v: v.score, reverse=True)


def _cpu_key(folder: Path) -> str:
    """Identifies this CPU and this build, so a cached probe verdict is not reused elsewhere."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        cpuinfo = ""
    lines = [line for line in cpuinfo.splitlines()
             if line.startswith(("model name", "flags"))][:2]
    build = sorted(f"{p.name}:{p.stat().st_size}" for p in folder.glob(f"{VARIANT_PREFIX}*.so"))
    return hashlib.sha256("\n".join(lines + build).encode()).hexdigest()[:16]


def _probe_cache() -> Path:
    return CACHE_DIR / "cpu-variant-probes.json"


def _cached_verdict(key: str, variant: str) -> bool | None:
    try:
        verdicts = json.loads(_probe_cache().read_text())
    except (OSError, ValueError):
        return None
    value = verdicts.get(key, {}).get(variant)
    return value if isinstance(value, bool) else None


def _store_verdict(key: str, variant: str, works: bool) -> None:
    path = _probe_cache()
    try:
        verdicts = json.loads(path.read_text())
    except (OSError, ValueError):
        verdicts = {}
    verdicts.setdefault(key, {})[variant] = works
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(verdicts, indent=1))
    temporary.replace(path)


def probe_variant(variant: Variant, model_path: Path, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """Whether a real completion runs with `variant`, tried in a child process (it may crash)."""
    command = [sys.executable, "-m", "assistant.llm.cpu_backend", "--probe", str(variant.path),
               str(model_path)]
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        log.warning("CPU variant %s: probe timed out after %.0fs", variant.name, timeout_s)
        return False
    if done.returncode != 0:
        log.warning("CPU variant %s does not run on this machine (probe exit %s)", variant.name,
                    done.returncode)
    return done.returncode == 0


def choose_variant(folder: Path, model_path: Path | None, requested: str = "auto") -> Variant:
    """The variant to load: the one named in settings, else the best this CPU runs.

    An AMX variant is taken only after `probe_variant` showed it works (cached per CPU and
    build); without a model to probe with it is skipped.
    """
    variants = scored_variants(folder)
    if requested != "auto":
        for variant in variants:
            if variant.name == requested:
                return variant
        names = ", ".join(v.name for v in variants)
        raise ValueError(f"llm.embedded.cpu_variant={requested!r} is not in this build ({names})")
    key = _cpu_key(folder)
    for variant in variants:
        if variant.score <= 0:
            continue
        if variant.name not in AMX_VARIANTS:
            return variant
        verdict = _cached_verdict(key, variant.name)
        if verdict is None and model_path is not None and model_path.is_file():
            verdict = probe_variant(variant, model_path)
            _store_verdict(key, variant.name, verdict)
        if verdict:
            return variant
        log.info("skipping CPU variant %s (AMX not usable here)", variant.name)
    raise RuntimeError(f"no CPU backend variant in {folder} runs on this CPU")


def _ggml() -> ctypes.CDLL:
    """libggml as llama-cpp-python loaded it (by soname, so the same registry is used)."""
    import llama_cpp  # noqa: F401 - loads libllama and, with it, libggml

    library = ctypes.CDLL("libggml.so.0")
    library.ggml_backend_load.argtypes = [ctypes.c_char_p]
    library.ggml_backend_load.restype = ctypes.c_void_p
    library.ggml_backend_reg_count.restype = ctypes.c_size_t
    return library


def load(variant: Variant) -> None:
    """Register `variant` with llama.cpp (before the first model is loaded)."""
    ggml = _ggml()
    if not ggml.ggml_backend_load(str(variant.path).encode()):
        raise RuntimeError(f"llama.cpp could not load the CPU backend {variant.path}")
    log.info("llama.cpp CPU backend: %s (score %d)", variant.name, variant.score)


def prepare(model_path: Path | None = None, requested: str = "auto") -> Variant | None:
    """Choose and load the CPU variant of a portable build; None for a build without variants."""
    folder = variants_dir()
    if folder is None:
        return None
    variant = choose_variant(folder, model_path, requested)
    load(variant)
    return variant


def _probe_main(variant_path: str, model_path: str) -> int:
    """Child side of `probe_variant`: load the variant and the model, run a short completion."""
    ggml = _ggml()
    if not ggml.ggml_backend_load(variant_path.encode()):
        return 3
    from llama_cpp import Llama

    model = Llama(model_path, n_ctx=512, n_threads=1, verbose=False)
    # A prompt of ~100 tokens: its batched matrix products take the AMX path if there is one.
    model.create_completion("Count: one two three four five six seven eight nine ten. " * 8,
                            max_tokens=2, temperature=0.0)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--probe":
        sys.exit(_probe_main(sys.argv[2], sys.argv[3]))
    sys.exit("usage: python -m assistant.llm.cpu_backend --probe VARIANT_LIB MODEL_FILE")
