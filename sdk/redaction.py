"""What of a URL, a text or a record may be shown: the one redactor every family uses.

Two complementary ways to keep a secret out of logs, events and error envelopes:

* **By shape** (no knowledge of the secret needed): :func:`redact_url` shows a URL without
  its userinfo (``user:password@``), its fragment or the values of secret-looking query
  parameters; :func:`redact_text` masks the same parts of every URL inside a text;
  :func:`redact_value` / :func:`redact_mapping` mask values under secret-looking keys
  (:func:`is_secret_key`) and URL credentials inside strings.
* **By value**: a :class:`Redactor` knows the secrets one request carries (its URL's
  credentials, its sensitive headers, an API key) and masks them wherever they occur in a
  text, for the day a server echoes them back in an error body. Beyond one request, the
  process keeps one registry of secret values (:func:`register_secret`,
  :func:`register_url_credentials`, :func:`register_config_credentials`): every secret read
  through ``ctx.secret`` or ``settings.secret``, every credential of a configured URL, of a
  block's configuration and of a request a :class:`Redactor` was built for. :func:`scrub`
  masks them in any text, and :func:`redact_value` (what every sink calls: the JSON logs,
  the store, spans, error envelopes, ``explain``) applies it to every string it meets.
  Values shorter than :data:`MIN_SECRET_CHARS` are not registered: masking ``admin`` or
  ``12345`` wherever it occurs would garble ordinary text, so short secrets are masked by
  key and shape only.

Every mask is :data:`REDACTED`, the same ten stars ``pydantic.SecretStr`` prints, so a reader
recognises a masked value whatever masked it. Names are matched as words (``api_key``,
``X-API-Key``, ``accessToken``), not as substrings: ``total_tokens`` or ``keyword`` are not
secrets; only ``password`` counts inside a word too (``sslpassword``). Query strings also
treat a few short names as secret (``key``, ``sig``, ``code``, ``auth``, ``sid``): there
they are API keys, signatures and OAuth codes, while in a record ``code`` is an error code
and ``key`` an idempotency key.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import threading
from collections.abc import Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

__all__ = [
    "MIN_SECRET_CHARS",
    "REDACTED",
    "SNIPPET_CHARS",
    "Redactor",
    "forget_secrets",
    "is_secret_key",
    "is_secret_param",
    "is_sensitive_header",
    "redact_event",
    "redact_mapping",
    "redact_text",
    "redact_url",
    "redact_value",
    "register_config_credentials",
    "register_secret",
    "register_url_credentials",
    "scrub",
]

REDACTED = "**********"
SNIPPET_CHARS = 500
MIN_SECRET_CHARS = 6
"""Secret values shorter than this are not registered for masking by value (see above)."""

_MIN_SECRET = 4  # shorter URL/header secrets are masked in URLs, not wherever they occur
_MIN_FRAGMENT = 8  # shorter pieces of a secret header ("Bearer", "Basic") are not masked

_SEP = r"[-_.\s]"
_SENSITIVE_WORDS = (
    r"(?:access|refresh|id|auth|session|csrf|xsrf)?[-_.]?token|"
    r"(?:api|private|secret|access|signing|encryption)[-_.]?key|apikey|"
    r"(?:client[-_.]?)?secrets?|pass(?:word|wd|phrase)?|pwd|signature|authorization|"
    r"credentials?|cookie|session(?:[-_.]?id)?|jwt|bearer|auth[-_.]?header"
)
_COMPOUNDED = r"passw(?:or)?d|passphrase"  # secret even inside a word: sslpassword, dbpasswd
_SECRET_KEY = re.compile(
    rf"(?:^|{_SEP})(?:{_SENSITIVE_WORDS})(?:$|{_SEP})|{_COMPOUNDED}", re.IGNORECASE
)
_SECRET_PARAM = re.compile(
    rf"(?:^|{_SEP})(?:{_SENSITIVE_WORDS}|key|sig|auth|code|sid)(?:$|{_SEP})|{_COMPOUNDED}",
    re.IGNORECASE,
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SENSITIVE_HEADER = re.compile(
    r"authorization|cookie|api[-_]?key|token|secret|passw(or)?d|session|signature|credential",
    re.IGNORECASE,
)
_HEADERS_KEY = re.compile(r"(?:^|[-_.])headers?$", re.IGNORECASE)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/?#@\s]*@")
_QUERY_PAIR = re.compile(r"(?P<lead>[?&])(?P<name>[^=&#?\s]+)=(?P<value>[^&#\s\"'<>]*)")


def _words(name: str) -> str:
    """``accessToken`` -> ``access_Token``: camelCase boundaries become separators."""
    return _CAMEL.sub("_", name)


def is_secret_key(name: str) -> bool:
    """True for a field name whose value is a secret (``password``, ``api_key``,
    ``X-API-Key``, ``accessToken``, ``client_secret``, ``session_id``, ``cookie``...)."""
    return bool(_SECRET_KEY.search(_words(name)))


@functools.lru_cache(maxsize=4096)
def _secret_key(name: str) -> bool:
    """:func:`is_secret_key`, cached: sinks ask it for every key of every event."""
    return is_secret_key(name)


def is_secret_param(name: str) -> bool:
    """True for a query parameter whose value is a secret: every :func:`is_secret_key`
    name, plus ``key``, ``sig``, ``auth``, ``code`` and ``sid`` (``X-Amz-Signature``,
    ``?key=`` API keys, OAuth ``?code=``). ``name`` may still be percent-encoded."""
    return bool(_SECRET_PARAM.search(_words(unquote_plus(name))))


def is_sensitive_header(name: str) -> bool:
    """True for a header whose value is a credential (``Authorization``, ``Cookie``,
    ``X-API-Key``, ``X-Auth-Token``...)."""
    return bool(_SENSITIVE_HEADER.search(name)) or is_secret_key(name)


def _redact_pair(pair: str) -> str:
    name, sep, value = pair.partition("=")
    if sep and value and is_secret_param(name):
        return f"{name}={REDACTED}"
    return pair


def redact_url(url: str) -> str:
    """``url`` safe to show: userinfo masked, no fragment, secret query values masked.

    Non-secret query parameters stay (``?page=2``, ``?api-version=...``): they are what a
    reader needs to tell two calls apart. A URL that cannot be parsed is not shown at all.
    """
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    userinfo, at, host = parts.netloc.rpartition("@")
    netloc = f"{REDACTED}@{host}" if at and userinfo else host
    query = "&".join(_redact_pair(p) for p in parts.query.split("&")) if parts.query else ""
    shown = urlunsplit((parts.scheme, netloc, parts.path, query, ""))
    start = len(parts.scheme) + 1
    if parts.scheme and not netloc and url[start:].startswith("//"):
        # ``sqlite:///path``: urlunsplit drops an empty authority for schemes it does not know
        shown = f"{parts.scheme}://" + shown[start:].removeprefix("//")
    return shown


def _mask_pair(match: re.Match[str]) -> str:
    if match.group("value") and is_secret_param(match.group("name")):
        return f"{match.group('lead')}{match.group('name')}={REDACTED}"
    return match.group(0)


def redact_text(text: str) -> str:
    """``text`` with the userinfo of every URL in it and every secret-looking query value
    masked; everything else is left exactly as it was."""
    if "@" in text:
        text = _USERINFO.sub(lambda m: m.group("scheme") + REDACTED + "@", text)
    if "=" in text:
        text = _QUERY_PAIR.sub(_mask_pair, text)
    return text


def redact_value(value: Any, key: str = "") -> Any:
    """``value`` safe to log when it was found under ``key``.

    Under a secret-looking key every value but ``None`` and ``""`` is masked (whole, even a
    dict); a secret object (anything with ``get_secret_value``, like ``SecretStr``) is
    masked wherever it is; mappings, lists and tuples are walked, and in a mapping of
    headers (a key named ``headers``) the values of sensitive headers are masked
    (:func:`is_sensitive_header`); every string has its URL credentials masked and every
    registered secret value scrubbed (:func:`scrub`). Any other object whose text holds a
    secret (an exception, say) is replaced by its masked text. Anything else is returned as
    is (never copied needlessly).
    """
    if value is None:
        return value
    if value.__class__ is str:  # most of what is logged: the same checks, in fewer steps
        if key and value and _secret_key(key):
            return REDACTED
        if "://" in value:
            value = redact_text(value)
        return scrub(value) if _registry.values else value
    if hasattr(value, "get_secret_value"):
        return REDACTED
    if key and value != "" and _secret_key(key):
        return REDACTED
    if value.__class__ in _NUMBERS:
        return value
    if isinstance(value, str):
        if "://" in value:
            value = redact_text(value)
        return scrub(value) if _registry.values else value
    if isinstance(value, Mapping):
        if key and _HEADERS_KEY.search(key):
            return {k: _header_value(str(k), v) for k, v in value.items()}
        redacted = {k: redact_value(v, str(k)) for k, v in value.items()}
        if value.__class__ is dict and all(redacted[k] is v for k, v in value.items()):
            return value  # nothing to mask: the caller's dict, not a copy of it
        return redacted
    if isinstance(value, list | tuple):
        items = [redact_value(v) for v in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, int | float | bytes | bytearray):
        return value
    return _redact_object(value)


_NUMBERS = frozenset({int, float, bool})


def _header_value(name: str, value: Any) -> Any:
    if value is not None and value != "" and is_sensitive_header(name):
        return REDACTED
    return redact_value(value, name)


def _redact_object(value: Any) -> Any:
    """An object that is not plain data: its masked text if its text gives a secret away."""
    try:
        text = str(value)
    except Exception:  # an object that cannot say what it is cannot leak through its text
        return value
    clean = redact_text(text) if "://" in text else text
    clean = scrub(clean)
    return clean if clean != text else value


def redact_mapping(data: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with :func:`redact_value` applied to every entry, recursively."""
    return {k: redact_value(v, str(k)) for k, v in data.items()}


