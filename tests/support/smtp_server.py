"""A scriptable SMTP server on loopback: the real peer of email-sending blocks in tests.

Built on aiosmtpd's threaded ``Controller`` (its own event loop in a thread), so a test can
run a workflow synchronously against it. Every mail transaction (one ``MAIL FROM``) takes
the next :class:`Mode` of the script (the last one repeats), which lets a test say "451,
451, then accept" and observe the block's retries against a real socket::

    with SmtpPeer() as peer:                                  # accepts everything
        os.environ["ORCHESTRATOR_BLOCKS_SMTP_URL"] = peer.url  # smtp://127.0.0.1:PORT
        ...
        peer.messages[0]["Subject"]                           # email.message.EmailMessage

    peer.set_mode("transient", code=451)                      # every transaction: 451 at RCPT
    peer.script(Mode("transient", code=421, stage="mail"), Mode("accept"))
    peer.set_mode("slow", delay=5.0)                          # sit on MAIL FROM for 5 s
    peer.set_mode("accept", refuse=("gone@example.org",))     # 550 for that RCPT only

    with SmtpPeer(auth=("mailer", "s3cret")) as peer:         # AUTH required (no TLS needed)
        peer.url_for("mailer", "s3cret")                      # smtp://mailer:s3cret@127.0.0.1:PORT

    with SmtpPeer(tls="starttls") as peer:                    # self-signed cert (openssl CLI)
        peer.cafile                                           # PEM to trust; see tls_available()

``transactions`` counts ``MAIL FROM`` commands (one per delivery attempt that got that far),
``logins`` records ``(username, accepted)`` per AUTH attempt. Reads are thread-safe copies.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import shutil
import ssl
import subprocess
import tempfile
import threading
import warnings
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote, urlencode

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

__all__ = ["Delivery", "Mode", "SmtpPeer", "tls_available"]

ModeKind = Literal["accept", "transient", "permanent", "slow", "slow_ack"]
Stage = Literal["mail", "rcpt", "data"]
_DEFAULT_CODES = {"transient": 451, "permanent": 550}
_REPLY_TEXT = {
    421: "4.3.2 Service not available, closing channel",
    450: "4.2.1 Mailbox busy, try again later",
    451: "4.3.0 Local error in processing, try again later",
    452: "4.3.1 Insufficient system storage",
    550: "5.1.1 Mailbox unavailable",
    551: "5.1.6 User not local",
    552: "5.3.4 Message size exceeds fixed limit",
    553: "5.1.3 Mailbox name not allowed",
    554: "5.7.1 Transaction failed: message rejected",
}


@dataclass(frozen=True)
class Mode:
    """How the peer answers one mail transaction.

    ``accept``: record the message and reply 250. ``transient`` / ``permanent``: reply
    ``code`` (default 451 / 550) at ``stage`` (``mail`` = MAIL FROM, ``rcpt`` = every RCPT TO,
    ``data`` = after the message body). ``slow``: wait ``delay`` seconds before answering
    MAIL FROM (then accept), to trigger client timeouts. ``slow_ack``: record the message,
    then wait ``delay`` seconds before the final 250 (an acknowledgement lost to a client
    timeout: the message WAS delivered). ``refuse``: recipients answered
    550 at RCPT TO while the others are accepted (any kind).
    """

    kind: ModeKind = "accept"
    code: int | None = None
    stage: Stage = "rcpt"
    delay: float = 5.0
    refuse: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("accept", "transient", "permanent", "slow", "slow_ack"):
            raise ValueError(f"unknown SMTP peer mode {self.kind!r}")
        if self.stage not in ("mail", "rcpt", "data"):
            raise ValueError(f"unknown stage {self.stage!r} (mail, rcpt or data)")
        code = self.reply_code
        if self.kind == "transient" and not (code is not None and 400 <= code < 500):
            raise ValueError(f"a transient reply needs a 4xx code, got {code}")
        if self.kind == "permanent" and not (code is not None and 500 <= code < 600):
            raise ValueError(f"a permanent reply needs a 5xx code, got {code}")

    @property
    def reply_code(self) -> int | None:
        return self.code if self.code is not None else _DEFAULT_CODES.get(self.kind)

    def reply(self) -> str:
        code = self.reply_code
        assert code is not None
        return f"{code} {_REPLY_TEXT.get(code, 'scripted reply')}"


@dataclass(frozen=True)
class Delivery:
    """One accepted message with its SMTP envelope (``MAIL FROM`` / ``RCPT TO``).

    ``message`` is parsed with ``email.policy.default`` and ``\n`` line endings; ``raw``
    holds the bytes as they came over the wire (CRLF).
    """

    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes


def _openssl() -> str | None:
    return shutil.which("openssl")


def tls_available() -> bool:
    """Whether :class:`SmtpPeer` can make a certificate here (needs the ``openssl`` CLI)."""
    return _openssl() is not None


def _self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1 / localhost (CA-less: trust it via cafile)."""
    openssl = _openssl()
    if openssl is None:
        raise RuntimeError("the openssl CLI is needed for a TLS SmtpPeer (see tls_available())")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-sha256",
            "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout", str(key), "-out", str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )  # fmt: skip
    return cert, key


