"""Login hashes and roles, when a login is required (no side doors), and how untrusted text is
made safe to show."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import InputError
from core.settings import UISettings
from tests.conftest import run_cli
from ui.auth import (
    Login,
    auth_for,
    configured_users,
    decide_login,
    hash_password,
    make_checker,
    read_users_file,
    serving_users,
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


# (exposed, ui.auth, users configured) → "open" (no login), "login", or the refusal's start.
OUTCOMES = {
    (False, "auto", False): "open", (False, "auto", True): "open",
    (False, "off", False): "open", (False, "off", True): "open",
    (False, "on", False): "login required (ui.auth=on)", (False, "on", True): "login",
    (True, "auto", False): "login required (", (True, "auto", True): "login",
    (True, "on", False): "login required (", (True, "on", True): "login",
    (True, "off", False): "ui.auth is off", (True, "off", True): "ui.auth is off",
}
EXPOSURES = [  # host, share, root_path, exposed
    ("127.0.0.1", False, "", False), ("localhost", False, "", False), ("::1", False, "", False),
    ("127.0.0.1", True, "", True), ("0.0.0.0", False, "", True), ("0.0.0.0", True, "", True),
    ("192.168.1.20", False, "", True), ("127.0.0.1", False, "/insight", True),
    ("0.0.0.0", True, "/insight", True),
]


@pytest.mark.parametrize("auth", ["auto", "on", "off"])
@pytest.mark.parametrize("has_users", [False, True])
@pytest.mark.parametrize(("host", "share", "root_path", "exposed"), EXPOSURES)
def test_login_decision_matrix(host: str, share: bool, root_path: str, exposed: bool,
                               auth: str, has_users: bool) -> None:
    settings = UISettings(auth=auth)
    decision = decide_login(settings, host, share=share, root_path=root_path,
                            has_users=has_users)
    expected = OUTCOMES[(exposed, auth, has_users)]
    if expected == "open":
        assert not decision.login and decision.refusal is None
    elif expected == "login":
        assert decision.login and decision.refusal is None
    else:
        assert decision.refusal is not None and decision.refusal.startswith(expected)
        assert "\n" not in decision.refusal  # one line
        if share:
            assert "--share" in decision.refusal
        if root_path:
            assert f"root path {root_path}" in decision.refusal
        if not host.startswith(("127.", "localhost", "::1")):
            assert f"bound to {host}" in decision.refusal
        if expected.startswith("login required"):
            assert "INSIGHT_UI__USERS_FILE" in decision.refusal
            assert "insight password-hash NAME --role ROLE" in decision.refusal


def test_share_without_users_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        serving_users(UISettings(), "127.0.0.1", share=True)
    assert str(caught.value) == (
        "login required (--share) but no users file: set INSIGHT_UI__USERS_FILE=/path/to/users "
        "(lines `name:hash:role`, make one with `insight password-hash NAME --role ROLE`)")
    empty = tmp_path / "users"
    empty.write_text("# nobody yet\n")
    with pytest.raises(InputError, match=f"the users file {empty} has no users"):
        serving_users(UISettings(users_file=empty), "0.0.0.0")
    with pytest.raises(InputError, match="cannot read the users file"):
        serving_users(UISettings(users_file=tmp_path / "missing"), "127.0.0.1", share=True)
    # loopback with auth auto or off never reads the file
    assert serving_users(UISettings(users_file=tmp_path / "missing"), "127.0.0.1") is None


def test_auth_off_never_opens_a_side_door(tmp_path: Path) -> None:
    users = {"ana": f"{hash_password('pw')}:admin"}
    for host, share, root in [("0.0.0.0", False, ""), ("127.0.0.1", True, ""),
                              ("127.0.0.1", False, "/bi")]:
        with pytest.raises(InputError, match="ui.auth is off but the app is reachable"):
            auth_for(UISettings(auth="off", users=users), host, share, root)
    assert auth_for(UISettings(auth="off", users=users), "127.0.0.1") is None


def test_auth_with_users_checks_passwords(tmp_path: Path) -> None:
    assert auth_for(UISettings(), "127.0.0.1") is None
    users = tmp_path / "users"
    users.write_text(f"# team\nana:{hash_password('pw')}:marketer\n\n")
    check = auth_for(UISettings(users_file=users), "0.0.0.0", share=True)
    assert check is not None and check("ana", "pw") and not check("ana", "pw2")
    assert serving_users(UISettings(users_file=users), "127.0.0.1", root_path="/bi") == {
        "ana": read_users_file(users)["ana"]}


def test_users_file_lines_carry_a_role(tmp_path: Path) -> None:
    encoded = hash_password("pw")
    good = tmp_path / "users"
    good.write_text(f"ana:{encoded}:admin\n  bob : {encoded} : support \n# x:y:z\n")
    assert read_users_file(good) == {"ana": Login(encoded, "admin"),
                                     "bob": Login(encoded, "support")}
    cases = {
        f"ana:{encoded}\n": r"users:1: no role: entries are now `username:scrypt\$…:role`",
        "ana:plaintext-password\n": r"users:1: expected `username:scrypt\$…:role`",
        f"ok:{encoded}:admin\nana:{encoded}:root\n": r"users:2: unknown role 'root'",
        f"ana:{encoded}:admin\nana:{encoded}:support\n": "users:2: user 'ana' is listed twice",
        f":{encoded}:admin\n": "users:1: expected",
        "ana:scrypt$1$2:admin\n": "users:1: expected",
    }
    for text, message in cases.items():
        good.write_text(text)
        with pytest.raises(InputError, match=message):
            read_users_file(good)
    with pytest.raises(InputError, match="cannot read the users file"):
        read_users_file(tmp_path / "missing")


def test_settings_users_accept_hash_and_role(tmp_path: Path) -> None:
    encoded = hash_password("pw")
    file = tmp_path / "users"
    file.write_text(f"ana:{encoded}:support\n")
    users = configured_users(UISettings(users={"ana": f"{encoded}:admin",
                                               "olga": f"{encoded}:operator"},
                                        users_file=file))
    assert users == {"ana": Login(encoded, "support"), "olga": Login(encoded, "operator")}
    with pytest.raises(InputError, match=r"ui.users\['ana'\]: no role"):
        configured_users(UISettings(users={"ana": encoded}))


def test_serve_refuses_empty_workspace_and_public_bind_without_users(tmp_path: Path) -> None:
    from store.ingest import ingest
    from store.workspace import Workspace
    from tests.conftest import SAMPLE

    ws = tmp_path / "ws"
    Workspace.open(ws, create=True)
    done = run_cli("serve", "-w", str(ws), "--no-llm", timeout=120)
    assert done.returncode == 3 and "is empty" in done.stderr, done.stderr
    ingest("taobao", SAMPLE / "taobao" / "UserBehavior_sample.csv.gz", ws, source="taobao")
    # --share on the default (loopback) host: refused, one line naming the users file
    done = run_cli("serve", "-w", str(ws), "--share", "--no-llm",
                   env={"INSIGHT_UI__AUTH": "auto"}, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0] == (
        "error: login required (--share) but no users file: set "
        "INSIGHT_UI__USERS_FILE=/path/to/users (lines `name:hash:role`, make one with "
        "`insight password-hash NAME --role ROLE`)")
    # auth off behind a reverse proxy: refused even with users configured
    users = tmp_path / "users"
    users.write_text(f"ana:{hash_password('pw')}:admin\n")
    done = run_cli("serve", "-w", str(ws), "--root-path", "/insight", "--no-llm",
                   env={"INSIGHT_UI__AUTH": "off", "INSIGHT_UI__USERS_FILE": str(users)},
                   timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "error: ui.auth is off" in done.stderr
    assert "root path /insight" in done.stderr
    users.write_text("ana:not-a-hash:admin\n")
    done = run_cli("serve", "-w", str(ws), "--host", "0.0.0.0", "--no-llm",
                   env={"INSIGHT_UI__USERS_FILE": str(users)}, timeout=120)
    assert done.returncode == 2 and f"{users}:1: expected" in done.stderr, done.stderr


def test_password_hash_command(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("correct horse\n")
    done = run_cli("password-hash", "ana", "--role", "marketer", "--password-file", str(secret))
    assert done.returncode == 0, done.stderr
    line = done.stdout.strip()
    name, _, rest = line.partition(":")
    encoded, _, role = rest.rpartition(":")
    assert name == "ana" and role == "marketer" and verify_password("correct horse", encoded)
    file = tmp_path / "users"
    file.write_text(line + "\n")
    assert read_users_file(file)["ana"].role == "marketer"  # the line is a valid users line
    done = run_cli("password-hash", "ana", "--role", "root", "--password-file", str(secret))
    assert done.returncode == 2 and "unknown role 'root'" in done.stderr, done.stderr
    done = run_cli("password-hash", "ana", "--password-file", str(secret))
    assert done.returncode == 2 and "--role" in done.stderr, done.stderr


def test_checker_accepts_logins_with_roles() -> None:
    check = make_checker({"ana": Login(hash_password("pw"), "support")})
    assert check("ana", "pw") and not check("ana", "x") and not check("bob", "pw")


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