class _Registry:
    """The process's secret values, longest first; replaced whole on every change so that
    readers (every sink, on every event) never take the lock."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.values: tuple[str, ...] = ()


_registry = _Registry()


def _forms(secret: str) -> set[str]:
    """``secret`` as it may travel: raw, percent-encoded, base64, inside a JSON string."""
    forms = {secret, quote(secret, safe=""), quote_plus(secret)}
    forms.add(base64.b64encode(secret.encode()).decode("ascii"))
    forms.add(json.dumps(secret)[1:-1])
    return forms


def _add(found: Iterable[str]) -> None:
    new = {f for f in found if len(f) >= MIN_SECRET_CHARS and f.strip("*")}
    if new <= set(_registry.values):
        return
    with _registry.lock:
        merged = new | set(_registry.values)
        _registry.values = tuple(sorted(merged, key=lambda v: (-len(v), v)))


def register_secret(value: Any) -> None:
    """Mask ``value`` (a ``str`` or ``SecretStr``) wherever any sink meets it from now on.

    Its percent-encoded, base64 and JSON-escaped forms are registered too, with and without
    surrounding whitespace. ``None``, empty and short values (under :data:`MIN_SECRET_CHARS`
    once stripped) are ignored: they are masked by key and shape only. Thread-safe;
    registering a value twice is free.
    """
    raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
    if not isinstance(raw, str) or len(raw.strip()) < MIN_SECRET_CHARS:
        return
    _add(_forms(raw) | _forms(raw.strip()))


def register_url_credentials(url: str | None) -> None:
    """Register the credentials ``url`` carries: its password (raw and percent-decoded),
    ``user:password`` and its basic-auth base64, and the values of secret-looking query
    parameters (``?access_token=``). A user name alone is not registered: it is often a
    common word (``postgres``), and it is masked by shape wherever a URL is shown."""
    if not url or ("@" not in url and "=" not in url):
        return
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        user, _, password = userinfo.partition(":")
        if len(unquote(password)) >= MIN_SECRET_CHARS:
            basic = f"{unquote(user)}:{unquote(password)}"
            register_secret(password)
            register_secret(unquote(password))
            register_secret(userinfo)
            register_secret(basic)
            _add({base64.b64encode(basic.encode()).decode("ascii")})
    for name, value in parse_qsl(parts.query):
        if is_secret_param(name):
            register_secret(value)


def register_config_credentials(value: Any, key: str = "") -> None:
    """Register the credentials a block's configuration holds, as the block is configured:
    the credentials of every URL in it, string values under secret-looking keys, and the
    values of sensitive headers in a ``headers`` mapping (whole, and their long pieces such
    as a bearer token). A server that echoes one of them into another block's output, or
    an error raised before the request is even made, then gives nothing away."""
    if value is None:
        return
    if hasattr(value, "get_secret_value"):
        register_secret(value)
    elif isinstance(value, str):
        if key and _secret_key(key):
            register_secret(value)
        elif "://" in value:
            register_url_credentials(value)
    elif isinstance(value, Mapping):
        headers = bool(key) and bool(_HEADERS_KEY.search(key))
        for name, item in value.items():
            if headers and isinstance(item, str) and is_sensitive_header(str(name)):
                for secret, floor in _header_secrets({str(name): item}):
                    if len(secret) >= floor:
                        register_secret(secret)
            else:
                register_config_credentials(item, str(name))
    elif isinstance(value, list | tuple):
        for item in value:
            register_config_credentials(item)


def scrub(text: str) -> str:
    """``text`` with every registered secret value replaced by :data:`REDACTED`."""
    for secret in _registry.values:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def forget_secrets() -> None:
    """Empty the registry (tests use it so that one test's secrets do not mask another's)."""
    with _registry.lock:
        _registry.values = ()


_NOT_TEXT = frozenset({int, float, bool, type(None)})


def redact_event(event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Mask, in place, what a log event must not carry: the engine's redaction of every
    event (the kernel's log pipeline and the testing kit's captured logs both call it).

    Numbers, booleans and ``None`` pass untouched; every other value goes through
    :func:`redact_value` (secret-looking keys, URL credentials, registered secret values).
    """
    scrubbing = bool(_registry.values)
    for key, value in event_dict.items():
        cls = value.__class__
        if cls in _NOT_TEXT or (
            cls is str and not scrubbing and "://" not in value and not (value and _secret_key(key))
        ):
            continue  # (a plain string: nothing to mask, the common case spelled out)
        event_dict[key] = redact_value(value, key)
    return event_dict


