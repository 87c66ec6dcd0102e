"""Small pieces of the API without a server: keys, bind checks, field names, the log reader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from pydantic import SecretStr

from api.app import field_name
from api.auth import KeyRing, check_bind, is_loopback_client, is_loopback_host, load_keys
from api.event_log import LiveEvent, SourceLog, log_path, read_log
from core.errors import InputError
from core.settings import ApiSettings, Settings

KEY = "k" * 20


def test_keys_from_the_environment_and_a_file(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INSIGHT_API__KEYS", f"{KEY}, {'m' * 20}")
    assert [k.get_secret_value() for k in Settings().api.keys] == [KEY, "m" * 20]
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# ops\n{'n' * 20}  # rotated 2026-12\n\n")
    ring = load_keys(ApiSettings(keys=[SecretStr(KEY)], keys_file=keys_file))
    assert ring.keys == (KEY, "n" * 20) and ring.required
    with pytest.raises(InputError, match="keys_file"):
        load_keys(ApiSettings(keys_file=tmp_path / "missing"))
    with pytest.raises(InputError, match="shorter than 16"):
        load_keys(ApiSettings(keys=[SecretStr("short")]))


def test_bearer_header_matching() -> None:
    ring = KeyRing((KEY,))
    assert ring.accepts(f"Bearer {KEY}") and ring.accepts(f"bearer {KEY}")
    for header in (None, "", KEY, f"Basic {KEY}", f"Bearer {KEY}x", "Bearer "):
        assert not ring.accepts(header)


def test_loopback_detection_and_bind_refusal() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"):
        assert is_loopback_host(host), host
    for host in ("0.0.0.0", "::", "10.0.0.5", "192.168.1.1"):
        assert not is_loopback_host(host), host
    with pytest.raises(InputError, match="refusing to bind '0.0.0.0' without API keys"):
        check_bind("0.0.0.0", KeyRing())
    check_bind("0.0.0.0", KeyRing((KEY,)))
    check_bind("127.0.0.1", KeyRing())
    assert is_loopback_client("127.0.0.1") and not is_loopback_client("10.1.2.3")


def test_field_names_of_validation_errors() -> None:
    assert field_name(("body", "events", 2, "ts")) == "events[2].ts"
    assert field_name(("query", "k")) == "k"
    assert field_name(("body",)) == "body"


def _event(event_id: str) -> LiveEvent:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    return LiveEvent(event_id=event_id, user_id="u", item_id="i", event_type="view", ts=now,
                     received_at=now)


def test_log_appends_dedupes_and_survives_a_torn_tail(tmp_path: Path) -> None:
    log = SourceLog(tmp_path, "s")
    logged, duplicates = log.append([_event("a"), _event("b"), _event("a")])
    assert [e.event.event_id for e in logged] == ["a", "b"] and duplicates == 1
    assert log.append([_event("b")]) == ([], 1)
    log.close()
    path = log_path(tmp_path, "s")
    size = path.stat().st_size
    with open(path, "ab") as handle:
        handle.write(b'{"event_id": "c", "user')
    entries, end = read_log(path)
    assert [e.event.event_id for e in entries] == ["a", "b"] and end == size
    reopened = SourceLog(tmp_path, "s")
    assert path.stat().st_size == size and len(reopened) == 2
    assert reopened.append([_event("a"), _event("c")])[1] == 1
    assert [e.event.event_id for e in reopened.since(logged[1].offset)] == ["b", "c"]
    reopened.close()
