"""A non-editable install finds its prompts and the bundled sample as package data.

The wheel is built from this checkout and installed into a fresh directory that shadows the
editable install; the commands then run from a folder outside the repository, so any lookup
through the source tree (`Path(__file__).parent.parent / ...`) would fail here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def _run(args: list[str], target: Path, cwd: Path,
         timeout: int = 600) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(target), "INSIGHT_LLM__MAX_RETRIES": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, text=True,
                          capture_output=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project installed from its wheel (no editable links) into a fresh target folder."""
    base = tmp_path_factory.mktemp("package")
    source = base / "source"  # a copy of the checkout's files: the build leaves no build/ here
    listed = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    tracked = subprocess.run(listed, cwd=REPO, capture_output=True,
                             check=True).stdout.decode().split("\0")
    for name in filter(None, tracked):
        if (REPO / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "-w", str(base / "wheel"), str(source)], capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr
    wheel = next((base / "wheel").glob("behavior_insight-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "prompts/ask_plan.md" in names
    assert "store/samples/data/taobao/UserBehavior_sample.csv.gz" in names
    target = base / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet",
                           "--target", str(target), str(wheel)], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    return target


def test_modules_come_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    shown = _run(["-c", "import prompts, store.sample, insight; print(prompts.PROMPTS_DIR); "
                  "print(store.sample.SAMPLE_DIR); print(insight.__file__); "
                  "print(prompts.load_prompt('ask_plan').ref)"], installed, tmp_path)
    assert shown.returncode == 0, shown.stderr
    *paths, ref = shown.stdout.split()
    assert all(line.startswith(str(installed)) for line in paths), shown.stdout
    assert ref.startswith("ask_plan@")


def test_sample_and_ask_run_from_a_non_editable_install(installed: Path, tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    sample = _run(["-m", "insight", "sample", "-w", str(workspace)], installed, tmp_path)
    assert sample.returncode == 0, sample.stderr
    asked = _run(["-m", "insight", "ask", "How many purchases were made in taobao?", "-w",
                  str(workspace), "--json"], installed, tmp_path)
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["answerable"] and answer["rows"] == [{"purchases": 245}]
