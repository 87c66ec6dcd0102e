"""The Marketing tab's audience step in a real browser (Debian's chromium through Playwright).

The bundled Taobao sample is trained as the audience tests train it (quick next-item model,
small intent and churn models, segments, scores: about 20 s), `insight serve --no-llm` runs
with a login on 127.0.0.1 (an operator: may export, sees pseudonyms), and the test builds an
audience, compares the rows and the lift with the library's own audience built here, downloads
the CSV and checks it. No LLM is started: writing copy must then say so plainly (the copy
itself is covered by `test_browser.py` and by the unit tests of the hand-off).
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from predictors.audience import AudienceOptions, AudienceTarget, build_audience
from store.workspace import Workspace
from tests.conftest import REPO
from tests.predictors.conftest import train_sample_models
from tests.ui.test_browser import CHROMIUM, PASSWORD, USER, _free_port, _shots_dir

CATEGORY = "4756105"  # the sample's second busiest category
SIZE = 15

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="chromium is not installed (apt-get install -y chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright package is not installed"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trained sample workspace."""
    return train_sample_models(tmp_path_factory.mktemp("ui-audience") / "ws")


@pytest.fixture(scope="module")
def url(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`insight serve --no-llm` with an operator login; stopped after the module."""
    from ui.auth import hash_password

    users = tmp_path_factory.mktemp("auth") / "users"
    users.write_text(f"{USER}:{hash_password(PASSWORD)}:operator\n")
    env = {**os.environ, "INSIGHT_UI__AUTH": "on", "INSIGHT_UI__USERS_FILE": str(users),
           "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    log = users.parent / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "insight", "serve", "-w",
                                 str(workspace), "--port", str(_free_port()), "--no-llm"],
                                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
    deadline = time.monotonic() + 180
    while not (found := re.search(r"is at (http://\S+)", log.read_text())):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    yield found.group(1)
    proc.terminate()
    proc.wait(timeout=60)


def test_build_inspect_export_an_audience(url: str, workspace: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    expected = build_audience(Workspace.open(workspace), "taobao",
                              AudienceTarget("category", CATEGORY), AudienceOptions(size=SIZE))
    assert expected.backtest is not None and expected.backtest.lift is not None
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_context(viewport={"width": 1400, "height": 1000},
                                   accept_downloads=True).new_page()
        page.set_default_timeout(120_000)
        try:
            _drive(page, url, expected, tmp_path)
        except Exception:
            page.screenshot(path=str(_shots_dir() / "FAILED-audience.png"), full_page=True)
            raise
        finally:
            browser.close()


def _fill(page: Any, selector: str, text: str) -> None:
    field = page.locator(f"{selector} input").first
    field.fill(text)
    field.press("Enter")


def _drive(page: Any, url: str, expected: Any, tmp_path: Path) -> None:
    page.goto(url)
    page.get_by_label("username").fill(USER)
    page.get_by_label("password").fill(PASSWORD)
    page.get_by_role("button", name="Login").click()
    page.get_by_role("tab", name="Marketing").click()
    page.get_by_text("Audience: build, inspect, write copy, export").click()
    summary = page.locator("#aud-summary")
    # an item the source does not have: the library's message, no table
    _fill(page, "#aud-value", "no-such-item")
    page.locator("#aud-build").click()
    summary.get_by_text("unknown item 'no-such-item' in source 'taobao'").wait_for()
    page.locator("#aud-kind").get_by_text("category").click()
    page.wait_for_timeout(500)  # the value picker is refilled with the source's categories
    _fill(page, "#aud-value", CATEGORY)
    _fill(page, "#aud-size", str(SIZE))
    page.locator("#aud-build").click()
    backtest = page.locator("#aud-backtest")
    backtest.wait_for()
    assert f"{expected.backtest.lift:.2f}×" in backtest.inner_text()
    assert f"{expected.expected_conversions:.1f}" in summary.inner_text()
    assert "lift of" in summary.inner_text()
    table = page.locator("#aud-table")
    shown = re.findall(r"u-[0-9a-f]{10}", table.inner_text())
    assert len(shown) == len(expected.users) == SIZE  # one masked id per row
    link = page.locator("#aud-csv a").first
    link.wait_for()
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "audience.csv"
    info.value.save_as(saved)
    with saved.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["user_id"] for r in rows] == shown  # the same pseudonyms, in the same order
    # the backtest's next-item model is retrained in the server's process, whose thread count
    # (and so the order of float sums) may differ: equal up to that noise, which CI has seen
    # reach 1.1e-3 in a calibrated probability
    got = [float(r["probability"]) for r in rows]
    assert got == pytest.approx([u.probability for u in expected.users], abs=5e-3)
    assert got == sorted(got, reverse=True)  # the most likely buyers first
    page.locator("#aud-copy-go").click()  # no LLM in this app: a plain error, not a crash
    page.locator("#aud-copy").get_by_text("runs without a language model").wait_for()
    assert "aimed at segment" in page.locator("#aud-copy").inner_text()
    page.screenshot(path=str(_shots_dir() / "marketing-audience.png"), full_page=True)
