"""The app in a real browser (Debian's chromium, headless, through Playwright).

One workspace is built from the bundled Taobao sample through the CLI (`ingest`, `train
--quick`, `score`, `index`), one `insight serve` process runs with a login on 127.0.0.1 and the
real embedded LLM, and the tests drive it: log in, ask an operator question and find the number
computed here independently with pandas, open a customer and read the briefing, generate copy,
check that no workspace file is served. Screenshots go to `test-artifacts/ui/` (git-ignored), or
to `INSIGHT_UI_SCREENSHOTS` when set (`docs/screenshots` for the README's pictures).
`INSIGHT_UI_TEST_WORKSPACE` reuses an already built workspace.
"""

from __future__ import annotations

import importlib.util
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from tests.conftest import REPO, SAMPLE, run_cli

CHROMIUM = Path("/usr/bin/chromium")
TAOBAO_FILE = SAMPLE / "taobao" / "UserBehavior_sample.csv.gz"
USER, PASSWORD = "operator", "correct horse battery"
LLM_TIMEOUT_MS = 300_000

pytestmark = [
    pytest.mark.browser, pytest.mark.llm,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="chromium is not installed (apt-get install -y chromium)"),
    pytest.mark.skipif(importlib.util.find_spec("playwright") is None,
                       reason="the playwright package is not installed"),
    pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                       reason="llama-cpp-python (the embedded LLM) is not installed"),
]


def _shots_dir() -> Path:
    target = Path(os.environ.get("INSIGHT_UI_SCREENSHOTS", REPO / "test-artifacts" / "ui"))
    target.mkdir(parents=True, exist_ok=True)
    return target


