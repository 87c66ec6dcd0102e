"""What every benchmark shares: the machine it ran on, its data file and its JSON report."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import resource
import uuid
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]


def cpu_model(default: str = "") -> str:
    """The CPU's model name from /proc/cpuinfo, else `platform.processor()`, else `default`."""
    cpu = platform.processor() or default
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return cpu


def describe_machine() -> dict[str, Any]:
    """CPU model, core count, memory, OS and Python, for comparing reports."""
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:  # pragma: no cover
        pass
    return info


def machine_info(device: str, *, runtime: dict[str, Any], libraries: dict[str, Any] | None = None,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The machine of a training benchmark: CPU, cores, RAM, then `runtime` (threads, …), Python
    and platform, `libraries` (versions), the device, the load at start and `extra`."""
    return {
        "cpu_model": cpu_model("unknown"),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        **runtime,
        "python_version": platform.python_version(),
        "platform": platform.platform(),
        **(libraries or {}),
        "device": device,
        "load_average_at_start": list(os.getloadavg()),
        **(extra or {}),
    }


def peak_rss_mib() -> float:
    """Peak resident set size of this process (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def find_data(path: Path | None, relative: Path, what: str) -> Path:
    """A data file: `path` when given, else `relative` under ``../shared`` next to the repo or
    under the repo itself (``./shared``); `what` names it in the error."""
    candidates = [path] if path else [REPO_ROOT.parent / relative, REPO_ROOT / relative]
    for cand in candidates:
        if cand is not None and cand.exists():
            return cand
    raise FileNotFoundError(f"{what} data not found in {candidates}")


def shown_path(path: Path) -> str:
    """`path` relative to the repository when it lies inside it, for reports."""
    return str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path)


def setup_logging() -> None:
    """INFO logging with time, level and logger name."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def file_sha256(path: Path) -> str:
    """Hex digest of a file, to pin the exact data a report was computed on."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_report(path: Path, report: dict[str, Any]) -> None:
    """Write a JSON report atomically (temp file, then rename; the temp file never lingers)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
