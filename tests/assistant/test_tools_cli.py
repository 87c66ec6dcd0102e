"""The tool commands through Typer: JSON output, one-line errors and exit codes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from core.settings import get_settings
from insight.commands import tool_cmds
from prompts import load_prompt
from tests.assistant.toolkit import sample_ws, scripted_server

__all__ = ["sample_ws"]


@pytest.fixture
def app() -> typer.Typer:
    """A Typer app with only the tool commands registered."""
    application = typer.Typer(pretty_exceptions_enable=False)
    tool_cmds.register(application)
    return application


def _dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"  # nothing listens there any more


@pytest.fixture
def llm_at(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """Point the settings at an OpenAI-compatible URL (`llm_at(url)`), restored afterwards."""
    def point(url: str) -> None:
        monkeypatch.setenv("INSIGHT_LLM__BACKEND", "openai-compatible")
        monkeypatch.setenv("INSIGHT_LLM__BASE_URL", url)
        monkeypatch.setenv("INSIGHT_LLM__MAX_RETRIES", "0")
        monkeypatch.setenv("INSIGHT_LLM__TIMEOUT_S", "5")
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()


def _run(app: typer.Typer, *args: str):  # noqa: ANN202
    return CliRunner().invoke(app, list(args))


def test_ask_json(app: typer.Typer, sample_ws: Path, llm_at) -> None:  # noqa: ANN001
    draft = json.dumps({"metric": "purchases", "source": "taobao"})
    with scripted_server(lambda request: draft) as server:
        llm_at(server.url)
        # no metric word code is sure of: the LLM drafts the plan
        result = _run(app, "ask", "What went on in taobao, in figures?", "-w",
                      str(sample_ws), "--json")
        certain = _run(app, "ask", "How many purchases were made in taobao?", "-w",
                       str(sample_ws), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["answerable"] and data["rows"] == [{"purchases": 245}]
    assert data["prompt_refs"] == [load_prompt("ask_plan").ref] and data["steps"]
    shortcut = json.loads(certain.stdout)  # code read it with certainty: no model call
    assert shortcut["plan_source"] == "rules" and shortcut["rows"] == [{"purchases": 245}]
    assert shortcut["prompt_refs"] == []


def test_dead_llm_is_one_line_exit_4(app: typer.Typer, sample_ws: Path, llm_at) -> None:  # noqa: ANN001
    llm_at(_dead_url())
    result = _run(app, "summary", "ADH0O8UVJOT10", "-w", str(sample_ws))
    assert result.exit_code == 4
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "unavailable" in lines[0] and "Traceback" not in result.output
    # questions the data cannot answer need no model at all
    refused = _run(app, "ask", "What is the average age of buyers?", "-w", str(sample_ws))
    assert refused.exit_code == 0 and "can't answer" in refused.stdout


@pytest.mark.parametrize(("args", "needle"), [
    (["summary", "NO_SUCH_USER"], "unknown user"),
    (["explain", "ADH0O8UVJOT10", "NO_SUCH_ITEM"], "unknown item"),
    (["persona"], "give a user id or --segment"),
    (["copy", "--item", "B004LLIKVU"], "give --user U or --segment N"),
    (["copy", "--item", "B004LLIKVU", "--user", "x", "--channel", "fax"], "unknown channel"),
    (["summary", "1"], "several sources"),
])
def test_bad_input_is_one_line_exit_2(app: typer.Typer, sample_ws: Path, llm_at,  # noqa: ANN001
                                      args: list[str], needle: str) -> None:
    llm_at(_dead_url())
    result = _run(app, *args, "-w", str(sample_ws))
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_missing_workspace_exit_3(app: typer.Typer, tmp_path: Path, llm_at) -> None:  # noqa: ANN001
    llm_at(_dead_url())
    result = _run(app, "ask", "How many events?", "-w", str(tmp_path / "none"))
    assert result.exit_code == 3 and "no workspace" in result.stderr


def test_persona_and_copy_human_output(app: typer.Typer, sample_ws: Path, llm_at) -> None:  # noqa: ANN001
    def respond(request: dict) -> str:
        if request.get("response_format"):
            return json.dumps({"variants": [{"headline": "A card for anyone",
                                             "body": "Let them choose."}]})
        return "Reviews music gear often [F:ratings_given]."

    with scripted_server(respond) as server:
        llm_at(server.url)
        shown = _run(app, "persona", "ADH0O8UVJOT10", "-w", str(sample_ws))
        copy = _run(app, "copy", "--item", "B004LLIKVU", "--segment", "1", "--source",
                    "gift_cards", "-w", str(sample_ws))
    assert shown.exit_code == 0 and "quality_expectations" in shown.stdout
    assert load_prompt("persona").ref in shown.stdout
    assert copy.exit_code == 2 and "unknown segment 1 in source 'gift_cards'" in copy.stderr
