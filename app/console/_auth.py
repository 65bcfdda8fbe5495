"""Who may use the console: a login token on disk, server-side sessions, CSRF tokens.

The token is generated on first start and kept in ``$ORCHESTRATOR_BLOCKS_HOME/console-token``
(mode 0600), so only the local user who can read that file can log in. A login names a
person; decisions are taken as that name, and :func:`kernel.approvals.decide` still refuses
anyone but the configured approver. Sessions live in memory (a restart logs everyone out)
and carry their own CSRF token, which every state-changing form and API call must echo.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CSRF_HEADER",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "Session",
    "Sessions",
    "ensure_token",
    "token_path",
]

SESSION_COOKIE = "ob_console_session"
LOGIN_CSRF_COOKIE = "ob_console_login"
CSRF_HEADER = "X-CSRF-Token"
SESSION_TTL_S = 12 * 3600


def token_path(home: Path) -> Path:
    return Path(home) / "console-token"


def ensure_token(home: Path) -> tuple[Path, str, bool]:
    """The login token ``(path, token, created_now)``; created with mode 0600 if missing.

    An existing file with looser permissions is tightened to 0600 rather than trusted as is.
    """
    path = token_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return path, token, False
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC, 0o600)
    token = secrets.token_urlsafe(24)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(token + "\n")
    path.chmod(0o600)
    return path, token, True


@dataclass
class Session:
    sid: str
    name: str
    csrf: str
    expires: float
    flash: list[tuple[str, str]] = field(default_factory=list)


class Sessions:
    """In-memory sessions keyed by an unguessable id (the HttpOnly cookie's value)."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def check_token(self, candidate: str) -> bool:
        return secrets.compare_digest(candidate.strip().encode(), self._token.encode())

    def create(self, name: str) -> Session:
        session = Session(
            sid=secrets.token_urlsafe(32),
            name=name,
            csrf=secrets.token_urlsafe(32),
            expires=time.time() + SESSION_TTL_S,
        )
        with self._lock:
            self._sessions[session.sid] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is not None and session.expires < time.time():
                del self._sessions[sid]
                return None
            return session

    def drop(self, sid: str) -> None:
        with self._lock:
            self._sessions.pop(sid, None)


def csrf_ok(session: Session | None, candidate: str | None) -> bool:
    """True when ``candidate`` is this session's CSRF token (constant-time comparison)."""
    if session is None or not candidate:
        return False
    return secrets.compare_digest(candidate.encode(), session.csrf.encode())
