"""From a block's configuration and input to one ``EmailMessage``.

Where each part of the message comes from (the block's configuration always wins; the
input only fills what the configuration leaves out, so upstream data can never redirect a
message whose recipient the workflow's author fixed):

* ``Text`` / ``Bytes`` (UTF-8) input: the body.
* ``Json`` object with any of :data:`ENVELOPE_KEYS`: a *message envelope*. ``text`` (alias
  ``body``) is the plain-text body, ``html`` the HTML body (a string; ``true``/``false``
  says whether ``text`` is HTML), and ``to``, ``cc``, ``reply_to``, ``subject``, ``sender``,
  ``message_id``, ``idempotency_key``, ``headers`` fill the unconfigured settings. One
  ``send_email`` block can so send a different message per fan-out item.
* Any other ``Json``: the body, pretty-printed.

``attachments`` (configuration, else the envelope) is a list of paths under the files root
(``ORCHESTRATOR_BLOCKS_FILES_ROOT``), attached with a content type guessed from the file
name (``application/octet-stream`` when unknown). They are checked with the SDK's
:func:`~orchestrator_blocks.sdk.files.check_files` (no ``..`` escape, nothing outside an
absolute path, no symlink leading out, existing regular files, 10 MiB each and 20 MiB per
message before encoding) and read without following a symlink.

A body is sent as HTML (with a generated plain-text alternative) when ``html=True``, or
when ``html`` is unset and the body looks like HTML (starts with a tag and closes one).

Every problem found here is ``email.invalid_request`` (never retried: the same input fails
the same way). CR or LF in any header value is refused outright: that is header injection.
"""

from __future__ import annotations

import functools
import hashlib
import json
import mimetypes
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.policy import default as default_policy
from email.utils import format_datetime, formataddr, getaddresses, make_msgid
from pathlib import Path
from typing import Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import files

from .codes import INVALID_REQUEST
from .html_text import html_to_text, looks_like_html

__all__ = [
    "ENVELOPE_KEYS",
    "Outgoing",
    "check_config",
    "compose",
    "message_id_for_key",
    "parse_addresses",
]

ENVELOPE_KEYS = frozenset(
    {
        "to",
        "cc",
        "reply_to",
        "subject",
        "text",
        "body",
        "html",
        "sender",
        "message_id",
        "idempotency_key",
        "headers",
        "attachments",
    }
)
ADDRESS_FIELDS = ("to", "cc", "reply_to", "sender")
# Headers the message's own fields own; setting them through ``headers`` would be ambiguous.
_RESERVED_HEADERS = frozenset(
    {
        "to",
        "cc",
        "bcc",
        "from",
        "reply-to",
        "subject",
        "message-id",
        "date",
        "mime-version",
        "content-type",
        "content-transfer-encoding",
    }
)
_HEADER_NAME = re.compile(r"^[!-9;-~]+$")  # printable ASCII except ':' (RFC 5322 ftext)
_LINE_BREAKS = ("\r", "\n", "\0")
_WORD = r"[A-Za-z0-9_+-]+"
# ``local@domain`` with nothing ``getaddresses`` would have to interpret.
_PLAIN_ADDRESS = re.compile(rf"{_WORD}(?:\.{_WORD})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


class _SharedHeaders(HeaderRegistry):
    """The standard header registry, remembering what it parsed: a fan-out's messages
    repeat most headers (From, Subject, MIME-Version, Content-Type...), and parsing a
    header is most of the cost of composing a message. Parsed headers are immutable."""

    def __call__(self, name: str, value: Any) -> BaseHeader:
        if isinstance(value, str):
            return self._parsed(name, value)
        return super().__call__(name, value)

    @functools.lru_cache(maxsize=4096)  # noqa: B019 - one registry for the process
    def _parsed(self, name: str, value: str) -> BaseHeader:
        return super().__call__(name, value)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one registry for the process
    def __getitem__(self, name: str) -> type[BaseHeader]:
        # The standard registry makes a new class on every lookup, and the policy looks
        # one up per header set (to check how many of it a message may have).
        return super().__getitem__(name)


_POLICY = default_policy.clone(header_factory=_SharedHeaders())


@dataclass(frozen=True, slots=True)
class _Parts:
    """What a message is made of, checked: enough to build its ``EmailMessage``."""

    sender: tuple[str, str]
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]]
    reply_to: list[tuple[str, str]]
    subject: str | None
    date: str
    message_id: str
    headers: dict[str, str]
    text: str
    html: str | None
    attachments: list[tuple[str, bytes, str, str]]

    def header_fields(self) -> Iterator[tuple[str, str]]:
        """The headers set before the content, in the message's order."""
        yield "From", formataddr(self.sender)
        yield "To", _address_list(self.to)
        if self.cc:
            yield "Cc", _address_list(self.cc)
        if self.reply_to:
            yield "Reply-To", _address_list(self.reply_to)
        if self.subject is not None:
            yield "Subject", self.subject
        yield "Date", self.date
        yield "Message-ID", self.message_id
        yield from self.headers.items()

    def build(self) -> EmailMessage:
        """The message (``ValueError``/``TypeError``/``IndexError`` when it cannot be encoded)."""
        msg = EmailMessage(policy=_POLICY)
        for name, value in self.header_fields():
            msg[name] = value
        msg.set_content(self.text)
        if self.html is not None:
            msg.add_alternative(self.html, subtype="html")
        for name, content, maintype, subtype in self.attachments:
            msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
        return msg


