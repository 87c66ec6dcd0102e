"""Opening raw input files safely: existence, emptiness, compression and encoding checks.

Every failure raises `InputError` naming the file and what is wrong with it, so the CLI can
print one line instead of a traceback.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa

from core.errors import InputError

_MAGIC: dict[str, bytes] = {
    "gzip": b"\x1f\x8b",
    "bz2": b"BZh",
    "xz": b"\xfd7zXZ\x00",
    "zstd": b"\x28\xb5\x2f\xfd",
    "zip": b"PK\x03\x04",
    "parquet": b"PAR1",
}
_EXTENSIONS: dict[str, str] = {
    ".gz": "gzip",
    ".gzip": "gzip",
    ".bz2": "bz2",
    ".xz": "xz",
    ".zst": "zstd",
    ".zip": "zip",
}


def check_file(path: Path) -> Path:
    """Fail clearly when `path` does not exist, is not a file, or is empty."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    return path


def sniff_compression(path: Path) -> str | None:
    """The compression of `path` from its magic bytes, checked against its extension."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    found = next((name for name, magic in _MAGIC.items() if head.startswith(magic)), None)
    if found == "parquet":
        found = None
    claimed = _EXTENSIONS.get(path.suffix.lower())
    if claimed and found != claimed:
        what = f"{found}-compressed" if found else "not compressed"
        raise InputError(
            f"{path}: wrong compression: the name says {claimed} but the content is {what}"
        )
    if found in ("zip", "zstd") and not claimed:
        raise InputError(f"{path}: {found}-compressed content; unpack it or name it *.zst/*.zip")
    if found == "zip":
        raise InputError(f"{path}: zip archives are not supported; unpack the file first")
    return found


def open_binary(path: Path) -> BinaryIO:
    """A decompressing binary stream over `path` (Python-level; for line-oriented readers)."""
    path = check_file(path)
    compression = sniff_compression(path)
    opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}.get(compression or "")
    if opener is not None:
        return opener(path, "rb")  # type: ignore[return-value]
    if compression == "zstd":
        return pa.input_stream(str(path), compression="zstd")  # type: ignore[return-value]
    return open(path, "rb")


def arrow_stream(path: Path) -> pa.NativeFile:
    """A decompressing Arrow input stream (fast C++ path, for the CSV reader)."""
    path = check_file(path)
    compression = sniff_compression(path)
    return pa.input_stream(str(path), compression=compression)


def iter_text_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) of a UTF-8 text file; non-UTF-8 bytes raise `InputError`."""
    number = 0
    with open_binary(path) as raw:
        lines = iter(raw)
        while True:
            try:
                line = next(lines)
            except StopIteration:
                return
            except (OSError, EOFError, lzma.LZMAError) as exc:
                raise InputError(
                    f"{path}: corrupt or truncated compressed stream after line {number} ({exc})"
                ) from exc
            number += 1
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}: line {number}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                    "re-encode the file as UTF-8 (e.g. `iconv -f latin1 -t utf-8`)"
                ) from exc
            yield number, text


def find_non_utf8_line(path: Path) -> int | None:
    """Line number of the first line that is not valid UTF-8 (used to explain CSV errors)."""
    with open_binary(path) as raw:
        for number, line in enumerate(raw, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    """Content hash of a file, used to make re-ingesting the same file a no-op."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def read_all_text(path: Path) -> str:
    """Whole file as UTF-8 text (small files only)."""
    with open_binary(path) as raw:
        data = raw.read()
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line}: not UTF-8 text ({exc.reason})") from exc


__all__ = [
    "arrow_stream",
    "check_file",
    "file_sha256",
    "find_non_utf8_line",
    "iter_text_lines",
    "open_binary",
    "read_all_text",
    "sniff_compression",
]
