"""Login for the app: scrypt password hashes with a role, from settings or a file; no side doors.

A hash reads `scrypt$N$r$p$salt$digest` (salt and digest in URL-safe base64); `hash_password`
writes one. Every login carries a role, one of `ROLES`:

* the users file (`ui.users_file`) holds one `username:scrypt$…:role` line per login (blank
  lines and `#` comments skipped); `insight password-hash NAME --role ROLE` prints such a line.
* `ui.users` maps a username to `"scrypt$…:role"`.

Legacy entries without a role (`username:scrypt$…`, from before roles existed) are an error
naming the file and line (or the `ui.users` key), never a silent default: guessing a role could
hand out exports or unmasked data. So is an unknown role, a malformed hash or a name given twice
in the file. The file wins over `ui.users` on a clash.

When a login is asked (`decide_login`): the app is *exposed* when anything but this machine can
reach it: a non-loopback bind address, `--share` (a public gradio.live tunnel) or a reverse
proxy's `root_path`. Then `ui.auth` auto and on both require a login, and `ui.auth: off` does
NOT open a side door: the app refuses to start (off only means "no login" on loopback, where
the local user gets `ui.anonymous_role`). On loopback, auto asks no login and on asks one. A
required login without any configured user is a one-line refusal naming the missing users file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.settings import UISettings

log = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_PASSWORD_CHARS = 1024
ROLES = ("admin", "operator", "marketer", "support")
LINE_FORM = "`username:scrypt$…:role`"
MAKE_ONE = "make one with `insight password-hash NAME --role ROLE`"


@dataclass(frozen=True)
class Login:
    """One configured login: its password hash and its role."""

    hash: str
    role: str


@dataclass(frozen=True)
class LoginDecision:
    """Whether to ask for a login, or the one-line reason the app must not start."""

    login: bool
    refusal: str | None = None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
                  p: int = SCRYPT_P) -> str:
    """A salted scrypt hash of `password` in the `scrypt$N$r$p$salt$digest` form."""
    if not password:
        raise InputError("the password is empty")
    salt = os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
    return f"scrypt${n}${r}${p}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Whether `password` matches `encoded` (constant-time compare; malformed hash → False)."""
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt" or len(password) > MAX_PASSWORD_CHARS:
            return False
        expected = _unb64(digest)
        actual = hashlib.scrypt(password.encode(), salt=_unb64(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def check_role(role: str) -> str:
    """`role` when it is one of `ROLES`, else an `InputError` listing them."""
    if role not in ROLES:
        raise InputError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return role


def user_line(username: str, encoded: str, role: str) -> str:
    """A users-file line `username:hash:role` (the name is checked, the role too)."""
    name = username.strip()
    if not name or ":" in name or name.startswith("#"):
        raise InputError("the user name must be non-empty, contain no ':' and not start with #")
    return f"{name}:{encoded}:{check_role(role)}"


def parse_login(value: str, where: str) -> Login:
    """`scrypt$…:role` as a `Login`; `where` names the line or key in the error."""
    encoded, sep, role = value.strip().rpartition(":")
    encoded = encoded.strip()
    if not sep and value.strip().startswith("scrypt$"):
        raise InputError(f"{where}: no role: entries are now {LINE_FORM} (role one of "
                         f"{', '.join(ROLES)}); {MAKE_ONE}")
    if not encoded.startswith("scrypt$") or encoded.count("$") != 5:
        raise InputError(f"{where}: expected {LINE_FORM} ({MAKE_ONE})")
    if role.strip() not in ROLES:
        raise InputError(f"{where}: unknown role {role.strip()!r} (use one of "
                         f"{', '.join(ROLES)})")
    return Login(hash=encoded, role=role.strip())


def read_users_file(path: Path) -> dict[str, Login]:
    """`username:hash:role` lines (blank lines and `#` comments skipped); bad lines are errors."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the users file {path}: {exc.strerror}") from exc
    users: dict[str, Login] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{number}"
        name, sep, rest = line.partition(":")
        name = name.strip()
        if not sep or not name:
            raise InputError(f"{where}: expected {LINE_FORM} ({MAKE_ONE})")
        if name in users:
            raise InputError(f"{where}: user {name!r} is listed twice")
        users[name] = parse_login(rest, where)
    return users


def configured_users(settings: UISettings) -> dict[str, Login]:
    """Users from settings and the users file together (the file wins on a clash)."""
    users = {name: parse_login(value, f"ui.users[{name!r}]")
             for name, value in settings.users.items()}
    if settings.users_file is not None:
        users.update(read_users_file(settings.users_file.expanduser()))
    return users


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts local connections (127.x, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure(host: str, share: bool = False, root_path: str = "") -> list[str]:
    """Why the app is reachable from beyond this machine (empty: loopback only)."""
    reasons = []
    if not is_loopback(host):
        reasons.append(f"bound to {host}")
    if share:
        reasons.append("--share")
    if root_path.strip():
        reasons.append(f"root path {root_path.strip()}")
    return reasons


def decide_login(settings: UISettings, host: str, *, share: bool = False, root_path: str = "",
                 has_users: bool) -> LoginDecision:
    """Ask a login, serve without one, or refuse (see the module docstring for the rules)."""
    reasons = exposure(host, share, root_path)
    if reasons and settings.auth == "off":
        return LoginDecision(False, (
            f"ui.auth is off but the app is reachable from outside this machine "
            f"({', '.join(reasons)}) and would have no login: set INSIGHT_UI__AUTH=auto (or on) "
            "and configure users, or serve on 127.0.0.1 without --share or a root path"))
    if not reasons and settings.auth != "on":
        return LoginDecision(False)
    if has_users:
        return LoginDecision(True)
    why = ", ".join(reasons) or "ui.auth=on"
    if settings.users_file is None:
        missing = ("no users file: set INSIGHT_UI__USERS_FILE=/path/to/users (lines "
                   f"`name:hash:role`, {MAKE_ONE})")
    else:
        missing = (f"the users file {settings.users_file} has no users (add lines "
                   f"`name:hash:role`, {MAKE_ONE})")
    return LoginDecision(True, f"login required ({why}) but {missing}")


def serving_users(settings: UISettings, host: str, share: bool = False,
                  root_path: str = "") -> dict[str, Login] | None:
    """The logins to serve with, or None when no login is asked.

    Raises `InputError` (one line) when the app must not start: a login is required without
    users, `ui.auth: off` on an exposed app, or a bad users file.
    """
    wanted = decide_login(settings, host, share=share, root_path=root_path, has_users=True)
    if wanted.refusal:
        raise InputError(wanted.refusal)
    if not wanted.login:
        return None
    users = configured_users(settings)
    decision = decide_login(settings, host, share=share, root_path=root_path,
                            has_users=bool(users))
    if decision.refusal:
        raise InputError(decision.refusal)
    return users


def make_checker(users: Mapping[str, Login | str]) -> Callable[[str, str], bool]:
    """The `auth` callable for Gradio: checks a username and password against the hashes."""
    known = {name: u.hash if isinstance(u, Login) else u for name, u in users.items()}
    # Verify against a dummy hash for unknown names, so timing does not reveal them.
    dummy = hash_password("not-a-user-password")

    def check(username: str, password: str) -> bool:
        encoded = known.get(username)
        ok = verify_password(password or "", encoded or dummy) and encoded is not None
        if not ok:
            log.warning("failed login for %r", username[:100] if username else "")
        return ok

    return check


def auth_for(settings: UISettings, host: str, share: bool = False,
             root_path: str = "") -> Callable[[str, str], bool] | None:
    """The login checker to launch with, or None when no login is needed (see
    `serving_users` for when it raises `InputError`)."""
    users = serving_users(settings, host, share, root_path)
    return None if users is None else make_checker(users)