class Outgoing:
    """A composed message and its SMTP envelope (bare addresses).

    ``data`` is the message as it goes over SMTP (CRLF line endings, before dot-stuffing)
    when it could be written directly (see :func:`_wire`), else ``None``: the transport
    then flattens ``message``. ``message`` is built when first asked for.
    """

    __slots__ = ("_message", "_parts", "cc", "data", "message_id", "sender", "to")

    def __init__(
        self,
        parts: _Parts,
        *,
        data: bytes | None = None,
        message: EmailMessage | None = None,
    ) -> None:
        self._parts = parts
        self._message = message
        self.data = data
        self.sender = parts.sender[1]
        self.to = [a for _, a in parts.to]
        self.cc = [a for _, a in parts.cc]
        self.message_id = parts.message_id

    @property
    def message(self) -> EmailMessage:
        if self._message is None:
            self._message = self._parts.build()
        return self._message

    @property
    def recipients(self) -> list[str]:
        return self.to + self.cc


# -- the wire form, written without the ``email`` package for the common message --------
#
# A fan-out sends thousands of messages that differ only in their recipients, Message-ID
# and text. Building an ``EmailMessage`` and flattening it parses and refolds every header
# of every message; here the headers a fan-out repeats (From, Subject, Date, extra ones)
# are folded once by the ``email`` package itself and remembered, the per-message ones are
# written directly when they are plain ASCII that fits on one line, and a short ASCII body
# is written as the ``email`` package would write it (7bit). Anything else (HTML,
# attachments, long lines, non-ASCII text, unusual addresses) takes the ``email``
# package's path. The bytes are the same either way (the unit tests compare them).

_PLAIN_NAME = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
_PLAIN_MSGID = re.compile(rf"<{_WORD}(?:\.{_WORD})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*>")
# Printable ASCII words, single spaces between: an unstructured header written as it is.
_PLAIN_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*")
_MAX_LINE = SMTP_POLICY.max_line_length or 78
_TEXT_HEADERS = b'Content-Type: text/plain; charset="utf-8"\r\nContent-Transfer-Encoding: 7bit\r\n'
_TEXT_TRAILER = b"MIME-Version: 1.0\r\n\r\n"


def _fold(name: str, value: str) -> bytes | None:
    """``name: value`` as the ``email`` package writes it for SMTP (``None``: not valid)."""
    try:
        return SMTP_POLICY.fold_binary(*_POLICY.header_store_parse(name, value))
    except (ValueError, TypeError, IndexError):
        return None


_folded = functools.lru_cache(maxsize=1024)(_fold)
""":func:`_fold` for the headers a fan-out repeats (From, Subject, Date, extra ones)."""


def _address_list(addresses: list[tuple[str, str]]) -> str:
    """An address header's value as the ``email`` package is given it."""
    return ", ".join(formataddr(a) for a in addresses)


def _address_line(name: str, addresses: list[tuple[str, str]]) -> bytes | None:
    """An address header of plain addresses, written directly when it fits on a line."""
    shown = []
    for display, addr in addresses:
        if not _PLAIN_ADDRESS.fullmatch(addr):
            return _fold(name, _address_list(addresses))
        if display:
            if not _PLAIN_NAME.fullmatch(display):
                return _fold(name, _address_list(addresses))
            shown.append(f"{display} <{addr}>")
        else:
            shown.append(addr)
    line = f"{name}: {', '.join(shown)}"
    if len(line) > _MAX_LINE:
        return _fold(name, ", ".join(shown))
    return line.encode("ascii") + b"\r\n"


