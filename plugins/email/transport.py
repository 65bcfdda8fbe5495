"""How a composed message leaves: SMTP (aiosmtplib) or the local outbox.

``ORCHESTRATOR_BLOCKS_SMTP_URL`` picks SMTP::

    smtp://[user:password@]host[:port][?starttls=1|0&timeout=SECONDS&cafile=PATH]   (port 25)
    smtps://[user:password@]host[:port][?timeout=SECONDS&cafile=PATH]               (port 465)

``starttls=1`` requires the STARTTLS upgrade, ``starttls=0`` never attempts it, and without
the parameter the connection is upgraded whenever the server offers it. ``cafile`` names a
PEM bundle to trust (a private CA, a test server's self-signed certificate); certificates
are always verified. User and password are URL-encoded (``p%40ss`` is ``p@ss``).

Without it, messages are written as ``.eml`` files into the outbox directory
(``$ORCHESTRATOR_BLOCKS_HOME/outbox``): the embedded default, so a laptop needs no mail
server to try a workflow.

aiosmtplib's exceptions are mapped to the family's codes once, in
:func:`classify_smtp_error`. The URL's password never appears in a message, a detail or a
log line: :class:`SmtpTarget` hides it from ``repr`` and every message is scrubbed.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import aiosmtplib

from orchestrator_blocks import sdk

from .codes import AUTH_FAILED, PERMANENT, SMTP_URL_ENV, TIMEOUT, TRANSIENT, UNKNOWN_OUTCOME
from .message import Outgoing

__all__ = [
    "SmtpPool",
    "SmtpTarget",
    "classify_smtp_error",
    "parse_smtp_url",
    "send_smtp",
    "smtp_errors",
    "write_outbox",
]

DEFAULT_TIMEOUT_S = 30.0
_QUIT_TIMEOUT_S = 2.0
# Replies that mean "your credentials are not accepted" rather than "try later".
_AUTH_CODES = frozenset({530, 534, 535, 538})
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    """Where and how to connect; ``password`` is kept out of ``repr``."""

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool | None = None
    timeout: float = DEFAULT_TIMEOUT_S
    cafile: str | None = None

    @property
    def implicit_tls(self) -> bool:
        return self.scheme == "smtps"

    def describe(self) -> str:
        """``smtp://host:port`` (never the credentials): safe for messages and logs."""
        return f"{self.scheme}://{self.host}:{self.port}"


def _bad_url(problem: str) -> sdk.BlockError:
    return sdk.BlockError(
        PERMANENT,
        f"{SMTP_URL_ENV} is not usable: {problem} (expected "
        "smtp://[user:password@]host[:port][?starttls=1|0&timeout=SECONDS&cafile=PATH] "
        "or smtps://...)",
        details={"transport": "smtp"},
    )


def _flag(raw: str, name: str) -> bool:
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _bad_url(f"query parameter {name}={raw!r} is not true or false")