class _Handler:
    """aiosmtpd handler: consults the peer's script once per transaction."""

    def __init__(self, peer: SmtpPeer) -> None:
        self.peer = peer

    async def handle_MAIL(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        mode = self.peer._next_mode()
        session.peer_mode = mode  # type: ignore[attr-defined]
        if mode.kind == "slow":
            await asyncio.sleep(mode.delay)
        elif mode.kind != "accept" and mode.stage == "mail":
            return mode.reply()
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        mode: Mode = getattr(session, "peer_mode", Mode())
        if mode.kind in ("transient", "permanent") and mode.stage == "rcpt":
            return mode.reply()
        if address in mode.refuse:
            return f"550 {_REPLY_TEXT[550]}"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        mode: Mode = getattr(session, "peer_mode", Mode())
        if mode.kind in ("transient", "permanent") and mode.stage == "data":
            return mode.reply()
        raw = envelope.original_content or b""
        lines = raw.replace(b"\r\n", b"\n")  # parse with Python's line endings
        message = email.message_from_bytes(lines, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.peer._record(Delivery(str(envelope.mail_from), tuple(envelope.rcpt_tos), message, raw))
        if mode.kind == "slow_ack":
            await asyncio.sleep(mode.delay)
        return "250 Message accepted for delivery"


class _Controller(Controller):
    """aiosmtpd's Controller, bound to an ephemeral port (``port=0``) without a race."""

    def _trigger_server(self) -> None:
        if self.port == 0 and self.server is not None:
            self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


class SmtpPeer:
    """A real SMTP server on ``127.0.0.1`` that a test scripts (see the module docstring).

    ``auth=(user, password)`` requires AUTH before MAIL (wrong credentials get 535, none
    get 530). ``tls="starttls"`` offers and requires STARTTLS, ``tls="implicit"`` speaks TLS
    from the first byte (``smtps://``); both use a fresh self-signed certificate whose PEM
    is :attr:`cafile`.
    """

    def __init__(
        self,
        mode: ModeKind | Mode = "accept",
        *,
        auth: tuple[str, str] | None = None,
        tls: Literal["starttls", "implicit"] | None = None,
        **mode_options: Any,
    ) -> None:
        self._lock = threading.Lock()
        self._script: list[Mode] = [mode if isinstance(mode, Mode) else Mode(mode, **mode_options)]
        self._deliveries: list[Delivery] = []
        self._logins: list[tuple[str, bool]] = []
        self._transactions = 0
        self.auth = auth
        self.tls = tls
        self.cafile: Path | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        kwargs: dict[str, Any] = {"server_hostname": "smtp.test", "ready_timeout": 10.0}
        if tls is not None:
            self._tmp = tempfile.TemporaryDirectory(prefix="smtp-peer-")
            cert, key = _self_signed_cert(Path(self._tmp.name))
            self.cafile = cert
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            if tls == "starttls":
                kwargs.update(tls_context=context, require_starttls=True)
            else:
                kwargs["ssl_context"] = context
        if auth is not None:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=tls == "starttls",
            )
        self._controller = _Controller(_Handler(self), hostname="127.0.0.1", port=0, **kwargs)

    # lifecycle -----------------------------------------------------------------------

    def start(self) -> SmtpPeer:
        # aiosmtpd warns, from its server thread, about AUTH without TLS (deliberate on
        # loopback) and about its own deprecated Session.login_data. Filters set here, during
        # a test, are undone by pytest when the test ends.
        warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
        warnings.filterwarnings("ignore", "Session.login_data is deprecated", DeprecationWarning)
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop(no_assert=True)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> SmtpPeer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # addresses -----------------------------------------------------------------------

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def url(self) -> str:
        """``smtp://127.0.0.1:PORT`` (``smtps://`` for implicit TLS), no credentials."""
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        return f"{scheme}://127.0.0.1:{self.port}"

    def url_for(self, user: str | None = None, password: str | None = None, **query: str) -> str:
        """:attr:`url` with URL-quoted ``user:password@`` and ``query`` parameters added."""
        scheme, rest = self.url.split("://", 1)
        userinfo = ""
        if user is not None:
            userinfo = quote(user, safe="")
            if password is not None:
                userinfo += ":" + quote(password, safe="")
            userinfo += "@"
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{scheme}://{userinfo}{rest}{suffix}"

    # scripting -----------------------------------------------------------------------

    def set_mode(self, mode: ModeKind | Mode, **options: Any) -> None:
        """Answer every following transaction the same way (``Mode`` fields as options)."""
        self.script(mode if isinstance(mode, Mode) else Mode(mode, **options))

    def script(self, *modes: Mode) -> None:
        """One mode per following transaction, in order; the last one repeats."""
        if not modes:
            raise ValueError("script() needs at least one Mode")
        with self._lock:
            self._script = list(modes)

    def _next_mode(self) -> Mode:
        with self._lock:
            self._transactions += 1
            return self._script.pop(0) if len(self._script) > 1 else self._script[0]

    # what happened -------------------------------------------------------------------

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    @property
    def messages(self) -> list[EmailMessage]:
        """Every accepted message, parsed with ``email.policy.default``."""
        return [d.message for d in self.deliveries]

    @property
    def transactions(self) -> int:
        """How many ``MAIL FROM`` commands arrived (accepted or not)."""
        with self._lock:
            return self._transactions

    @property
    def logins(self) -> list[tuple[str, bool]]:
        """``(username, accepted)`` per AUTH attempt (passwords are not kept)."""
        with self._lock:
            return list(self._logins)

    def _authenticate(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        mechanism: str,
        auth_data: Any,
    ) -> AuthResult:
        if not isinstance(auth_data, LoginPassword) or self.auth is None:
            return AuthResult(success=False, handled=False)
        user = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        ok = (user, password) == self.auth
        with self._lock:
            self._logins.append((user, ok))
        return AuthResult(success=ok, handled=False)
