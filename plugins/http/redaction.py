"""What of a request or response may appear in logs, events and error envelopes.

Nothing secret leaves the block: request headers are never logged at all, URLs are shown
without their userinfo (``user:password@``), fragment or secret-looking query values, and
every text the block does log (library messages, response snippets) is scrubbed of the
request's secrets by a :class:`Redactor`, in case a server echoes them back.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, unquote_plus, urlsplit, urlunsplit

__all__ = ["REDACTED", "SNIPPET_CHARS", "Redactor", "is_sensitive_header", "redact_url"]

SNIPPET_CHARS = 500
REDACTED = "**********"
_MIN_SECRET = 4  # shorter secrets are masked in URLs, not wherever their letters occur in text
_MIN_FRAGMENT = 8  # shorter pieces of a secret header ("Bearer", "Basic") are not masked

_SENSITIVE_HEADER = re.compile(
    r"authorization|cookie|api[-_]?key|token|secret|passw(or)?d|session|signature|credential",
    re.IGNORECASE,
)
_SECRET_PARAM = re.compile(
    r"(?:^|[-_.])(?:access_?token|refresh_?token|id_?token|token|api_?key|apikey|key|secret|"
    r"client_?secret|pass(?:word|wd)?|pwd|sig(?:nature)?|auth|authorization|credentials?|"
    r"session(?:_?id)?|sid|jwt|bearer|code)(?:$|[-_.])",
    re.IGNORECASE,
)
_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.\-]*://)[^/?#@\s]*@")


def is_sensitive_header(name: str) -> bool:
    """True for headers whose value is a credential (``Authorization``, ``X-API-Key``...)."""
    return bool(_SENSITIVE_HEADER.search(name))


def _is_secret_param(name: str) -> bool:
    return bool(_SECRET_PARAM.search(unquote_plus(name)))


def _redact_param(pair: str) -> str:
    name, sep, value = pair.partition("=")
    if sep and value and _is_secret_param(name):
        return f"{name}={REDACTED}"
    return pair


def redact_url(url: str) -> str:
    """``url`` safe to show: userinfo masked, no fragment, secret query values masked."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return "<unparseable url>"
    userinfo, at, host = parts.netloc.rpartition("@")
    netloc = f"{REDACTED}@{host}" if at and userinfo else host
    query = "&".join(_redact_param(p) for p in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


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
        if _is_secret_param(name):
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
    """The secrets of one request, and how to mask them in any text the block logs."""

    secrets: tuple[str, ...] = ()

    @classmethod
    def for_request(cls, url: str, headers: Mapping[str, str] | None = None) -> Redactor:
        """Collect the URL's credentials and secret query values and the values of
        sensitive headers (whole, and their long pieces such as a bearer token)."""
        found = _url_secrets(url) + _header_secrets(headers or {})
        keep = {secret for secret, floor in found if len(secret) >= floor}
        return cls(tuple(sorted(keep, key=len, reverse=True)))

    def text(self, text: str) -> str:
        """``text`` with every URL userinfo and every known secret replaced."""
        text = _USERINFO.sub(lambda m: m.group("scheme") + REDACTED + "@", text)
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def url(self, url: str) -> str:
        """The form of ``url`` that may be logged."""
        return self.text(redact_url(url))

    def snippet(self, body: str) -> str:
        """At most :data:`SNIPPET_CHARS` characters of a response body, secrets masked."""
        clean = self.text(body)
        return clean if len(clean) <= SNIPPET_CHARS else clean[: SNIPPET_CHARS - 1] + "…"