def parse_smtp_url(url: str) -> SmtpTarget:
    """Parse the SMTP URL; a bad one is ``email.smtp.permanent`` (a human must fix it).

    The error never quotes the URL, since it may carry the password.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise _bad_url("it cannot be parsed (is the port a number?)") from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps"):
        raise _bad_url(f"the scheme must be smtp or smtps, not {scheme or '(none)'!r}")
    if not parts.hostname:
        raise _bad_url("it names no host")
    starttls: bool | None = None
    timeout = DEFAULT_TIMEOUT_S
    cafile: str | None = None
    for key, raw in parse_qsl(parts.query, keep_blank_values=True):
        if key == "starttls":
            starttls = _flag(raw, key)
        elif key == "timeout":
            try:
                timeout = float(raw)
            except ValueError:
                raise _bad_url(f"timeout={raw!r} is not a number of seconds") from None
            if timeout <= 0:
                raise _bad_url("timeout must be > 0 seconds")
        elif key == "cafile":
            if not raw:
                raise _bad_url("cafile= names no file")
            cafile = raw
        else:
            raise _bad_url(f"unknown query parameter {key!r} (known: starttls, timeout, cafile)")
    if scheme == "smtps" and starttls is not None:
        raise _bad_url("smtps already uses TLS; starttls only applies to smtp://")
    return SmtpTarget(
        scheme=scheme,
        host=parts.hostname,
        port=port or (465 if scheme == "smtps" else 25),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        starttls=None if scheme == "smtps" else starttls,
        timeout=timeout,
        cafile=cafile,
    )


def _scrub(text: str, target: SmtpTarget) -> str:
    """Remove the password (raw and URL-encoded) from text that may reach a log."""
    if target.password:
        for form in {target.password, quote(target.password, safe="")}:
            text = text.replace(form, "***")
    return text


def classify_smtp_error(exc: BaseException, target: SmtpTarget) -> sdk.BlockError | None:
    """The family's one mapping from aiosmtplib/OS failures to codes (``None``: not ours).

    Timeouts -> ``timeout``; rejected credentials (and a server without AUTH when
    credentials are configured) -> ``auth_failed``; 4xx replies and lost, refused
    or reset connections -> ``transient``; other 5xx replies -> ``permanent``.
    """
    where = target.describe()
    details: dict[str, Any] = {"transport": "smtp", "server": where}

    def error(
        code: str, message: str, disposition: str, status: int | None = None
    ) -> sdk.BlockError:
        return sdk.BlockError(
            code,
            _scrub(message, target),
            retry_disposition=disposition,
            provider_status=status,
            details=details,
        )

    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return error(TIMEOUT, f"SMTP server {where} timed out: {exc}", "backoff")
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return error(
            AUTH_FAILED,
            f"SMTP server {where} rejected the login ({exc.code} {exc.message}); "
            f"fix the user/password in {SMTP_URL_ENV}",
            "never",
            exc.code,
        )
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        refused = [(r.recipient, r.code, r.message) for r in exc.recipients]
        details["refused"] = [{"recipient": r, "code": c, "message": m} for r, c, m in refused]
        worst = next((c for _, c, _ in refused if not 400 <= c < 500), refused[0][1])
        summary = "; ".join(f"{r}: {c} {m}" for r, c, m in refused)
        if 400 <= worst < 500:
            return error(
                TRANSIENT,
                f"SMTP server {where} deferred every recipient: {summary}",
                "backoff",
                worst,
            )
        return error(
            PERMANENT, f"SMTP server {where} refused every recipient: {summary}", "never", worst
        )
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        code, reply = exc.code, f"{exc.code} {exc.message}"
        if code in _AUTH_CODES:
            return error(
                AUTH_FAILED,
                f"SMTP server {where} requires valid authentication ({reply}); "
                f"set the user/password in {SMTP_URL_ENV}",
                "never",
                code,
            )
        if 500 <= code < 600:
            return error(
                PERMANENT, f"SMTP server {where} refused the message: {reply}", "never", code
            )
        return error(TRANSIENT, f"SMTP server {where} answered {reply}", "backoff", code)
    if isinstance(exc, aiosmtplib.SMTPConnectError | aiosmtplib.SMTPServerDisconnected):
        if isinstance(exc.__cause__, ssl.SSLCertVerificationError):
            return error(
                PERMANENT, f"TLS certificate of SMTP server {where} is not trusted: {exc}", "never"
            )
        return error(TRANSIENT, f"SMTP server {where} unreachable: {exc}", "backoff")
    if isinstance(exc, aiosmtplib.SMTPException):
        if "AUTH" in str(exc):
            return error(AUTH_FAILED, f"SMTP server {where}: {exc}", "never")
        return error(PERMANENT, f"SMTP server {where}: {exc}", "never")
    if isinstance(exc, ssl.SSLError):
        return error(PERMANENT, f"TLS with SMTP server {where} failed: {exc}", "never")
    if isinstance(exc, OSError):
        return error(TRANSIENT, f"SMTP server {where} unreachable: {exc}", "backoff")
    return None


@contextlib.contextmanager
def smtp_errors(target: SmtpTarget) -> Iterator[None]:
    """Translate library failures inside the block into ``BlockError`` (the boundary)."""
    try:
        yield
    except sdk.BlockError:
        raise
    except Exception as exc:
        mapped = classify_smtp_error(exc, target)
        if mapped is None:
            raise
        raise mapped from None


class _TrackedSMTP(aiosmtplib.SMTP):
    """Knows whether the message itself was handed over (the DATA command was sent)."""

    data_sent = False

    async def data(self, message: str | bytes, /, **kwargs: Any) -> aiosmtplib.SMTPResponse:
        self.data_sent = True
        return await super().data(message, **kwargs)


_AMBIGUOUS = (aiosmtplib.SMTPTimeoutError, aiosmtplib.SMTPServerDisconnected, TimeoutError, OSError)


def _unknown(target: SmtpTarget, exc: BaseException) -> sdk.BlockError:
    return sdk.BlockError(
        UNKNOWN_OUTCOME,
        f"SMTP server {target.describe()} got the message but its answer never came "
        f"({_scrub(str(exc) or type(exc).__name__, target)}): it may have been delivered, so "
        "it is not sent again; check the mailbox or the server's log, then settle it",
        retry_disposition=sdk.RetryDisposition.MANUAL,
        severity=sdk.Severity.WARN,
        details={"transport": "smtp", "server": target.describe(), "phase": "data"},
    )


async def _transact(smtp: _TrackedSMTP, target: SmtpTarget, outgoing: Outgoing) -> Any:
    """One message on an open session (MAIL, RCPT, DATA); a timeout or a lost connection
    after DATA was sent is ``email.unknown_outcome``."""
    smtp.data_sent = False
    try:
        if outgoing.data is not None:  # already the wire form: 7-bit text, ASCII addresses
            refused, _ = await smtp.sendmail(outgoing.sender, outgoing.recipients, outgoing.data)
        else:
            refused, _ = await smtp.send_message(
                outgoing.message, sender=outgoing.sender, recipients=outgoing.recipients
            )
    except _AMBIGUOUS as exc:
        if smtp.data_sent:
            raise _unknown(target, exc) from None
        raise
    return refused


def _session(target: SmtpTarget) -> _TrackedSMTP:
    return _TrackedSMTP(
        hostname=target.host,
        port=target.port,
        username=target.username,
        password=target.password,
        use_tls=target.implicit_tls,
        start_tls=target.starttls,
        timeout=target.timeout,
        cert_bundle=target.cafile,
    )


def _closed_by_server(exc: BaseException) -> bool:
    """An idle session the server has dropped meanwhile (nothing of this message was sent)."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return exc.code == 421  # "service closing transmission channel"
    return isinstance(exc, aiosmtplib.SMTPServerDisconnected | ConnectionError)


