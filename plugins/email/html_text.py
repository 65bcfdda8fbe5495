"""A readable plain-text rendering of an HTML body (the ``text/plain`` alternative).

Mail clients that do not render HTML, and spam filters, look at the plain-text part of a
``multipart/alternative`` message; this keeps paragraphs, list items and link targets.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text", "looks_like_html"]

_CLOSING_TAG = re.compile(r"</[A-Za-z][A-Za-z0-9]*\s*>")
_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "tr", "li", "ul", "ol", "table", "h1", "h2", "h3", "h4", "h5", "h6"}
)
_SKIP_TAGS = frozenset({"script", "style", "head", "title"})


def looks_like_html(text: str) -> bool:
    """True when ``text`` starts with ``<`` (after whitespace) and has a closing tag."""
    return text.lstrip().startswith("<") and _CLOSING_TAG.search(text) is not None


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0
        self._href: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self._break(1)
            if tag == "li":
                self.parts.append("- ")
        elif tag == "a":
            self._href.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self._break(1 if tag in ("li", "tr", "div", "br") else 2)
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "a" and self._href:
            href = self._href.pop()
            if href and not href.startswith("#") and href not in self.parts[-1:]:
                self.parts.append(f" ({href})")

    def _break(self, lines: int) -> None:
        """End the current line, leaving ``lines - 1`` blank lines (never more)."""
        text = "".join(self.parts[-3:])
        have = len(text) - len(text.rstrip("\n")) if text.strip(" ") else lines
        self.parts.append("\n" * max(0, lines - have))

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """A readable plain-text rendering of ``html`` (the ``text/plain`` alternative)."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