def _text_line(name: str, value: str) -> bytes | None:
    """An unstructured header (a subject that may differ per message), written directly
    when it is plain ASCII that fits on a line and holds no encoded word."""
    fits = len(name) + 2 + len(value) <= _MAX_LINE
    if fits and "=?" not in value and _PLAIN_TEXT.fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return _folded(name, value)


def _wire(parts: _Parts) -> bytes | None:
    """The message's SMTP bytes, when it is a short plain-text one (else ``None``)."""
    if parts.html is not None or parts.attachments:
        return None
    try:
        lines = parts.text.encode("ascii").splitlines()
    except UnicodeEncodeError:
        return None
    if any(len(line) > _MAX_LINE for line in lines):
        return None
    for name in parts.headers:
        low = name.lower()
        # ``set_content`` drops content-* headers; registered ones may be limited in number.
        if low.startswith("content-") or low in _REGISTERED:
            return None
    out = [_folded("From", formataddr(parts.sender)), _address_line("To", parts.to)]
    if parts.cc:
        out.append(_address_line("Cc", parts.cc))
    if parts.reply_to:
        out.append(_address_line("Reply-To", parts.reply_to))
    if parts.subject is not None:
        out.append(_text_line("Subject", parts.subject))
    out.append(_folded("Date", parts.date))
    if _PLAIN_MSGID.fullmatch(parts.message_id) and len(parts.message_id) <= _MAX_LINE - 12:
        out.append(b"Message-ID: " + parts.message_id.encode("ascii") + b"\r\n")
    else:
        out.append(_fold("Message-ID", parts.message_id))
    out.extend(_folded(name, value) for name, value in parts.headers.items())
    if None in out:
        return None
    body = b"\r\n".join(lines) + b"\r\n"
    return b"".join(out) + _TEXT_HEADERS + _TEXT_TRAILER + body  # type: ignore[arg-type]


_REGISTERED = frozenset(_POLICY.header_factory.registry)  # type: ignore[attr-defined]


def _invalid(message: str, **details: Any) -> sdk.BlockError:
    return sdk.BlockError(INVALID_REQUEST, message, details=details)


def check_header_text(value: str, field: str) -> None:
    """Refuse CR, LF and NUL: in a header they would start a new header (injection)."""
    if any(c in value for c in _LINE_BREAKS):
        raise ValueError(
            f"{field} contains a line break (CR/LF); refused to prevent header injection"
        )


def parse_addresses(raw: str | Iterable[str] | None, field: str) -> list[tuple[str, str]]:
    """``"Ann <a@x.org>, b@y.org"`` or a list of such strings -> ``[(name, addr), ...]``.

    Raises ``ValueError`` for anything but addresses with a local part and a domain, and
    for line breaks (the caller turns it into the right error for construction or run).
    """
    if raw is None:
        return []
    if isinstance(raw, str):
        items = [raw]
    elif isinstance(raw, Iterable) and not isinstance(raw, bytes | Mapping):
        items = list(raw)
    else:
        raise ValueError(f"{field} must be an address or a list of addresses")
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"{field} must contain address strings only, got {item!r}")
        check_header_text(item, field)
    if all(_PLAIN_ADDRESS.fullmatch(item) for item in items):
        return [("", item) for item in items]  # what getaddresses gives, without parsing
    parsed = getaddresses(items)
    for name, addr in parsed:
        local, at, domain = addr.rpartition("@")
        if not (at and local and domain) or any(c.isspace() or c in "<>,;" for c in addr):
            shown = formataddr((name, addr)) if addr else "(empty)"
            raise ValueError(f"{field} has an invalid address {shown!r} (expected name@domain)")
    return parsed


def message_id_for_key(key: str, domain: str) -> str:
    """The stable Message-ID for an idempotency key: ``<sha256(key)[:32 hex]@domain>``.

    The same key (and sender domain) always gives the same Message-ID, so a re-sent or
    resumed message can be recognised downstream; the key itself is not revealed.
    """
    return f"<{hashlib.sha256(key.encode('utf-8')).hexdigest()[:32]}@{domain}>"


def normalise_message_id(raw: str) -> str:
    """``abc@x.org`` or ``<abc@x.org>`` -> ``<abc@x.org>`` (``ValueError`` when malformed)."""
    check_header_text(raw, "message_id")
    inner = raw.strip().removeprefix("<").removesuffix(">")
    local, at, domain = inner.partition("@")
    if not (at and local and domain) or any(c.isspace() or c in "<>@" for c in local + domain):
        raise ValueError(f"message_id {raw!r} must look like <unique@domain>")
    return f"<{inner}>"


