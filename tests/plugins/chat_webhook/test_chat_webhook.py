"""The contrib ``chat_webhook`` family against a real webhook on loopback, registered at run
time (``ob.register_plugin``) straight from ``contrib_blocks/`` without installing it.

The module is loaded from its file, not by putting its folder on ``sys.path``: a build of the
distribution leaves an ``.egg-info`` there, which would make entry-point discovery register
the same module a second time."""

from __future__ import annotations

import email.utils
import importlib.util
import json
import socket
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support.http_server import Reply, ScriptedHTTPServer

import orchestrator_blocks as ob

SOURCE = (
    Path(__file__).resolve().parents[3]
    / "contrib_blocks"
    / "chat_webhook"
    / "orchestrator_blocks_chat_webhook"
    / "__init__.py"
)


@pytest.fixture
def chat_webhook() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("orchestrator_blocks_chat_webhook", SOURCE)
    assert spec is not None and spec.loader is not None
    plugin = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plugin)
    ob.register_plugin(plugin)
    return plugin


@pytest.fixture
def webhook() -> ScriptedHTTPServer:
    with ScriptedHTTPServer() as server:
        yield server


def run(block: ob.Block, payload: object = "hello") -> ob.RunResult:
    w = ob.new_workflow("notify")
    w.add(block)
    return w.run(payload)


def test_a_reply_slower_than_httpx_default_but_within_the_block_timeout_succeeds(
    chat_webhook, webhook
):
    url = webhook.script("/hook", Reply(200, "ok", delay=7.0))
    block = ob.Block.chat_webhook(url).set_timeout(10).set_retry(0)
    result = run(block)
    assert result.ok, result.error
    assert result.output(block) == {"posted": True, "status": 200}
    assert len(result.events_of("block.started")) == 1
    [posted] = webhook.requests_to("/hook")
    assert posted.json() == {"text": "hello"}


def test_a_refused_port_is_unreachable_and_retried(chat_webhook):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    block = ob.Block.chat_webhook(f"http://127.0.0.1:{port}/hook")
    result = run(block.set_retry_exponential(2, 5, 2.0, jitter=0.0))
    err = result.error
    assert (err.code, err.retry_disposition, err.attempt) == (
        "chat_webhook.unreachable",
        "backoff",
        3,
    )


def test_a_rejection_never_shows_the_webhook_url(chat_webhook, webhook):
    url = webhook.script("/hooks/T0001/B0002/s3cr3tT0ken", Reply(403, "bad token"))
    refused = run(ob.Block.chat_webhook(url))
    assert (refused.error.code, refused.error.attempt) == ("chat_webhook.rejected", 1)
    assert refused.error.message == "webhook forbade the request (403): bad token"
    echoes = []
    for path, said in [
        ("/full/T0001/B0002/s3cr3tT0ken", "unknown hook {url}"),
        ("/path/T0001/B0002/s3cr3tT0ken", "no such hook: {path}"),
    ]:
        hook = webhook.url(path)
        webhook.script(path, Reply(400, said.format(url=hook, path=path)))
        echoes.append(run(ob.Block.chat_webhook(hook)))
    for result in (refused, *echoes):
        assert result.error.code == "chat_webhook.rejected"
        shown = json.dumps([result.events, result.error.to_dict()], default=str)
        assert "s3cr3tT0ken" not in shown
    assert [r.error.message for r in echoes] == [
        "webhook rejected the request (400): unknown hook **********",
        "webhook rejected the request (400): no such hook: **********",
    ]


def test_retry_after_as_an_http_date_is_honoured(chat_webhook, webhook):
    when = email.utils.format_datetime(datetime.now(UTC) + timedelta(hours=1), usegmt=True)
    url = webhook.script("/hook", Reply(429, "slow down", {"Retry-After": when}), Reply(200))
    block = ob.Block.chat_webhook(url).set_retry_exponential(1, 5, 2.0, jitter=0.0, cap_ms=80)
    result = run(block)
    assert result.ok, result.error
    [retry] = result.events_of("block.retry_scheduled")
    assert (retry["code"], retry["delay_ms"]) == ("chat_webhook.rate_limited", 80)
