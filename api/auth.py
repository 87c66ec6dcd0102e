"""API keys and the loopback-only mode of the scoring API.

Keys come from the settings (`api.keys`, env ``INSIGHT_API__KEYS=key1,key2``) and from
`api.keys_file` (one key a line, ``#`` comments). A request sends one as
``Authorization: Bearer KEY``. With no key configured the API is loopback-only: it refuses to
bind a non-loopback address (:func:`check_bind`) and answers only loopback clients.
"""

from __future__ import annotations

import hmac
import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from core.errors import InputError
from core.settings import ApiSettings

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


@dataclass(frozen=True)
class KeyRing:
    """The accepted keys; empty means loopback-only without keys."""

    keys: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        """Whether requests must carry a key."""
        return bool(self.keys)

    def accepts(self, header: str | None) -> bool:
        """Whether an ``Authorization`` header value carries one of the keys."""
        if not header:
            return False
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        token_bytes = token.strip().encode()
        found = False
        for key in self.keys:  # compare with every key: timing does not reveal which matched
            found |= hmac.compare_digest(token_bytes, key.encode())
        return found


def load_keys(settings: ApiSettings) -> KeyRing:
    """The keys of the settings plus those of `keys_file`; an unreadable file is bad input."""
    keys = [k.get_secret_value().strip() for k in settings.keys]
    if settings.keys_file is not None:
        path = Path(settings.keys_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"api.keys_file {path}: cannot read it ({exc.strerror})") from exc
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                keys.append(line)
    short = [k for k in keys if len(k) < 16]
    if short:
        raise InputError(f"api.keys: {len(short)} key(s) shorter than 16 characters; use long "
                         "random keys (e.g. `python -c 'import secrets; "
                         "print(secrets.token_urlsafe(32))'`)")
    return KeyRing(tuple(dict.fromkeys(k for k in keys if k)))


def is_loopback_host(host: str) -> bool:
    """Whether `host` (a name or an address) is a loopback interface."""
    name = host.strip().strip("[]").lower()
    if name in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(name, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(str(i[4][0]).split("%")[0]).is_loopback
                               for i in infos)


def check_bind(host: str, keys: KeyRing) -> None:
    """Refuse to serve beyond loopback without keys (an `InputError` saying how to fix it)."""
    if not keys.required and not is_loopback_host(host):
        raise InputError(
            f"refusing to bind {host!r} without API keys: the API would answer anyone on the "
            "network. Set INSIGHT_API__KEYS (comma-separated) or api.keys_file, or bind "
            "127.0.0.1")


def is_loopback_client(client_host: str | None) -> bool:
    """Whether a request's peer address is loopback (None, as from an in-process test
    client, counts as local)."""
    if client_host is None or client_host in ("testclient", "localhost"):
        return True
    try:
        return ipaddress.ip_address(client_host.split("%")[0]).is_loopback
    except ValueError:
        return False
