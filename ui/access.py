"""What the signed-in user may see and take away, decided by their role on every request.

The role comes from the login (`gr.Request.username` → the users file); with no login asked
(loopback only, see `ui.auth`) the local user has `ui.anonymous_role`. A signed-in name the app
does not know gets no rights at all (fail closed). Two settings decide, per role:

* `privacy.unmask_roles` (default admin) see reviewer names and raw user ids. Every other role
  sees reviewer names as initials ("J*** D***") and other users' ids as pseudonyms.
* `privacy.export_roles` (default admin, operator, marketer) may download CSV exports; for
  the others the download is hidden and the handler itself refuses to write a file.

User-id rule for masked roles: ids the app lists or writes out — the customer pickers, tables,
chart labels and every exported cell — are shown as a pseudonym `u-` + 10 hex characters of an
HMAC-SHA256 of "source/user id" under a random key made when the app starts: the same user has
the same pseudonym in every view for the life of the process, and it cannot be reversed outside
it. The app resolves the pseudonyms it has shown, so picking or typing one looks that customer
up. An id the viewer typed themselves (a support agent looking up the customer on the phone)
still works for every role and is echoed on screen as typed — showing someone what they typed
reveals nothing — but exports always carry the pseudonym, since files travel. LLM prose about a
customer picked by pseudonym has the real id replaced (`hide_user_id`; best effort: a short id
only where it reads as an id, "user 12", "customer 12", "[U:12]").
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from core.settings import Settings
from ui.safe import reviewer

PSEUDONYM_PREFIX = "u-"
PSEUDONYM_HEX = 10
NO_ROLE = "none"
USER_ID_COLUMNS = frozenset({"user_id", "user", "customer", "customer_id"})
PSEUDONYM = re.compile(rf"{PSEUDONYM_PREFIX}[0-9a-f]{{{PSEUDONYM_HEX}}}")
SHORT_ID = 6  # ids shorter than this are only replaced where they read as an id


class Pseudonyms:
    """Keyed, stable pseudonyms of user ids, and the way back for the ones handed out."""

    def __init__(self, key: bytes | None = None) -> None:
        self._key = key or secrets.token_bytes(32)
        self._known: dict[str, tuple[str | None, str]] = {}
        self._lock = threading.Lock()

    def of(self, source: str | None, user_id: str) -> str:
        """The pseudonym of `user_id` in `source` (remembered so it can be looked up)."""
        mac = hmac.new(self._key, f"{source or ''}/{user_id}".encode(), hashlib.sha256)
        name = PSEUDONYM_PREFIX + mac.hexdigest()[:PSEUDONYM_HEX]
        with self._lock:
            self._known.setdefault(name, (source, str(user_id)))
        return name

    def resolve(self, source: str | None, ident: str) -> tuple[str | None, str]:
        """(source, real id) of a pseudonym handed out before; anything else unchanged."""
        with self._lock:
            found = self._known.get(ident.strip())
        if found is None or (source and found[0] and source != found[0]):
            return source, ident.strip()
        return found[0] or source, found[1]


def hide_user_id(text: str, user_id: str, shown: str) -> str:
    """`text` with the real `user_id` replaced by `shown`, when `shown` is a pseudonym (safe to
    put in HTML too: it is `u-` and hex digits only)."""
    if not user_id or not text or shown == user_id or not PSEUDONYM.fullmatch(shown):
        return text
    ident = re.escape(user_id)
    if len(user_id) >= SHORT_ID:
        return re.sub(rf"(?<!\w){ident}(?!\w)", lambda _: shown, text)
    return re.sub(rf"((?:[Uu]ser|[Cc]ustomer|id|ID)\W{{0,3}}|U:){ident}(?!\w)",
                  lambda m: m.group(1) + shown, text)


@dataclass(frozen=True)
class Access:
    """One request's viewer: their role and what it allows."""

    user: str | None
    role: str
    unmask: bool
    export: bool
    pseudonyms: Pseudonyms = field(default_factory=Pseudonyms, repr=False, compare=False)

    def reviewer(self, name: Any) -> str:
        """A reviewer name as this viewer may see it."""
        return reviewer(name, masked=not self.unmask)

    def user_id(self, source: str | None, user_id: Any) -> str:
        """Another user's id as this viewer may see it (raw, or its pseudonym)."""
        text = "" if user_id is None else str(user_id)
        if self.unmask or not text:
            return text
        return self.pseudonyms.of(source, text)

    def user_choices(self, rows: Iterable[tuple[str, str, int]]) -> list[tuple[str, str]]:
        """(label, "source/id") picker choices from (source, user id, events) rows."""
        choices = []
        for source, user_id, events in rows:
            shown = self.user_id(source, user_id)
            choices.append((f"{shown} · {source} ({events} events)", f"{source}/{shown}"))
        return choices

    def rows(self, columns: list[str], rows: list[dict[str, Any]],
             source: str | None = None) -> list[dict[str, Any]]:
        """Table rows with reviewer-name and user-id columns masked for this viewer."""
        if self.unmask:
            return rows
        masked_ids = [c for c in columns if c.lower() in USER_ID_COLUMNS]
        names = [c for c in columns if c.lower() == "reviewer_name"]
        if not masked_ids and not names:
            return rows
        out = []
        for row in rows:
            copy = dict(row)
            for column in masked_ids:
                copy[column] = self.user_id(row.get("source", source), row.get(column))
            for column in names:
                copy[column] = self.reviewer(row.get(column))
            out.append(copy)
        return out

    def label(self) -> str:
        """"Signed in as NAME (role)" or the local user's role."""
        who = f"signed in as {self.user}" if self.user else "local user (no login)"
        rights = [*(["unmasked data"] if self.unmask else []),
                  *(["CSV export"] if self.export else [])]
        return f"{who} · role {self.role}" + (f" · {', '.join(rights)}" if rights else "")


def role_access(settings: Settings, role: str, user: str | None = None,
                pseudonyms: Pseudonyms | None = None) -> Access:
    """What `role` may see and export under the privacy settings."""
    privacy = settings.privacy
    known = role != NO_ROLE
    return Access(user=user, role=role, unmask=known and role in privacy.unmask_roles,
                  export=known and role in privacy.export_roles,
                  pseudonyms=pseudonyms or Pseudonyms())


def request_access(settings: Settings, roles: dict[str, str] | None, request: Any,
                   pseudonyms: Pseudonyms | None = None) -> Access:
    """The viewer of a Gradio request: the login's role, or the anonymous role without login.

    `roles` is None when the app asks no login; otherwise a name missing from it (or a
    request without a name) gets no rights.
    """
    username = getattr(request, "username", None) if request is not None else None
    if roles is None:
        return role_access(settings, settings.ui.anonymous_role, None, pseudonyms)
    role = roles.get(username, NO_ROLE) if username else NO_ROLE
    return role_access(settings, role, username, pseudonyms)
