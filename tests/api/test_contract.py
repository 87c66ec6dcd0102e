"""The API contract over real HTTP: status codes, schemas, live scores, bad input, auth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.schemas import EventsOut, Health, SessionScores, UserScores
from store.workspace import Workspace
from tests.api.conftest import API_KEY, ApiProcess


@pytest.fixture(scope="module")
def server(trained_workspace: Path) -> Iterator[ApiProcess]:
    """A keyed API server over the trained sample workspace."""
    proc = ApiProcess(trained_workspace, env={"INSIGHT_API__KEYS": f"other-key-0123456789,"
                                                                   f"{API_KEY}",
                                              "INSIGHT_API__MAX_BATCH_EVENTS": "50"})
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture(scope="module")
def client(server: ApiProcess) -> Iterator[httpx.Client]:
    """An HTTP client sending the key."""
    with httpx.Client(base_url=server.url, timeout=30.0,
                      headers={"Authorization": f"Bearer {API_KEY}"}) as http:
        yield http


@pytest.fixture(scope="module")
def batch_scores(trained_workspace: Path) -> dict[str, dict[str, Any]]:
    """`insight score`'s rows of the Taobao users, by user id."""
    con = Workspace.open(trained_workspace).connect()
    try:
        frame = con.execute("SELECT * FROM user_scores WHERE source = 'taobao'").df()
    finally:
        con.close()
    return {str(r["user_id"]): r for r in frame.to_dict("records")}


def _busiest_users(workspace: Path, n: int) -> list[str]:
    con = Workspace.open(workspace).connect()
    try:
        rows = con.execute("SELECT user_id FROM events WHERE source = 'taobao' GROUP BY 1 "
                           "ORDER BY count(*) DESC, 1 LIMIT ?", [n]).fetchall()
    finally:
        con.close()
    return [str(r[0]) for r in rows]


def test_health_docs_and_openapi(client: httpx.Client) -> None:
    health = Health.model_validate(client.get("/healthz").json())
    assert health.auth == "keys" and health.sources == ["beauty", "taobao"]
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/events", "/v1/users/{source}/{user_id}/scores", "/v1/score", "/healthz",
            "/metrics"} <= set(paths)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong-key-0123456789"},
                                     {"Authorization": f"Basic {API_KEY}"}])
def test_requests_without_the_right_key_get_401(server: ApiProcess,
                                                headers: dict[str, str]) -> None:
    for method, path in (("GET", "/v1/users/taobao/1/scores"), ("POST", "/v1/events"),
                         ("GET", "/metrics")):
        response = httpx.request(method, server.url + path, headers=headers, json={},
                                 timeout=10)
        assert response.status_code == 401, (path, response.text)
        assert response.headers["www-authenticate"] == "Bearer"
        assert "Authorization" in response.json()["error"]
    assert httpx.get(server.url + "/healthz", timeout=10).status_code == 200  # open


def test_live_scores_equal_the_batch_scores(client: httpx.Client, trained_workspace: Path,
                                            batch_scores: dict[str, dict[str, Any]]) -> None:
    """With no live events, the API computes what `insight score` stored, from the models."""
    for user in _busiest_users(trained_workspace, 3):
        response = client.get(f"/v1/users/taobao/{user}/scores")
        assert response.status_code == 200, response.text
        scores = UserScores.model_validate(response.json())
        stored = batch_scores[user]
        assert [i.item_id for i in scores.next_items] == list(stored["top_items"])
        assert [i.score for i in scores.next_items] == pytest.approx(
            list(stored["top_scores"]), abs=2e-6)
        assert scores.intent is not None and scores.intent.p_any_purchase == pytest.approx(
            stored["intent_p_any"], abs=1e-6)
        assert [i.item_id for i in scores.intent.items] == list(stored["intent_items"])
        assert scores.segment == stored["segment"]
        assert scores.model_version == stored["model_version"]
        assert scores.churn is None and "churn" in scores.unavailable
        assert scores.n_live_events == 0 and scores.n_events > 0


