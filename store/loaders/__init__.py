"""Loaders for each supported raw format, by kind name (`insight ingest KIND PATH`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from core.errors import InputError
from store.loaders.amazon import AmazonLoader
from store.loaders.base import Loader
from store.loaders.generic import GenericLoader
from store.loaders.rees46 import Rees46Loader
from store.loaders.s3rec import S3RecLoader
from store.loaders.taobao import TaobaoLoader

LOADERS: dict[str, type[Loader]] = {
    cls.kind: cls for cls in (AmazonLoader, S3RecLoader, TaobaoLoader, Rees46Loader, GenericLoader)
}


def make_loader(
    kind: str, path: Path, source: str, options: dict[str, Any] | None = None
) -> Loader:
    """The loader for `kind`, or a clear error listing the kinds there are."""
    try:
        cls = LOADERS[kind]
    except KeyError:
        raise InputError(f"unknown kind {kind!r}; choose one of {', '.join(LOADERS)}") from None
    return cls(Path(path), source, options)


__all__ = ["LOADERS", "Loader", "make_loader"]
