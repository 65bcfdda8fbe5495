"""rss_parse: RSS 2.0 and Atom feeds (written inline) to a Json list of entries; bodies that are
not feeds; and a real fetch from the loopback HTTP server through http_request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from support.http_server import Reply, ScriptedHTTPServer

import orchestrator_blocks as ob

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
  <channel>
    <title>Example news</title>
    <link>https://news.example.test/</link>
    <description>All the news</description>
    <item>
      <title>First &amp; best</title>
      <link>https://news.example.test/1</link>
      <guid isPermaLink="false">news-1</guid>
      <pubDate>Mon, 09 Feb 2026 10:00:00 +0100</pubDate>
      <description>&lt;p&gt;Hello &lt;script&gt;alert(1)&lt;/script&gt;world&lt;/p&gt;</description>
    </item>
    <item>
      <title>Second, bare</title>
      <link>https://news.example.test/2</link>
    </item>
  </channel>
</rss>
"""

RSS_ENTRIES = [
    {
        "title": "First & best",
        "link": "https://news.example.test/1",
        "published": "2026-02-09T09:00:00Z",  # +0100 normalised to UTC
        "summary": "<p>Hello world</p>",  # feedparser drops the <script>
        "id": "news-1",
    },
    {
        "title": "Second, bare",
        "link": "https://news.example.test/2",
        "published": None,
        "summary": None,
        "id": None,
    },
]

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Example Atom</title>
  <id>urn:example:feed</id>
  <updated>2026-02-08T12:30:00Z</updated>
  <entry>
    <title>Atom one</title>
    <link href="https://atom.example.test/1"/>
    <id>urn:example:1</id>
    <updated>2026-02-08T12:30:00Z</updated>
    <summary>Summary one</summary>
  </entry>
  <entry>
    <title type="html">Atom &lt;em&gt;two&lt;/em&gt;</title>
    <link rel="alternate" href="https://atom.example.test/2"/>
    <id>urn:example:2</id>
    <published>2026-02-07T08:00:00+02:00</published>
    <updated>2026-02-08T00:00:00Z</updated>
  </entry>
</feed>
"""

ATOM_ENTRIES = [
    {
        "title": "Atom one",
        "link": "https://atom.example.test/1",
        "published": "2026-02-08T12:30:00Z",  # no <published>: falls back to <updated>
        "summary": "Summary one",
        "id": "urn:example:1",
    },
    {
        "title": "Atom <em>two</em>",
        "link": "https://atom.example.test/2",
        "published": "2026-02-07T06:00:00Z",  # <published> wins over <updated>
        "summary": None,
        "id": "urn:example:2",
    },
]

EMPTY_RSS = '<?xml version="1.0"?><rss version="2.0"><channel><title>E</title></channel></rss>'
LATIN1_RSS = (
    '<?xml version="1.0" encoding="ISO-8859-1"?><rss version="2.0"><channel><title>C</title>'
    "<item><title>Caf\xe9</title><link>https://x.test/c</link></item></channel></rss>"
).encode("latin-1")


def parse(payload: Any) -> ob.RunResult:
    w = ob.new_workflow("rss-test")
    w.add(ob.Block.rss_parse().named("rss"))
    return w.run(payload)


FEEDS = [
    # (input, entries)
    (RSS, RSS_ENTRIES),  # Text
    (RSS.encode(), RSS_ENTRIES),  # Bytes
    (ATOM, ATOM_ENTRIES),
    (EMPTY_RSS, []),  # a feed without entries
    (LATIN1_RSS, [  # Bytes: the XML declaration's encoding is honoured
        {"title": "Café", "link": "https://x.test/c", "published": None, "summary": None,
         "id": None}]),
]  # fmt: skip


@pytest.mark.parametrize(("payload", "entries"), FEEDS)
def test_feeds_parse_to_a_json_list_of_entries(payload: Any, entries: list[Any]) -> None:
    result = parse(payload)
    assert result.ok, result.error
    assert result.output("rss") == entries


NOT_FEEDS = [
    "<!doctype html><html><body><h1>Not a feed</h1></body></html>",
    "plain garbage",
    '{"items": [1, 2]}',
    "",
    b"\xff\xfe<rss",
]


@pytest.mark.parametrize("payload", NOT_FEEDS)
def test_a_body_that_is_not_a_feed_is_parse_failed(payload: Any) -> None:
    result = parse(payload)
    assert result.status == "failed"
    assert result.error.code == "transform.parse_failed"
    assert result.error.retry_disposition == "never"
    assert "not an RSS or Atom feed" in result.error.message
    assert len(result.events_of("block.started")) == 1


@pytest.mark.parametrize(("payload", "reason"), [({"a": 1}, "JSON dict"), (None, "nothing")])
def test_input_that_is_not_text_is_invalid_input(payload: Any, reason: str) -> None:
    result = parse(payload)
    assert result.status == "failed"
    assert result.error.code == "transform.invalid_input"
    assert reason in result.error.message


def test_a_text_that_looks_like_a_url_or_path_is_parsed_never_fetched(
    upstream: ScriptedHTTPServer,
) -> None:
    url = upstream.script("/feed.xml", Reply(200, RSS))
    for payload in (url, "/etc/hostname"):
        result = parse(payload)
        assert result.status == "failed"
        assert result.error.code == "transform.parse_failed"
    assert upstream.requests == []


@pytest.fixture
def upstream() -> Iterator[ScriptedHTTPServer]:
    with ScriptedHTTPServer() as server:
        yield server


@pytest.mark.parametrize(
    ("body", "content_type", "parse_as", "entries"),
    [
        (RSS, "application/rss+xml; charset=utf-8", "text", RSS_ENTRIES),
        (ATOM, "application/atom+xml", "text", ATOM_ENTRIES),
        (ATOM, "application/atom+xml", "bytes", ATOM_ENTRIES),
        (LATIN1_RSS, "application/rss+xml; charset=ISO-8859-1", "text", FEEDS[4][1]),
        (LATIN1_RSS, "application/rss+xml", "bytes", FEEDS[4][1]),
    ],
)
def test_fetch_a_feed_over_http_and_parse_it(
    upstream: ScriptedHTTPServer, body: Any, content_type: str, parse_as: str, entries: Any
) -> None:
    url = upstream.script("/feed.xml", Reply(200, body, {"Content-Type": content_type}))
    w = ob.new_workflow("feed-reader")
    fetch = ob.Block.http_request(url, parse=parse_as).named("fetch").set_timeout_ms(5_000)
    w.link(fetch, ob.Block.rss_parse().named("rss"))
    result = w.run()
    assert result.ok, result.error
    assert result.output("rss") == entries
    assert [(r.method, r.path) for r in upstream.requests] == [("GET", "/feed.xml")]


def test_an_html_page_fetched_instead_of_a_feed_fails_the_parse_step(
    upstream: ScriptedHTTPServer,
) -> None:
    url = upstream.script(
        "/feed.xml", Reply(200, "<html><body>Moved</body></html>", {"Content-Type": "text/html"})
    )
    w = ob.new_workflow("feed-reader")
    w.link(ob.Block.http_request(url).named("fetch"), ob.Block.rss_parse().named("rss"))
    result = w.run()
    assert result.status == "failed"
    assert result.error.code == "transform.parse_failed"
    assert result.output("fetch") == "<html><body>Moved</body></html>"