def _cli(*args: str, timeout: float = 600) -> None:
    done = run_cli(*args, timeout=timeout)
    assert done.returncode == 0, f"insight {' '.join(args)}: {done.stderr[-2000:]}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Taobao sample, trained (quick), scored and indexed, as a user would do it."""
    given = os.environ.get("INSIGHT_UI_TEST_WORKSPACE")
    if given:
        return Path(given)
    ws = tmp_path_factory.mktemp("ui") / "ws"
    _cli("ingest", "taobao", str(TAOBAO_FILE), "-w", str(ws), "--source", "taobao")
    _cli("train", "-w", str(ws), "--source", "taobao", "--quick", "--epochs", "2", "--json")
    _cli("score", "-w", str(ws), "--json")
    _cli("index", "-w", str(ws), "--no-progress", "--json")
    return ws


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def app(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """`insight serve` with a login on 127.0.0.1; stopped (LLM included) after the module."""
    from ui.auth import hash_password

    users = tmp_path_factory.mktemp("auth") / "users"
    users.write_text(f"{USER}:{hash_password(PASSWORD)}:operator\n")
    port = _free_port()
    env = {**os.environ, "INSIGHT_UI__AUTH": "on", "INSIGHT_UI__USERS_FILE": str(users),
           "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "insight", "serve", "-w", str(workspace),
                             "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, cwd=REPO)
    lines: queue.Queue[str] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    url = llm_url = None
    while url is None and time.monotonic() - started < 300:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            assert proc.poll() is None, "".join(output)
            continue
        if match := re.search(r"LLM ready at (\S+)", line):
            llm_url = match.group(1)
        if match := re.search(r"is at (http://\S+)", line):
            url = match.group(1)
    assert url, "".join(output)
    info = {"url": url, "llm_url": llm_url, "workspace": workspace,
            "startup_s": round(time.monotonic() - started, 1), "output": output}
    yield info
    proc.terminate()  # SIGTERM: the app closes and stops the LLM server
    assert proc.wait(timeout=60) == 0 or proc.returncode in (-15, 143), "".join(output[-20:])
    if llm_url:
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{llm_url}/models", timeout=2)


@pytest.fixture(scope="module")
def page(app: dict[str, Any]) -> Iterator[Any]:
    """One headless chromium page, logged in to the app."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        tab = context.new_page()
        tab.set_default_timeout(60_000)
        tab.goto(app["url"])
        tab.get_by_label("username").fill(USER)
        tab.get_by_label("password").fill("wrong password")
        tab.get_by_role("button", name="Login").click()
        tab.get_by_text("Incorrect Credentials").wait_for()
        tab.get_by_label("username").fill(USER)
        tab.get_by_label("password").fill(PASSWORD)
        tab.get_by_role("button", name="Login").click()
        tab.get_by_role("tab", name="Chat").wait_for()
        tab.locator("#viewer").get_by_text("role operator").wait_for()  # role from the login
        yield tab
        browser.close()


@pytest.fixture(autouse=True)
def _screenshot_on_failure(request: pytest.FixtureRequest) -> Iterator[None]:
    """A screenshot of the page when a test fails (the artifact to look at first)."""
    yield
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed and "page" in request.fixturenames:
        page = request.getfixturevalue("page")
        page.screenshot(path=str(_shots_dir() / f"FAILED-{request.node.name}.png"),
                        full_page=True)


def _shot(page: Any, name: str) -> None:
    page.wait_for_timeout(500)
    page.screenshot(path=str(_shots_dir() / f"{name}.png"), full_page=True)


def _open(page: Any, tab: str) -> None:
    page.get_by_role("tab", name=tab).click()
    page.wait_for_timeout(300)


def test_operator_question_shows_the_right_number(page: Any) -> None:
    raw = pd.read_csv(TAOBAO_FILE).drop_duplicates()
    expected = int((raw["behavior_type"] == "buy").sum())
    _open(page, "Chat")
    page.locator("#chat-mode").get_by_text("Data question").click()
    page.locator("#chat-input textarea").fill("How many purchases are there in taobao?")
    page.locator("#chat-send").click()
    answer = page.locator("#chatbot").get_by_text(re.compile(r"There are [\d,]+ purchases"))
    answer.wait_for(timeout=LLM_TIMEOUT_MS)
    assert f"There are {expected:,} purchases" in answer.inner_text()
    page.locator("#chatbot").get_by_text("SQL that produced the numbers").first.wait_for()


def test_grouped_answer_has_table_and_chart(page: Any) -> None:
    raw = pd.read_csv(TAOBAO_FILE).drop_duplicates()
    views = raw[raw["behavior_type"] == "pv"].groupby("category_id").size()
    top = views.sort_values(ascending=False)
    assert top.iloc[0] > top.iloc[1]  # a unique answer
    page.locator("#chat-mode").get_by_text("Auto").click()  # the router must pick `ask`
    page.locator("#chat-input textarea").fill("Which category has the most views in taobao?")
    page.locator("#chat-send").click()
    answer = page.locator("#chatbot").get_by_text(re.compile(r"The category with the highest"))
    answer.wait_for(timeout=LLM_TIMEOUT_MS)
    assert f"is {top.index[0]} ({top.iloc[0]:,})" in answer.inner_text()
    chatbot = page.locator("#chatbot")
    chatbot.locator("table").last.wait_for()  # the result table, inline
    assert str(top.index[1]) in chatbot.locator("table").last.inner_text()
    chatbot.locator("img").last.wait_for()  # the chart, inline
    answer.scroll_into_view_if_needed()
    _shot(page, "chat")


def test_customer_lookup_shows_card_and_briefing(page: Any) -> None:
    _open(page, "Customer")
    page.locator("#customer-id input").fill("taobao/1")
    page.locator("#customer-go").click()
    card = page.locator("#customer-card")
    card.get_by_text("Customer 1").wait_for()
    events = int(re.search(r"events\s+(\d+)", card.inner_text()).group(1))
    assert events == int((pd.read_csv(TAOBAO_FILE)["user_id"] == 1).sum())
    summary = page.locator("#customer-summary")
    # the streamed draft is replaced by the checked, cited text at the end
    summary.locator("[data-state='done']").wait_for(timeout=LLM_TIMEOUT_MS)
    text = summary.inner_text()
    assert len(text) > 40 and "⚠" not in text
    # grounded briefings cite their facts as numbered citations, never as raw tags
    assert re.search(r"\[\d+\]", text) and "[F:" not in text
    _shot(page, "customer")


def test_marketing_copy_variants_and_csv(page: Any) -> None:
    _open(page, "Marketing")
    page.locator("#copy-go").click()
    variants = page.locator("#copy-variants")
    variants.get_by_text("Variant 1").wait_for(timeout=LLM_TIMEOUT_MS)
    assert "Facts used" in variants.inner_text()
    link = page.locator("#copy-csv a").first
    link.wait_for()
    assert ".csv" in (link.get_attribute("href") or "")
    _shot(page, "marketing")


def _wait_text(page: Any, selector: str, text: str) -> None:
    page.wait_for_function("([s, t]) => (document.querySelector(s)?.innerText || '')"
                           ".includes(t)", arg=[selector, text])


def test_segments_and_models_tabs_show_data(page: Any) -> None:
    _open(page, "Segments")
    _wait_text(page, "#segments-table", "taobao")
    _shot(page, "segments")
    _open(page, "Models")
    _wait_text(page, "#models-metrics", "sasrec")
    _wait_text(page, "#models-freshness", "taobao")
    _shot(page, "models")


def test_no_workspace_file_is_served(page: Any, app: dict[str, Any]) -> None:
    manifest = Path(app["workspace"]).resolve() / "manifest.json"
    for target in (manifest, Path("/etc/passwd"), REPO / "pyproject.toml"):
        response = page.request.get(f"{app['url'].rstrip('/')}/gradio_api/file={target}")
        assert response.status in (403, 404), (target, response.status)
    anonymous = httpx.get(f"{app['url'].rstrip('/')}/config", timeout=10)
    assert anonymous.status_code in (401, 403) or "auth_required" in anonymous.text