class SmtpPool:
    """SMTP sessions to one server, kept open across the sends of one run (a fan-out's items
    share them): at most ``size`` at once, each connected (TLS, STARTTLS, AUTH) once.

    A session goes back to the pool only after a message went through on it; after any
    failure (or a cancelled attempt) it is closed, and the next send opens a new one. An
    idle session the server closed meanwhile is replaced once, before anything of the
    message was sent. The ``unknown_outcome`` rule is :func:`send_smtp`'s.
    """

    def __init__(self, target: SmtpTarget, size: int) -> None:
        self.target = target
        self._idle: list[_TrackedSMTP] = []
        self._slots = asyncio.Semaphore(size)

    async def send(self, outgoing: Outgoing) -> dict[str, str]:
        """Deliver ``outgoing``; returns the recipients the server refused."""
        async with self._slots:
            smtp = self._idle.pop() if self._idle else None
            delivered = False
            try:
                with smtp_errors(self.target):
                    if smtp is not None:
                        try:
                            refused = await _transact(smtp, self.target, outgoing)
                        except Exception as exc:
                            if smtp.data_sent or not _closed_by_server(exc):
                                raise
                            smtp.close()  # reconnect: this message never left
                            smtp = None
                    if smtp is None:
                        smtp = _session(self.target)
                        await smtp.connect()
                        refused = await _transact(smtp, self.target, outgoing)
                delivered = True
            finally:
                if delivered and smtp is not None:
                    self._idle.append(smtp)
                elif smtp is not None:
                    smtp.close()
        return {addr: f"{r.code} {r.message}" for addr, r in refused.items()}

    async def aclose(self) -> None:
        """Say goodbye to every idle session (bounded), then close them."""
        idle, self._idle = self._idle, []
        for smtp in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError, asyncio.TimeoutError):
                await smtp.quit(timeout=min(self.target.timeout, _QUIT_TIMEOUT_S))
            smtp.close()


async def send_smtp(target: SmtpTarget, outgoing: Outgoing) -> dict[str, str]:
    """Deliver ``outgoing``; returns the recipients the server refused (others got it).

    The connection is closed on every path, including cancellation by the block timeout,
    so a slow server never keeps a socket open past the attempt. A timeout or a lost
    connection after the DATA command was sent is ``email.unknown_outcome`` (never
    retried): the server may have accepted the message before its answer was lost.
    """
    smtp = _session(target)
    try:
        with smtp_errors(target):
            await smtp.connect()
            refused = await _transact(smtp, target, outgoing)
        with contextlib.suppress(aiosmtplib.SMTPException, OSError):
            await smtp.quit(timeout=min(target.timeout, _QUIT_TIMEOUT_S))
    finally:
        smtp.close()
    return {addr: f"{r.code} {r.message}" for addr, r in refused.items()}


def _file_stem(now: datetime, message_id: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", message_id.strip("<>"))[:120]
    return f"{now.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}-{safe}"


def write_outbox(outbox: Path, outgoing: Outgoing, now: datetime) -> Path:
    """Write the message as ``<outbox>/<UTC timestamp>-<message id>.eml``, atomically.

    The bytes go to a hidden temporary file in the same directory, which is then linked
    into place under a name no other message has (never overwriting one), so a reader of
    the outbox never sees a half-written message. A failure is ``email.smtp.permanent``:
    the outbox needs a human (permissions, disk space).
    """
    data = outgoing.message.as_bytes()
    tmp: str | None = None
    try:
        outbox.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=outbox, prefix=".", suffix=".eml.tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        stem = _file_stem(now, outgoing.message_id)
        for n in range(1000):
            path = outbox / (f"{stem}.eml" if n == 0 else f"{stem}-{n}.eml")
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
            except OSError:  # no hard links on this file system: rename (may overwrite)
                if path.exists():
                    continue
                os.replace(tmp, path)
                tmp = None
            break
        else:
            raise FileExistsError(errno.EEXIST, "too many messages with this name", str(path))
    except OSError as exc:
        raise sdk.BlockError(
            PERMANENT,
            f"could not write the message to the outbox {outbox}: {exc.strerror or exc}",
            provider_status=errno.errorcode.get(exc.errno, exc.errno) if exc.errno else None,
            details={"transport": "outbox", "outbox": str(outbox)},
        ) from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    return path