def _pretty(data: Any) -> str:
    return json.dumps(sdk.to_jsonable(data), indent=2, ensure_ascii=False)


def _input_parts(value: sdk.Value) -> tuple[str, dict[str, Any]]:
    """The body text the input carries and its envelope fields (``{}`` for plain bodies)."""
    if isinstance(value, sdk.Json):
        data = value.value
        if isinstance(data, Mapping) and ENVELOPE_KEYS & data.keys():
            env = {k: v for k, v in data.items() if k in ENVELOPE_KEYS and v is not None}
            text = env.pop("text", None)
            body = env.pop("body", None)
            if text is not None and body is not None and text != body:
                raise _invalid("give the envelope's plain-text body as 'text' or 'body', not both")
            body = text if text is not None else body
            if body is None:
                return "", env
            return (body if isinstance(body, str) else _pretty(body)), env
        return (data if isinstance(data, str) else _pretty(data)), {}
    if isinstance(value, sdk.Bytes):
        try:
            return value.value.decode("utf-8"), {}
        except UnicodeDecodeError:
            raise _invalid("the email body is bytes that are not UTF-8 text") from None
    if isinstance(value, sdk.Empty):
        return "", {}
    return value.text(), {}


def _parts(body: str, env: Mapping[str, Any], html: bool | None) -> tuple[str, str | None]:
    """The ``text/plain`` part and the ``text/html`` part (``None``: plain text only)."""
    html_field = env.get("html")
    if isinstance(html_field, str):
        return (body or html_to_text(html_field)), html_field
    if html_field is not None and not isinstance(html_field, bool):
        raise _invalid(f"envelope field 'html' must be a string or a boolean, not {html_field!r}")
    as_html = html if html is not None else html_field
    if as_html is None:
        as_html = looks_like_html(body)
    return (html_to_text(body), body) if as_html else (body, None)


def _pick(config: Mapping[str, Any], env: Mapping[str, Any], key: str) -> Any:
    configured = config.get(key)
    return configured if configured is not None else env.get(key)


def _addresses(raw: Any, field: str) -> list[tuple[str, str]]:
    try:
        return parse_addresses(raw, field)
    except ValueError as exc:
        raise _invalid(str(exc), field=field) from None


def _text_field(raw: Any, field: str) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise _invalid(f"{field} must be a string, not {type(raw).__name__}", field=field)
    try:
        check_header_text(raw, field)
    except ValueError as exc:
        raise _invalid(str(exc), field=field) from None
    return raw


def _message_id(config: Mapping[str, Any], env: Mapping[str, Any], domain: str) -> str:
    explicit = _text_field(_pick(config, env, "message_id"), "message_id")
    key = _pick(config, env, "idempotency_key")
    if key is not None and (not isinstance(key, str) or not key):
        raise _invalid(f"idempotency_key must be a non-empty string, not {key!r}")
    if explicit is not None and key is not None:
        raise _invalid("give message_id or idempotency_key, not both")
    if key is not None:
        return message_id_for_key(key, domain)
    if explicit is not None:
        try:
            return normalise_message_id(explicit)
        except ValueError as exc:
            raise _invalid(str(exc), field="message_id") from None
    return make_msgid(domain=domain)


def _extra_headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _invalid("envelope field 'headers' must be an object of header names to values")
    headers: dict[str, str] = {}
    for name, value in raw.items():
        if not (isinstance(name, str) and _HEADER_NAME.match(name)):
            raise _invalid(f"header name {name!r} is not a valid email header name")
        if name.lower() in _RESERVED_HEADERS:
            raise _invalid(
                f"header {name!r} is set from the message's own fields "
                "(to, cc, reply_to, sender, subject, message_id); set those instead"
            )
        text = value if isinstance(value, str) else json.dumps(value)
        headers[name] = _text_field(text, f"header {name}") or ""
    return headers


def attachment_paths(raw: Any) -> list[str]:
    """``"a.pdf"`` or ``["a.pdf", ...]`` -> the list of paths (``ValueError`` when it is
    anything else, or a path can never be inside the files root)."""
    if raw is None:
        return []
    paths = [raw] if isinstance(raw, str) else raw
    if not isinstance(paths, list | tuple) or not all(isinstance(p, str) and p for p in paths):
        raise ValueError("attachments must be a path or a list of paths under the files root")
    for path in paths:
        problem = files.static_problem(path)
        if problem is not None:
            raise ValueError(f"attachment {problem}")
    return list(paths)


