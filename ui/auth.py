"""Login for the app: scrypt password hashes from settings or a file, never plain passwords.

A hash reads `scrypt$N$r$p$salt$digest` (salt and digest in URL-safe base64); `hash_password`
writes one (`insight password-hash` prints it). Login is required whenever the app binds to a
non-loopback address unless settings say `auth: off` explicitly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import logging
import os
from collections.abc import Callable, Mapping
from pathlib import Path

from insight.settings import UISettings
from predictors.data.errors import InputError

log = logging.getLogger(__name__)

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
MAX_PASSWORD_CHARS = 1024


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


def read_users_file(path: Path) -> dict[str, str]:
    """`username:hash` lines (blank lines and `#` comments skipped); bad lines are errors."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise InputError(f"cannot read the users file {path}: {exc.strerror}") from exc
    users: dict[str, str] = {}
    for number, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, encoded = line.partition(":")
        if not sep or not name or not encoded.startswith("scrypt$"):
            raise InputError(f"{path}:{number}: expected `username:scrypt$…` (make the hash "
                             "with `insight password-hash`)")
        users[name.strip()] = encoded.strip()
    return users


def is_loopback(host: str) -> bool:
    """Whether `host` only accepts local connections (127.x, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login_required(settings: UISettings, host: str) -> bool:
    """Whether the app must ask for a login when bound to `host`."""
    if settings.auth == "on":
        return True
    if settings.auth == "off":
        return False
    return not is_loopback(host)


def configured_users(settings: UISettings) -> dict[str, str]:
    """Users from settings and the users file together (the file wins on a clash)."""
    users = dict(settings.users)
    if settings.users_file is not None:
        users.update(read_users_file(settings.users_file.expanduser()))
    return users


def make_checker(users: Mapping[str, str]) -> Callable[[str, str], bool]:
    """The `auth` callable for Gradio: checks a username and password against the hashes."""
    known = dict(users)
    # Verify against a dummy hash for unknown names, so timing does not reveal them.
    dummy = hash_password("not-a-user-password")

    def check(username: str, password: str) -> bool:
        encoded = known.get(username)
        ok = verify_password(password or "", encoded or dummy) and encoded is not None
        if not ok:
            log.warning("failed login for %r", username[:100] if username else "")
        return ok

    return check


def auth_for(settings: UISettings, host: str) -> Callable[[str, str], bool] | None:
    """The login checker to launch with, or None when no login is needed.

    Raises `InputError` when a login is required but no user is configured.
    """
    if not login_required(settings, host):
        return None
    users = configured_users(settings)
    if not users:
        reason = ("ui.auth is on" if settings.auth == "on" else
                  f"the app binds to {host}, which is not a loopback address")
        raise InputError(f"a login is required ({reason}) but no user is configured: add "
                         "`username:hash` lines to a file named by INSIGHT_UI__USERS_FILE "
                         "(make a hash with `insight password-hash`), or bind to 127.0.0.1")
    return make_checker(users)
