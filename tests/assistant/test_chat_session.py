"""`insight chat` keeps a conversation: in a session file across calls, or over stdin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from assistant.tools.chat_session import ChatSession
from core.errors import InputError
from insight.commands import tool_cmds
from tests.assistant.toolkit import sample_ws
from tests.conftest import SAMPLE

__all__ = ["sample_ws"]


def _app() -> typer.Typer:
    app = typer.Typer(pretty_exceptions_enable=False)
    tool_cmds.register(app)
    return app


def _answers(output: str) -> list[dict[str, Any]]:
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [e for e in events if e["type"] == "answer"]


def _purchases_in(month: str) -> int:
    raw = pd.read_csv(SAMPLE / "taobao" / "UserBehavior_sample.csv.gz", header=0,
                      names=["user", "item", "category", "behavior", "ts"])
    months = pd.to_datetime(raw.ts, unit="s", utc=True).dt.strftime("%Y-%m")
    return int(((raw.behavior == "buy") & (months == month)).sum())


def test_a_session_file_carries_the_conversation(sample_ws: Path, tmp_path: Path) -> None:
    session = tmp_path / "chat.json"
    runner = CliRunner()
    first = runner.invoke(_app(), ["chat", "How many purchases were there in taobao in "
                                   "December?", "-w", str(sample_ws), "--json",
                                   "--session", str(session)])
    assert first.exit_code == 0, first.output
    assert ChatSession.load(session).last_plan["filters"]["source"] == ["taobao"]
    second = runner.invoke(_app(), ["chat", "and in november?", "-w", str(sample_ws),
                                    "--json", "--session", str(session)])
    assert second.exit_code == 0, second.output
    (answer,) = _answers(second.output)
    result = answer["result"]
    assert result["plan_source"] == "follow-up"
    assert result["rows"][0]["purchases"] == _purchases_in("2017-11")
    assert len(ChatSession.load(session).history) == 2


def test_stdin_is_one_session(sample_ws: Path) -> None:
    result = CliRunner().invoke(
        _app(), ["chat", "-w", str(sample_ws), "--json"],
        input="How many purchases were there in taobao in December?\nand in november?\nexit\n")
    assert result.exit_code == 0, result.output
    answers = _answers(result.output)
    assert [a["result"]["rows"][0]["purchases"] for a in answers] == [
        _purchases_in("2017-12"), _purchases_in("2017-11")]


def test_a_broken_session_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "chat.json"
    bad.write_text("not json")
    with pytest.raises(InputError, match="chat.json"):
        ChatSession.load(bad)
