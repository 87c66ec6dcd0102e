"""Roles → masking and export decisions, pseudonyms, the CSV neutraliser, and the views as a
marketer, an operator, support and an admin see them (real handlers, scripted LLM)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.errors import InputError
from core.settings import PrivacySettings, Settings, UISettings
from store.workspace import Workspace
from tests.assistant.toolkit import FakeBackend, build_sample, scripted_server
from ui import customer_view, marketing_view
from ui.access import NO_ROLE, Pseudonyms, hide_user_id, request_access, role_access
from ui.context import AppContext
from ui.safe import csv_cell, write_csv

FORMULAS = ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "  =1", "&#61;1"]


@pytest.mark.parametrize(("role", "unmask", "export"), [
    ("admin", True, True), ("operator", False, True), ("marketer", False, True),
    ("support", False, False), (NO_ROLE, False, False)])
def test_default_roles_decide_masking_and_export(role: str, unmask: bool, export: bool) -> None:
    access = role_access(Settings(), role)
    assert (access.unmask, access.export) == (unmask, export)
    assert access.reviewer("Jane Doe") == ("Jane Doe" if unmask else "J*** D***")
    assert (access.user_id("taobao", "42") == "42") is unmask


def test_role_lists_come_from_the_privacy_settings() -> None:
    settings = Settings(privacy=PrivacySettings(unmask_roles=["support"], export_roles=[]))
    assert role_access(settings, "support").unmask and not role_access(settings, "admin").unmask
    assert not any(role_access(settings, r).export for r in ("admin", "operator", "marketer"))


def test_request_role_comes_from_the_login() -> None:
    settings = Settings(ui=UISettings(anonymous_role="marketer"))
    roles = {"ana": "admin", "sam": "support"}
    assert request_access(settings, None, None).role == "marketer"  # no login asked
    assert request_access(settings, None, SimpleNamespace(username=None)).role == "marketer"
    assert request_access(settings, roles, SimpleNamespace(username="ana")).unmask
    sam = request_access(settings, roles, SimpleNamespace(username="sam"))
    assert (sam.role, sam.user, sam.export) == ("support", "sam", False)
    for request in (SimpleNamespace(username="eve"), SimpleNamespace(username=None), None):
        stranger = request_access(settings, roles, request)  # login on, unknown: no rights
        assert stranger.role == NO_ROLE and not stranger.unmask and not stranger.export


def test_pseudonyms_are_stable_keyed_and_resolvable() -> None:
    names = Pseudonyms(b"k" * 32)
    first = names.of("taobao", "42")
    assert first == names.of("taobao", "42") and first.startswith("u-") and len(first) == 12
    assert "42" not in first[2:] or first != "42"
    assert names.of("rees46", "42") != first and Pseudonyms(b"x" * 32).of("taobao", "42") != first
    assert names.resolve("taobao", first) == ("taobao", "42")
    assert names.resolve(None, first) == ("taobao", "42")
    assert names.resolve("rees46", first) == ("rees46", first)  # not a pseudonym there
    assert names.resolve("taobao", "42") == ("taobao", "42")  # raw ids pass through


def test_masked_rows_choices_and_prose() -> None:
    operator = role_access(Settings(), "operator")
    rows = [{"source": "taobao", "user_id": "42", "reviewer_name": "Jane Doe", "n": 3}]
    shown = operator.rows(["source", "user_id", "reviewer_name", "n"], rows)
    assert shown[0]["user_id"] == operator.user_id("taobao", "42") != "42"
    assert shown[0]["reviewer_name"] == "J*** D***" and shown[0]["n"] == 3
    assert rows[0]["user_id"] == "42"  # the input is not changed
    [(label, key)] = operator.user_choices([("taobao", "42", 7)])
    assert "42 " not in label and key == f"taobao/{shown[0]['user_id']}"
    admin = role_access(Settings(), "admin")
    assert admin.user_choices([("taobao", "42", 7)]) == [("42 · taobao (7 events)", "taobao/42")]
    fake = "u-0123456789"
    assert hide_user_id("Customer 4 made 4 purchases [U:4]", "4", fake) == (
        f"Customer {fake} made 4 purchases [U:{fake}]")
    assert hide_user_id("id AB12345678 and xAB12345678", "AB12345678", fake) == (
        f"id {fake} and xAB12345678")
    assert hide_user_id("Customer 4", "4", "<b>4</b>") == "Customer 4"  # only pseudonyms


@pytest.mark.parametrize("text", FORMULAS)
def test_csv_cell_neutralises_formula_starts(text: str) -> None:
    cell = csv_cell(text)
    assert isinstance(cell, str) and cell.startswith("'")


def test_csv_cell_keeps_plain_text_and_numbers() -> None:
    assert csv_cell("Tune up") == "Tune up" and csv_cell(None) == ""
    assert csv_cell(-5) == -5 and csv_cell(2.5) == 2.5 and csv_cell(True) == "True"
    assert csv_cell("a=b") == "a=b" and csv_cell("x\x00y") == "xy"


def test_write_csv_neutralises_every_column(tmp_path: Path) -> None:
    columns = [f"c{i}" for i in range(len(FORMULAS))]
    path = write_csv(tmp_path, "t-", ["=head", *columns[1:]], [FORMULAS, FORMULAS[::-1]])
    assert path.parent == tmp_path and path.name.startswith("t-")
    rows = list(csv.reader(path.open(newline="")))
    assert rows[0][0] == "'=head"
    assert all(cell.startswith("'") for row in rows[1:] for cell in row)


def _result(**fields: Any) -> SimpleNamespace:
    base = {"item_id": "=ITEM()", "channel": "+email", "tone": "-calm", "target": "@customer 42",
            "item": {"title": "\t=T()"}, "audience": {},
            "variants": [{"headline": "\r=cmd", "body": "=BODY() \t=T()"}]}
    return SimpleNamespace(**{**base, **fields})


def test_export_neutralises_every_column_and_refuses_other_roles(tmp_path: Path) -> None:
    marketer = role_access(Settings(), "marketer")
    path = marketing_view.export_csv(_result(), tmp_path, marketer)
    [row] = list(csv.DictReader(path.open(newline="")))
    assert set(row) == set(marketing_view.CSV_COLUMNS)
    text_columns = [c for c in marketing_view.CSV_COLUMNS if c not in ("variant", "facts_used")]
    assert all(row[c].startswith("'") for c in text_columns), row
    assert row["variant"] == "1" and row["facts_used"].startswith("item.title=")
    for role in ("support", NO_ROLE):
        with pytest.raises(InputError, match="may not export"):
            marketing_view.export_csv(_result(), tmp_path, role_access(Settings(), role))
    assert len(list(tmp_path.iterdir())) == 1  # nothing written for them
    masked = marketing_view.export_csv(_result(target="customer 42"), tmp_path, marketer,
                                       customer=("taobao", "42"))
    text = masked.read_text()
    assert marketer.user_id("taobao", "42") in text and "customer 42" not in text


@pytest.fixture(scope="module")
def sample_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample(tmp_path_factory.mktemp("access") / "ws")


def _reviewer_of(root: Path, user: str) -> str:
    con = Workspace.open(root).connect()
    try:
        return str(con.execute("SELECT reviewer_name FROM reviews WHERE user_id = ? AND "
                               "reviewer_name IS NOT NULL LIMIT 1", [user]).fetchone()[0])
    finally:
        con.close()


def test_app_handlers_mask_by_the_signed_in_role(sample_root: Path) -> None:
    from ui.app import build_app

    user = "ADH0O8UVJOT10"
    name = _reviewer_of(sample_root, user)
    ctx = AppContext(root=sample_root, settings=Settings(), backend=None,
                     roles={"olga": "operator", "ana": "admin", "sam": "support"})
    blocks = build_app(ctx)
    fns = list(blocks.fns.values())
    lookup = next(f.fn for f in fns if f.api_name == "customer")
    on_load = next(f.fn for f in fns if getattr(f.fn, "__name__", "") == "on_load")
    as_olga = lookup(f"musical_instruments/{user}", SimpleNamespace(username="olga"))
    reviews = as_olga[6]
    assert name not in reviews and f"{name.split()[0][0]}***" in reviews
    assert name in lookup(f"musical_instruments/{user}", SimpleNamespace(username="ana"))[6]
    # support looks a customer up by the id they were given, masked like the operator
    as_sam = lookup(user, SimpleNamespace(username="sam"))
    assert f"Customer {user}" in as_sam[0] and name not in as_sam[6]
    # the page load: pickers with pseudonyms and no export for masked roles
    label, pick, _, download = on_load(SimpleNamespace(username="sam"))
    assert "support" in label and download["visible"] is False
    keys = [key for _, key in pick["choices"]]
    assert keys and all(key.split("/")[1].startswith("u-") for key in keys)
    # a pseudonym from the picker looks the customer up; the card shows the pseudonym
    picked = lookup(keys[0], SimpleNamespace(username="olga"))
    assert f"Customer {keys[0].split('/')[1]}" in picked[0] and picked[7]["user_id"]
    label, pick, _, download = on_load(SimpleNamespace(username="ana"))
    assert download["visible"] is True and not any(
        key.split("/")[1].startswith("u-") for _, key in pick["choices"])


def test_marketer_export_is_neutralised_and_support_gets_none(sample_root: Path,
                                                                tmp_path: Path) -> None:
    con = Workspace.open(sample_root).connect()
    try:
        item = con.execute("SELECT item_id FROM items WHERE source = 'gift_cards' AND "
                           "price IS NOT NULL ORDER BY item_id LIMIT 1").fetchone()[0]
        user = con.execute("SELECT user_id FROM reviews WHERE source = 'gift_cards' AND "
                           "item_id = ? LIMIT 1", [item]).fetchone()[0]
    finally:
        con.close()
    def claims(first: str) -> list[dict[str, Any]]:
        return [{"evidence": ["F:item_title"], "kind": "suggestion", "text": first},
                {"evidence": ["F:item_brand"], "kind": "fact", "text": "It is sold by Amazon."}]

    answer = {"variants": [{"headline": '=HYPERLINK("evil")', "cta": "Take a look",
                            "claims": claims("+Let them pick the card they like.")},
                           {"headline": "A gift they can choose", "cta": "Take a look",
                            "claims": claims("-Let them pick the card they like.")}]}
    with scripted_server(lambda request: json.dumps(answer)) as server:
        ctx = AppContext(root=sample_root, settings=Settings(),
                         backend=FakeBackend(server.url))  # type: ignore[arg-type]
        marketer = role_access(ctx.settings, "marketer", pseudonyms=ctx.pseudonyms)
        [(_, key)] = marketer.user_choices([("gift_cards", user, 1)])
        out = list(marketing_view.generate(ctx, tmp_path, marketer, "user", None, key, item,
                                           "email", "friendly", 2))
        cards, path = out[-1]
        support = role_access(ctx.settings, "support", pseudonyms=ctx.pseudonyms)
        refused = list(marketing_view.generate(ctx, tmp_path, support, "user", None, key, item,
                                               "email", "friendly", 2))
    assert path is not None, cards
    text = Path(path).read_text()
    rows = list(csv.DictReader(text.splitlines()))
    assert rows and rows[0]["headline"].startswith("'=HYPERLINK")
    assert all(r["body"].startswith("'") for r in rows)
    assert key.split("/")[1] in rows[0]["target"] and user not in text
    assert user not in cards and "Variant 1" in cards
    refused_cards, refused_file = refused[-1]
    assert refused_file is None and "not available to the role support" in refused_cards
    assert len(list(tmp_path.iterdir())) == 1


def test_customer_lookup_errors_do_not_reveal_the_id(sample_root: Path) -> None:
    ctx = AppContext(root=sample_root, settings=Settings(), backend=None)
    olga = role_access(ctx.settings, "operator", pseudonyms=ctx.pseudonyms)
    pseudonym = olga.user_id("taobao", "secret-id-123")  # handed out, but no such user
    out = customer_view.lookup(ctx, f"taobao/{pseudonym}", olga)
    assert "unknown user" in out[0] and out[7] is None
    assert "secret-id-123" not in out[0] and pseudonym in out[0]
