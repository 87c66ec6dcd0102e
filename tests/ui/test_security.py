"""Login hashes, when a login is required, and how untrusted text is made safe to show."""

from __future__ import annotations

from pathlib import Path

import pytest

from insight.settings import UISettings
from predictors.data.errors import InputError
from tests.conftest import run_cli
from ui.auth import (
    auth_for,
    hash_password,
    login_required,
    make_checker,
    read_users_file,
    verify_password,
)
from ui.safe import mask_name, md_table, reviewer, text_html, text_md


def test_hash_verifies_only_the_right_password() -> None:
    encoded = hash_password("s3cret pass")
    assert encoded.startswith("scrypt$") and "s3cret" not in encoded
    assert verify_password("s3cret pass", encoded)
    assert not verify_password("s3cret pas", encoded)
    assert hash_password("s3cret pass") != encoded  # salted
    assert not verify_password("s3cret pass", "scrypt$broken")
    assert not verify_password("x", "md5$abc")


def test_checker_rejects_unknown_users_and_wrong_passwords() -> None:
    check = make_checker({"ana": hash_password("pw-ana")})
    assert check("ana", "pw-ana")
    assert not check("ana", "pw-bob")
    assert not check("bob", "pw-ana")
    assert not check("", "")


def test_login_required_on_non_loopback_addresses() -> None:
    auto = UISettings()
    assert not login_required(auto, "127.0.0.1") and not login_required(auto, "localhost")
    assert not login_required(auto, "::1")
    assert login_required(auto, "0.0.0.0") and login_required(auto, "192.168.1.20")
    assert login_required(UISettings(auth="on"), "127.0.0.1")
    assert not login_required(UISettings(auth="off"), "0.0.0.0")


def test_auth_without_users_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no user is configured"):
        auth_for(UISettings(), "0.0.0.0")
    assert auth_for(UISettings(), "127.0.0.1") is None
    users = tmp_path / "users"
    users.write_text(f"# team\nana:{hash_password('pw')}\n\n")
    check = auth_for(UISettings(users_file=users), "0.0.0.0")
    assert check is not None and check("ana", "pw")


def test_users_file_errors_name_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "users"
    bad.write_text("ana:plaintext-password\n")
    with pytest.raises(InputError, match=r"users:1: expected `username:scrypt"):
        read_users_file(bad)
    with pytest.raises(InputError, match="cannot read the users file"):
        read_users_file(tmp_path / "missing")


def test_serve_refuses_empty_workspace_and_public_bind_without_users(tmp_path: Path) -> None:
    from predictors.data.ingest import ingest
    from predictors.data.workspace import Workspace
    from tests.conftest import SAMPLE

    ws = tmp_path / "ws"
    Workspace.open(ws, create=True)
    done = run_cli("serve", "-w", str(ws), "--no-llm", timeout=120)
    assert done.returncode == 3 and "is empty" in done.stderr, done.stderr
    ingest("taobao", SAMPLE / "taobao" / "UserBehavior_sample.csv.gz", ws, source="taobao")
    done = run_cli("serve", "-w", str(ws), "--host", "0.0.0.0", "--no-llm",
                   env={"INSIGHT_UI__AUTH": "auto"}, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "no user is configured" in done.stderr and "Traceback" not in done.stderr
    users = tmp_path / "users"
    users.write_text("ana:not-a-hash\n")
    done = run_cli("serve", "-w", str(ws), "--host", "0.0.0.0", "--no-llm",
                   env={"INSIGHT_UI__USERS_FILE": str(users)}, timeout=120)
    assert done.returncode == 2 and str(users) in done.stderr, done.stderr


def test_password_hash_command(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("correct horse\n")
    done = run_cli("password-hash", "ana", "--password-file", str(secret))
    assert done.returncode == 0, done.stderr
    name, _, encoded = done.stdout.strip().partition(":")
    assert name == "ana" and verify_password("correct horse", encoded)


def test_untrusted_text_cannot_inject_markup() -> None:
    evil = '<script>alert(1)</script> ![pixel](http://evil.example/p.png) [click](javascript:x)'
    md = text_md(evil)
    assert "<script>" not in md and "&lt;script&gt;" in md
    assert "![" not in md and "](" not in md  # no image or link syntax survives
    html = text_html('<img src=x onerror="alert(1)">\x00')
    assert "<img" not in html and "&quot;" in html and "\x00" not in html
    table = md_table(["name"], [{"name": "<b>x</b> | y"}])
    assert "<b>" not in table and "\\|" in table


def test_reviewer_names_masked_unless_asked() -> None:
    assert mask_name("Jane Q. Doe") == "J*** Q*** D***"
    assert mask_name(None) == "(anonymous)"
    assert reviewer("Jane Doe", masked=True) == "J*** D***"
    assert reviewer("Jane Doe", masked=False) == "Jane Doe"


def test_entities_in_reviews_are_decoded_then_escaped() -> None:
    assert text_html("I am no &#34;audiophile&#34;") == "I am no &quot;audiophile&quot;"
    assert "<script>" not in text_html("&lt;script&gt;alert(1)&lt;/script&gt;")
