"""markdown_to_html: CommonMark + tables + strikethrough, safe by default (raw HTML escaped,
``javascript:``-style links not rendered as links), input kinds and codes."""

from __future__ import annotations

import json
from typing import Any

import pytest

import orchestrator_blocks as ob
from orchestrator_blocks import sdk
from orchestrator_blocks.kernel.plugin_host import default_host
from orchestrator_blocks.sdk.testing import check_block_type

TRANSFORM_CODES = {
    "transform.invalid_input",
    "transform.parse_failed",
    "transform.execution_failed",
}


def convert(source: Any, **config: Any) -> ob.RunResult:
    w = ob.new_workflow("markdown-test")
    w.add(ob.Block.markdown_to_html(**config).named("md"))
    return w.run(source)


def html_of(source: Any, **config: Any) -> str:
    result = convert(source, **config)
    assert result.ok, result.error
    out = result.output("md")
    assert isinstance(out, str)
    return out


@pytest.mark.parametrize("type_id", ["markdown_to_html", "rss_parse"])
def test_types_pass_the_sdk_contract_with_transform_codes_and_defaults(cli, type_id: str) -> None:
    bt = default_host().get(type_id)
    check_block_type(bt)
    assert (bt.domain, bt.codes) == ("transform", TRANSFORM_CODES)
    policy = getattr(ob.Block, type_id)().policy
    assert (policy.retries, policy.timeout_ms) == (0, None)  # §6.3/§6.5: none, 0, n/a
    listed = cli("plugins", "list", "--json")
    row = next(t for t in json.loads(listed.out)["block_types"] if t["type_id"] == type_id)
    assert (set(row["codes"]), row["timeout_ms"], row["retries"]) == (TRANSFORM_CODES, None, 0)


RENDERS = [
    ("# Title\n\nSome *em* and **strong**.",
     "<h1>Title</h1>\n<p>Some <em>em</em> and <strong>strong</strong>.</p>\n"),
    ("- a\n- b\n", "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n"),
    ("`<code>`", "<p><code>&lt;code&gt;</code></p>\n"),
    ("| a | b |\n|---|---|\n| 1 | 2 |",
     "<table>\n<thead>\n<tr>\n<th>a</th>\n<th>b</th>\n</tr>\n</thead>\n"
     "<tbody>\n<tr>\n<td>1</td>\n<td>2</td>\n</tr>\n</tbody>\n</table>\n"),
    ("~~gone~~", "<p><s>gone</s></p>\n"),
    ("line1\nline2", "<p>line1\nline2</p>\n"),
    ("[ok](https://example.com/a?b=1&c=2)",
     '<p><a href="https://example.com/a?b=1&amp;c=2">ok</a></p>\n'),
    ("[mail](mailto:a@example.com)", '<p><a href="mailto:a@example.com">mail</a></p>\n'),
    ("![i](data:image/png;base64,AAA)", '<p><img src="data:image/png;base64,AAA" alt="i" /></p>\n'),
    ("", ""),
]  # fmt: skip


@pytest.mark.parametrize(("source", "expected"), RENDERS)
def test_render(source: str, expected: str) -> None:
    assert html_of(source) == expected


RAW_HTML = [
    "<script>alert(1)</script>",
    "hi <b onclick=alert(1)>x</b>",
    '<a href="javascript:alert(1)">y</a>',
    '<img src=x onerror="alert(1)">',
    "<iframe src=//evil.test></iframe>",
]


@pytest.mark.parametrize("source", RAW_HTML)
def test_raw_html_is_escaped_by_default(source: str) -> None:
    out = html_of(source)
    assert "<script" not in out and "<b " not in out and "<a " not in out
    assert "<img" not in out and "<iframe" not in out
    assert "&lt;" in out


DANGEROUS_LINKS = [
    "[click](javascript:alert(1))",
    "[click](JaVaScRiPt:alert(1))",
    "[click](&#106;avascript:alert(1))",  # entity-encoded
    "[click](javascript&colon;alert(1))",
    "[click](<javascript:alert(1)>)",
    "<javascript:alert(1)>",  # autolink
    "[click][r]\n\n[r]: javascript:alert(1)",  # reference link
    "![img](javascript:alert(1))",
    "[click](vbscript:msgbox(1))",
    "[click](file:///etc/passwd)",
    "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
]


@pytest.mark.parametrize("source", DANGEROUS_LINKS)
def test_dangerous_links_are_not_rendered_as_links(source: str) -> None:
    out = html_of(source)
    assert "href=" not in out and "src=" not in out
    assert "<a" not in out and "<img" not in out


def test_html_true_lets_trusted_raw_html_through() -> None:
    assert html_of("<b>x</b>", html=True) == "<p><b>x</b></p>\n"
    assert html_of("<div>\nblock\n</div>\n", html=True) == "<div>\nblock\n</div>\n"


def test_breaks_true_turns_single_newlines_into_br() -> None:
    assert html_of("a\nb", breaks=True) == "<p>a<br />\nb</p>\n"


INPUTS = [
    ("# hi", "<h1>hi</h1>\n"),  # Text
    (b"# hi \xc3\xa9", "<h1>hi é</h1>\n"),  # UTF-8 Bytes
]


@pytest.mark.parametrize(("source", "expected"), INPUTS)
def test_text_inputs(source: Any, expected: str) -> None:
    assert html_of(source) == expected


def test_a_json_string_from_upstream_is_text() -> None:
    w = ob.new_workflow("md-json-string")
    src = ob.Block.custom_transform(lambda _: sdk.Json("**bold**")).named("src")
    md = ob.Block.markdown_to_html().named("md")
    w.link(src, md)
    result = w.run({"ignored": True})
    assert result.ok, result.error
    assert result.output("md") == "<p><strong>bold</strong></p>\n"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ({"a": 1}, "got JSON dict"),
        ([1, 2], "got JSON list"),
        (None, "got nothing"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_input_that_is_not_text_is_invalid_input(source: Any, reason: str) -> None:
    result = convert(source)
    assert result.status == "failed"
    assert result.error.code == "transform.invalid_input"
    assert result.error.retry_disposition == "never"
    assert reason in result.error.message
    assert len(result.events_of("block.started")) == 1


@pytest.mark.parametrize("config", [{"html": "yes"}, {"breaks": 1}, {"unknown": True}])
def test_bad_config_fails_at_construction(config: dict[str, Any]) -> None:
    with pytest.raises(ob.InvalidBlockConfig):
        ob.Block.markdown_to_html(**config)
