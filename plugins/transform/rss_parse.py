"""``rss_parse``: RSS 0.9x/1.0/2.0 and Atom feeds to a ``Json`` list of entries, on feedparser.

The input is parsed as a document and never as a location: feedparser treats a string
that looks like a URL or a file path as something to fetch or open, so the body is always
handed to it as bytes in a stream. feedparser also sanitises entry HTML (``<script>`` and
event handlers are removed from summaries).
"""

from __future__ import annotations

import calendar
import io
import time
from datetime import UTC, datetime
from typing import Any

from orchestrator_blocks import sdk

from .codes import FAMILY, PARSE_FAILED
from .markdown_to_html import text_input

__all__ = ["rss_parse"]


def _iso(parsed: time.struct_time | None, raw: Any) -> str | None:
    if parsed is not None:
        try:
            when = datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
        except (OverflowError, ValueError, OSError):
            return str(raw) if raw else None
        return when.isoformat().replace("+00:00", "Z")
    return str(raw) if raw else None


def _entry(e: Any) -> dict[str, Any]:
    if e.get("published") or e.get("published_parsed"):
        published = _iso(e.get("published_parsed"), e.get("published"))
    else:
        published = _iso(e.get("updated_parsed"), e.get("updated"))
    return {
        "title": e.get("title"),
        "link": e.get("link"),
        "published": published,
        "summary": e.get("summary"),
        "id": e.get("id"),
    }


@FAMILY.block_type("rss_parse")
def rss_parse(ctx: sdk.RunContext, value: sdk.Value) -> sdk.Value:
    """Parse an RSS or Atom feed into a ``Json`` list of entries.

    Each entry is ``{title, link, published, summary, id}`` (missing ones are ``null``);
    ``published`` is ISO 8601 UTC when the date parses (else the feed's own text) and falls
    back to the entry's ``updated`` date. A body that is not a feed (HTML, garbage) is
    ``transform.parse_failed``; a feed with no entries gives ``[]``.
    """
    if isinstance(value, sdk.Bytes):
        body, headers = value.value, {}
    else:
        body = text_input(value, "rss_parse").encode("utf-8")
        headers = {"content-type": "application/xml; charset=utf-8"}
    import feedparser  # imported on first use: plugin discovery stays fast

    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:  # feedparser reports bad input as "bozo"; this is a backstop
        raise sdk.BlockError(
            PARSE_FAILED, f"rss_parse: feedparser failed: {type(exc).__name__}: {exc}"
        ) from None
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception")
        raise sdk.BlockError(
            PARSE_FAILED,
            "rss_parse: the input is not an RSS or Atom feed"
            + (f" ({type(problem).__name__}: {problem})" if problem else ""),
            details={
                "bozo": bool(parsed.get("bozo")),
                "starts_with": body[:80].decode("utf-8", "replace"),
            },
        )
    return sdk.Json([_entry(e) for e in parsed.entries])
