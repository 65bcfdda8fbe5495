"""``markdown_to_html``: Markdown (CommonMark plus tables and strikethrough) to HTML.

Safe by default: raw HTML in the Markdown is escaped, not passed through (``html=False``),
and markdown-it's link validation refuses ``javascript:``, ``vbscript:``, ``file:`` and
non-image ``data:`` URLs, so such links render as plain text. ``html=True`` lets raw HTML
through: only for Markdown you trust.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from orchestrator_blocks import sdk

from .codes import EXECUTION_FAILED, FAMILY, INVALID_INPUT

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["markdown_to_html", "text_input"]


def text_input(value: sdk.Value, block: str) -> str:
    """The input as text: ``Text``, a ``Json`` string or UTF-8 ``Bytes``; anything else is
    ``transform.invalid_input``."""
    if isinstance(value, sdk.Text) or (
        isinstance(value, sdk.Json) and isinstance(value.value, str)
    ):
        return str(value.value)
    if isinstance(value, sdk.Bytes):
        try:
            return value.text()
        except UnicodeDecodeError as exc:
            raise sdk.BlockError(INVALID_INPUT, f"{block} expects UTF-8 text: {exc}") from None
    got = "nothing" if isinstance(value, sdk.Empty) else f"JSON {type(value.payload).__name__}"
    raise sdk.BlockError(INVALID_INPUT, f"{block} expects text, got {got}")


@functools.lru_cache(maxsize=8)
def _renderer(html: bool, breaks: bool) -> MarkdownIt:
    from markdown_it import MarkdownIt  # imported on first use: plugin discovery stays fast

    return MarkdownIt("commonmark", {"html": html, "breaks": breaks}).enable(
        ["table", "strikethrough"]
    )


def _validate(config: Mapping[str, Any]) -> None:
    for key in ("html", "breaks"):
        if not isinstance(config[key], bool):
            raise TypeError(f"{key} must be True or False, got {config[key]!r}")


@FAMILY.block_type("markdown_to_html", validate=_validate)
def markdown_to_html(
    ctx: sdk.RunContext, value: sdk.Value, *, html: bool = False, breaks: bool = False
) -> sdk.Value:
    """Render Markdown text to HTML (``Text``); raw HTML is escaped unless ``html=True``.

    CommonMark plus tables and ~~strikethrough~~. ``javascript:`` and similar links are
    not rendered as links. ``breaks=True`` turns single newlines into ``<br>``. Input that
    is not text is ``transform.invalid_input``.
    """
    source = text_input(value, "markdown_to_html")
    try:
        return sdk.Text(_renderer(html, breaks).render(source))
    except Exception as exc:  # markdown-it does not fail on any text; a bug if it does
        raise sdk.BlockError(
            EXECUTION_FAILED, f"markdown_to_html failed: {type(exc).__name__}: {exc}"
        ) from None