def test_titles_and_k(client: httpx.Client, trained_workspace: Path) -> None:
    scores = UserScores.model_validate(client.get("/v1/users/beauty/1/scores",
                                                  params={"k": 3}).json())
    assert len(scores.next_items) == 3
    assert all(i.title for i in scores.next_items)  # the Beauty sample has a catalog
    con = Workspace.open(trained_workspace).connect()
    try:
        history = {r[0] for r in con.execute(
            "SELECT item_id FROM events WHERE source = 'beauty' AND user_id = '1'").fetchall()}
    finally:
        con.close()
    # nobody reviews a product twice: the repeat rule leaves the user's own items out
    wide = UserScores.model_validate(client.get("/v1/users/beauty/1/scores",
                                                params={"k": 50}).json())
    assert history and not history & {i.item_id for i in wide.next_items}
    assert scores.intent is None and "no intent model" in scores.unavailable["intent"]


def test_unknown_user_and_source_get_404(client: httpx.Client) -> None:
    response = client.get("/v1/users/taobao/no-such-user/scores")
    assert response.status_code == 404
    assert "user_id" in response.json()["error"] and "no-such-user" in response.json()["error"]
    response = client.get("/v1/users/nowhere/1/scores")
    assert response.status_code == 404 and "source" in response.json()["error"]


def _event(event_id: str, user: str, item: str, kind: str = "view",
           ts: str | None = "2017-12-03T15:00:00Z") -> dict[str, Any]:
    out = {"event_id": event_id, "user_id": user, "item_id": item, "event_type": kind}
    if ts is not None:
        out["ts"] = ts
    return out


def test_events_are_idempotent_and_change_the_scores(client: httpx.Client,
                                                     trained_workspace: Path) -> None:
    user = _busiest_users(trained_workspace, 1)[0]
    before = UserScores.model_validate(client.get(f"/v1/users/taobao/{user}/scores").json())
    target = before.next_items[-1].item_id
    events = [_event(f"contract-{i}", user, target, "cart" if i % 2 else "view",
                     f"2017-12-03T15:5{i}:00Z") for i in range(6)]
    first = client.post("/v1/events", json={"source": "taobao", "events": events})
    assert first.status_code == 200, first.text
    assert EventsOut.model_validate(first.json()).accepted == 6
    again = client.post("/v1/events", json={"source": "taobao", "events": events + [
        _event("contract-6", user, target)]})
    assert again.json() == {"source": "taobao", "accepted": 1, "duplicates": 6}
    after = UserScores.model_validate(client.get(f"/v1/users/taobao/{user}/scores").json())
    assert after.n_live_events == 7 and after.n_events == before.n_events + 7
    assert after.next_items != before.next_items
    assert after.intent is not None and before.intent is not None
    assert target in [i.item_id for i in after.intent.items]  # a carted item is a candidate
    assert after.intent.p_any_purchase != before.intent.p_any_purchase


def test_a_new_user_is_scored_from_live_events_alone(client: httpx.Client,
                                                     batch_scores: dict[str, Any]) -> None:
    item = next(iter(batch_scores.values()))["top_items"][0]
    assert client.get("/v1/users/taobao/brand-new/scores").status_code == 404
    client.post("/v1/events", json={"source": "taobao", "events": [
        _event("new-1", "brand-new", item)]}).raise_for_status()
    scores = UserScores.model_validate(client.get("/v1/users/taobao/brand-new/scores").json())
    assert scores.n_events == scores.n_live_events == 1 and len(scores.next_items) == 10


def test_session_scoring_stores_nothing(client: httpx.Client,
                                        batch_scores: dict[str, Any]) -> None:
    items = list(next(iter(batch_scores.values()))["top_items"][:3])
    body = {"source": "taobao", "k": 4, "events": [
        {"item_id": items[0], "event_type": "view", "ts": "2017-12-03T15:00:00Z"},
        {"item_id": items[1], "event_type": "cart", "ts": "2017-12-03T15:01:00Z"},
        {"item_id": "never-seen-item"}]}
    users_before = client.get("/healthz").json()["loaded"]["taobao"]["users"]
    response = client.post("/v1/score", json=body)
    assert response.status_code == 200, response.text
    scores = SessionScores.model_validate(response.json())
    assert len(scores.next_items) == 4 and scores.n_events == 3 and scores.n_known_items == 2
    assert scores.intent is not None and items[1] in [i.item_id for i in scores.intent.items]
    assert scores.segment is not None
    assert client.post("/v1/score", json=body).json() == response.json()  # nothing kept
    assert client.get("/healthz").json()["loaded"]["taobao"]["users"] == users_before