def _attachments(raw: Any, files_root: Path | None) -> list[tuple[str, bytes, str, str]]:
    """``(file name, content, maintype, subtype)`` of each attachment, checked and read."""
    try:
        paths = attachment_paths(raw)
    except ValueError as exc:
        raise _invalid(str(exc), field="attachments") from None
    if not paths:
        return []
    if files_root is None:
        raise _invalid("attachments need a files root (ORCHESTRATOR_BLOCKS_FILES_ROOT)")
    parts = []
    try:
        for confined in files.check_files(files_root, paths):
            name = confined.path.name
            check_header_text(name, "attachment file name")
            guessed, encoding = mimetypes.guess_type(name)
            if guessed is None or encoding is not None:
                guessed = "application/octet-stream"
            maintype, _, subtype = guessed.partition("/")
            parts.append((name, files.read_confined(confined), maintype, subtype))
    except files.PathRefused as exc:
        raise _invalid(f"attachment {exc}", attachment=exc.relative) from None
    except ValueError as exc:
        raise _invalid(str(exc), field="attachments") from None
    except OSError as exc:
        raise _invalid(
            f"attachment {exc.filename or ''}: {exc.strerror or exc}", field="attachments"
        ) from None
    return parts


def compose(
    value: sdk.Value,
    config: Mapping[str, Any],
    *,
    default_sender: str,
    now: datetime,
    files_root: Path | None = None,
) -> Outgoing:
    """Build the message for one send: configuration first, the input's envelope fills in.

    ``config`` holds the block's ``to``, ``subject``, ``sender``, ``html``, ``cc``,
    ``reply_to``, ``message_id``, ``idempotency_key``, ``attachments``; attachments are
    looked for under ``files_root``. Raises ``BlockError(email.invalid_request)`` for
    anything that cannot be sent.
    """
    body, env = _input_parts(value)
    to = _addresses(_pick(config, env, "to"), "to")
    if not to:
        raise _invalid(
            "no recipient: give Block.send_email a `to` address or send it a JSON input "
            "with a 'to' field"
        )
    cc = _addresses(_pick(config, env, "cc"), "cc")
    reply_to = _addresses(_pick(config, env, "reply_to"), "reply_to")
    senders = _addresses(_pick(config, env, "sender") or default_sender, "sender")
    if len(senders) != 1:
        raise _invalid("sender must be exactly one address", field="sender")
    sender = senders[0]
    subject = _text_field(_pick(config, env, "subject"), "subject")
    headers = _extra_headers(env.get("headers"))
    text, html = _parts(body, env, config.get("html"))
    message_id = _message_id(config, env, sender[1].rpartition("@")[2])
    attachments = _attachments(_pick(config, env, "attachments"), files_root)
    parts = _Parts(
        sender=sender,
        to=to,
        cc=cc,
        reply_to=reply_to,
        subject=subject,
        date=format_datetime(now),
        message_id=message_id,
        headers=headers,
        text=text,
        html=html,
        attachments=attachments,
    )
    data = _wire(parts)
    if data is not None:
        return Outgoing(parts, data=data)
    try:
        msg = parts.build()
    except (ValueError, TypeError, IndexError) as exc:
        raise _invalid(f"the message cannot be encoded: {exc}") from None
    return Outgoing(parts, message=msg)


def check_config(config: dict[str, Any]) -> None:
    """Construction-time checks, so a bad address or an injected header fails at once.

    Raises ``InvalidBlockConfig`` carrying ``email.invalid_request``, the code the same
    mistake would get at run time.
    """
    try:
        for field in ADDRESS_FIELDS:
            parsed = parse_addresses(config.get(field), field)
            if field == "sender" and config.get(field) is not None and len(parsed) != 1:
                raise ValueError("sender must be exactly one address")
        if config.get("html") not in (None, True, False):
            raise ValueError(f"html must be None (auto), True or False, not {config['html']!r}")
        for field in ("subject", "message_id", "idempotency_key"):
            raw = config.get(field)
            if raw is None:
                continue
            if not isinstance(raw, str) or (not raw and field != "subject"):
                raise ValueError(f"{field} must be a non-empty string, not {raw!r}")
            check_header_text(raw, field)
        if config.get("message_id") is not None:
            if config.get("idempotency_key") is not None:
                raise ValueError("give message_id or idempotency_key, not both")
            normalise_message_id(config["message_id"])
        if config.get("attachments") is not None:
            config["attachments"] = attachment_paths(config["attachments"])
    except ValueError as exc:
        raise sdk.InvalidBlockConfig(f"Block.send_email: {exc}", code=INVALID_REQUEST) from None