def _url_secrets(url: str) -> list[tuple[str, int]]:
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return [(url, 0)]
    found: list[tuple[str, int]] = []
    userinfo, at, _ = parts.netloc.rpartition("@")
    if at and userinfo:
        user, _, password = userinfo.partition(":")
        basic = f"{unquote(user)}:{unquote(password)}".encode()
        for secret in (userinfo, password, base64.b64encode(basic).decode("ascii")):
            found += [(secret, _MIN_SECRET), (unquote(secret), _MIN_SECRET)]
    for name, value in parse_qsl(parts.query):
        if is_secret_param(name):
            found.append((value, _MIN_SECRET))
    return found


def _header_secrets(headers: Mapping[str, str]) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for name, value in headers.items():
        if not is_sensitive_header(name) or not value:
            continue
        found.append((value, _MIN_SECRET))
        for piece in re.split(r"[\s,;]+", value):
            _key, eq, cookie_value = piece.partition("=")
            found.append((cookie_value if eq and cookie_value.strip("=") else piece, _MIN_FRAGMENT))
    return found


@dataclass(frozen=True, slots=True)
class Redactor:
    """The secrets of one request, and how to mask them in any text a block logs.

    Masking by value catches what masking by shape cannot: a server that quotes the API key
    back in its error body, a library message holding the basic-auth header. Secrets are
    kept longest first, so a secret that contains another is masked whole.
    """

    secrets: tuple[str, ...] = ()

    @classmethod
    def for_request(
        cls,
        url: str | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        secrets: Iterable[str | None] = (),
    ) -> Redactor:
        """The secrets a request carries: ``url``'s userinfo (raw, percent-decoded and as
        the base64 of a basic-auth header) and secret query values, the values of
        sensitive ``headers`` (whole, and their long pieces such as a bearer token or a
        cookie's value), and any ``secrets`` given explicitly (an API key, kept whatever its
        length; ``None`` and ``""`` are ignored).

        The request's credentials are also registered with the process's registry
        (:func:`register_url_credentials`, :func:`register_secret`; short ones excepted), so
        that every sink masks them, not only what this request's family logs: a server that
        echoes a token into a body that a later block logs gives nothing away."""
        found = _url_secrets(url) if url else []
        found += _header_secrets(headers or {})
        keep = {secret for secret, floor in found if len(secret) >= floor}
        explicit = {secret for secret in secrets if secret}
        keep |= explicit
        keep.discard("")
        register_url_credentials(url)
        for secret, floor in _header_secrets(headers or {}):
            if len(secret) >= floor:
                register_secret(secret)
        for secret in explicit:
            register_secret(secret)
        return cls(tuple(sorted(keep, key=len, reverse=True)))

    def text(self, text: str) -> str:
        """``text`` with every URL credential (:func:`redact_text`) and every known secret
        replaced by :data:`REDACTED`."""
        text = redact_text(text)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def url(self, url: str) -> str:
        """The form of ``url`` that may be logged (:func:`redact_url`, then the known
        secrets masked, e.g. a token that is part of the path)."""
        return self.text(redact_url(url))

    def snippet(self, body: str) -> str:
        """At most :data:`SNIPPET_CHARS` characters of a response body, secrets masked
        before it is cut (so no secret is ever shown in part)."""
        clean = self.text(body)
        return clean if len(clean) <= SNIPPET_CHARS else clean[: SNIPPET_CHARS - 1] + "…"