FUTURE = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
BAD_EVENTS: list[tuple[str, Any, int, str]] = [
    ("unknown source", {"source": "nowhere", "events": [_event("b1", "u", "i")]}, 422,
     "source"),
    ("unknown event type", {"source": "taobao", "events": [_event("b1", "u", "i", "click")]},
     422, "events[0].event_type"),
    ("missing user", {"source": "taobao", "events": [{"event_id": "b1", "item_id": "i",
                                                      "event_type": "view"}]},
     422, "events[0].user_id"),
    ("unknown field", {"source": "taobao", "events": [{**_event("b1", "u", "i"), "x": 1}]},
     422, "events[0].x"),
    ("future timestamp", {"source": "taobao", "events": [_event("b0", "u", "i"),
                                                         _event("b1", "u", "i", ts=FUTURE)]},
     422, "events[1].ts"),
    ("bad timestamp", {"source": "taobao", "events": [_event("b1", "u", "i", ts="yesterday")]},
     422, "events[0].ts"),
    ("negative price", {"source": "taobao", "events": [{**_event("b1", "u", "i"),
                                                        "price": -1}]},
     422, "events[0].price"),
    ("empty batch", {"source": "taobao", "events": []}, 422, "events"),
    ("oversized batch", {"source": "taobao", "events": [_event(f"b{i}", "u", "i")
                                                        for i in range(51)]},
     413, "events"),
]


@pytest.mark.parametrize(("case", "body", "status", "field"), BAD_EVENTS,
                         ids=[c[0] for c in BAD_EVENTS])
def test_bad_events_get_4xx_naming_the_field(client: httpx.Client, case: str, body: Any,
                                             status: int, field: str) -> None:
    response = client.post("/v1/events", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"].startswith(f"{field}:"), response.json()
    assert client.get("/v1/users/taobao/u/scores").status_code == 404  # nothing was written


def test_malformed_json_and_bad_session_input(client: httpx.Client) -> None:
    response = client.post("/v1/events", content=b'{"source": "taobao", "events": [',
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["error"].startswith("body:")
    response = client.post("/v1/score", json={"source": "taobao", "events": [
        {"item_id": "1", "event_type": "buy"}]})
    assert response.status_code == 422
    assert response.json()["error"].startswith("events[0].event_type:")
    response = client.get("/v1/users/taobao/1/scores", params={"k": 0})
    assert response.status_code == 422 and response.json()["error"].startswith("k:")


def test_metrics_count_requests_and_events(client: httpx.Client) -> None:
    event = _event("metrics-1", "metrics-user", "1")
    for _ in range(2):
        client.post("/v1/events", json={"source": "taobao", "events": [event]})
    text = client.get("/metrics").text
    assert 'insight_api_requests_total{route="/v1/events",method="POST",status="200"}' in text
    counters = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in text.splitlines() if line and not line.startswith("#")}
    assert counters['insight_api_events_appended_total{source="taobao"}'] >= 1
    assert counters['insight_api_events_duplicate_total{source="taobao"}'] >= 1
    assert "# TYPE insight_api_request_duration_seconds histogram" in text
    route = 'route="/v1/users/{source}/{user_id}/scores"'
    assert counters[f'insight_api_request_duration_seconds_bucket{{{route},le="+Inf"}}'] >= 1


def test_audiences_route(client: httpx.Client) -> None:
    pytest.importorskip("predictors.audience")
    response = client.get("/v1/audiences", params={"source": "taobao", "goal": "convert-carts",
                                                    "size": 3})
    assert response.status_code == 200, response.text
    body = response.json()
    assert 1 <= len(body["users"]) <= 3 and body["backtest"] is None
    assert all(0.0 <= u["probability"] <= 1.0 and u["user_id"] for u in body["users"])
    response = client.get("/v1/audiences", params={"source": "taobao"})
    assert response.status_code == 422 and "give exactly one target" in response.json()["error"]
    response = client.get("/v1/audiences", params={"source": "nowhere", "item": "1"})
    assert response.status_code == 422 and response.json()["error"].startswith("source:")
