"""Re-runnable codemod for the ground-floor layout (issue 12).

Moves the data layer out of ``predictors/`` into ``store/``, settings and errors into ``core/``,
the prompt loader into the top-level ``prompts`` package, and rewrites every dotted name in the
tree. Safe to run twice: moves whose source is gone are skipped, rewrites are idempotent.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

MOVES = [
    ("predictors/data/errors.py", "core/errors.py"),
    ("predictors/data/loaders", "store/loaders"),
    ("predictors/data/ingest.py", "store/ingest.py"),
    ("predictors/data/rawio.py", "store/rawio.py"),
    ("predictors/data/readers.py", "store/readers.py"),
    ("predictors/data/schema.py", "store/schema.py"),
    ("predictors/data/stats.py", "store/stats.py"),
    ("predictors/data/workspace.py", "store/workspace.py"),
    ("predictors/data/__init__.py", "store/__init__.py"),
    ("predictors/checkpoints.py", "store/checkpoints.py"),
    ("insight/settings.py", "core/settings.py"),
    ("insight/sample.py", "store/sample.py"),
    ("samples", "store/samples"),
    ("assistant/prompts.py", "prompts/__init__.py"),
]

# Longest first so that a prefix never shadows a more specific rule.
RENAMES = [
    ("predictors.data.errors", "core.errors"),
    ("predictors.data", "store"),
    ("predictors.checkpoints", "store.checkpoints"),
    ("insight.settings", "core.settings"),
    ("insight.sample", "store.sample"),
    ("assistant.prompts", "prompts"),
]

IMPORT_FORMS = [
    (r"from predictors import checkpoints\b", "from store import checkpoints"),
    (r"from predictors\.data import errors\b", "from core import errors"),
    (r"from insight import settings\b", "from core import settings"),
]

TEXT_SUFFIXES = {".py", ".toml", ".md", ""}


def _git(*args: str) -> None:
    subprocess.run(["git", *args], cwd=ROOT, check=True)


def move_files() -> None:
    """git-mv each source that still exists to its new home."""
    for source, target in MOVES:
        src, dst = ROOT / source, ROOT / target
        if not src.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        _git("mv", source, target)
    init = ROOT / "core" / "__init__.py"
    if not init.exists():
        init.write_text('"""Settings and errors every layer shares; imports nothing of ours."""\n')
        _git("add", "core/__init__.py")
    data_dir = ROOT / "predictors" / "data"
    if data_dir.exists() and not any(data_dir.rglob("*.py")):
        subprocess.run(["rm", "-rf", str(data_dir)], check=True)


def rewrite(text: str) -> str:
    """Rewrite old dotted module names and import forms to the new layout."""
    for pattern, replacement in IMPORT_FORMS:
        text = re.sub(pattern, replacement, text)
    for old, new in RENAMES:
        text = re.sub(rf"(?<![\w.]){re.escape(old)}(?=[\s.,:;)\"'`]|$)", new, text, flags=re.M)
    text = re.sub(r"(?<![\w/])predictors/data/errors\.py", "core/errors.py", text)
    text = re.sub(r"(?<![\w/])predictors/data/", "store/", text)
    text = re.sub(r"(?<![\w/])insight/settings\.py", "core/settings.py", text)
    return text


def rewrite_tree() -> None:
    """Apply ``rewrite`` to every tracked text file except this script and results."""
    listed = subprocess.run(["git", "ls-files"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout.split()
    for name in listed:
        path = ROOT / name
        if (not path.is_file() or name.startswith("benchmarks/results/")
                or path.name == Path(__file__).name):
            continue
        if path.suffix not in TEXT_SUFFIXES and path.name not in {"Dockerfile", "Makefile"}:
            continue
        if path.suffix == "" and path.name not in {"Dockerfile", "Makefile", "run"}:
            continue
        old = path.read_text(encoding="utf-8")
        new = rewrite(old)
        if new != old:
            path.write_text(new, encoding="utf-8")


def main() -> int:
    move_files()
    rewrite_tree()
    return 0


if __name__ == "__main__":
    sys.exit(main())
