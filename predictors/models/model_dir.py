"""Model directories: a pickled model (``model.joblib``) beside its ``metadata.json``.

:func:`save_model_dir` / :func:`load_model_dir` write and read one such directory;
:class:`SavedModel` gives a model class ``save`` / ``load`` on top of them from its ``KIND``
and ``metadata()``. Loading runs pickle code: load only model files you created or trust.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Self

import joblib
import sklearn

from core.errors import InputError

log = logging.getLogger(__name__)

MODEL_FILE = "model.joblib"
META_FILE = "metadata.json"
FORMAT_VERSION = 1


def save_model_dir(obj: Any, path: Path, metadata: dict[str, Any]) -> Path:
    """Write `obj` (joblib) and `metadata` (JSON) into directory `path`, each atomically.

    The metadata file is replaced last, so a reader that checks it sees a matching model.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    meta = {
        **metadata,
        "format_version": FORMAT_VERSION,
        "saved_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sklearn_version": sklearn.__version__,
    }
    for name, writer in (
        (MODEL_FILE, lambda p: joblib.dump(obj, p)),
        (
            META_FILE,
            lambda p: Path(p).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8"),
        ),
    ):
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path)
        os.close(fd)
        try:
            writer(tmp)
            os.replace(tmp, path / name)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return path


def load_model_dir(path: Path, kind: str) -> tuple[Any, dict[str, Any]]:
    """Read a model directory written by :func:`save_model_dir`; check its kind and format."""
    path = Path(path)
    meta_path, model_path = path / META_FILE, path / MODEL_FILE
    if not meta_path.exists() or not model_path.exists():
        raise InputError(f"{path} is not a saved model (needs {MODEL_FILE} and {META_FILE})")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{meta_path} is not valid JSON: {exc}") from exc
    if meta.get("kind") != kind:
        raise InputError(f"{path} holds a {meta.get('kind')!r} model, not {kind!r}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: unsupported model format {meta.get('format_version')}")
    if meta.get("sklearn_version") != sklearn.__version__:
        log.warning(
            "model %s was saved with scikit-learn %s, running %s",
            path,
            meta.get("sklearn_version"),
            sklearn.__version__,
        )
    return joblib.load(model_path), meta


class SavedModel:
    """Base of the models saved as a model directory: subclasses set ``KIND`` (one of
    :data:`store.checkpoints.MODEL_KINDS`) and implement :meth:`metadata`."""

    KIND: ClassVar[str] = ""

    def metadata(self) -> dict[str, Any]:
        """What metadata.json records about the model (must include ``"kind": KIND``)."""
        raise NotImplementedError

    def save(self, path: Path) -> Path:
        """Save to directory `path` (model.joblib + metadata.json)."""
        return save_model_dir(self, path, self.metadata())

    @classmethod
    def load(cls, path: Path) -> Self:
        """Load a model saved by :meth:`save` (trusted files only: this unpickles)."""
        obj, _ = load_model_dir(path, cls.KIND)
        if not isinstance(obj, cls):
            article = "an" if cls.__name__[0] in "AEIOU" else "a"
            raise InputError(f"{path} does not hold {article} {cls.__name__}")
        return obj
