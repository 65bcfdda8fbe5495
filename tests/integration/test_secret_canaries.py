"""A canary credential in every way a secret enters a run never comes out anywhere.

One real run per path a secret was seen to leak through (a ``ctx.log`` field, a
``?access_token=`` URL, a ``BlockError`` message and details, a panic message, a
``ctx.secret`` value logged by mistake, URL credentials and an ``Authorization`` header in an
``http_request``, the SMTP password against aiosmtpd AUTH, the AI key against an
OpenAI-compatible server), with OTLP export to a real receiver. Then the canary (raw,
percent-encoded, base64, and as basic-auth base64) is searched for in every sink: the JSON
logs, every column of every table of ``state.db``, the raw OTLP payloads, ``explain`` in
every format, the CLI's output, and the web console's pages and API: zero occurrences.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import sqlite3
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from support.http_server import Reply, ScriptedHTTPServer
from support.openai_server import Fault, OpenAICompatibleServer
from support.otlp_receiver import OtlpReceiver
from support.smtp_server import SmtpPeer

from orchestrator_blocks.app.store import forget_stores
from orchestrator_blocks.kernel.config import load_settings
from orchestrator_blocks.kernel.telemetry import flush_all
from orchestrator_blocks.sdk.redaction import REDACTED

PRELUDE = """
import orchestrator_blocks as ob
from support import canary_blocks

canary_blocks.ensure_registered()
"""


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass
class Sinks:
    """A test's home, its workflows, the OTLP receiver, and every place to search."""

    home: Path
    workflows: Path
    receiver: OtlpReceiver
    cli: object
    outputs: dict[str, str] = field(default_factory=dict)
    run_ids: list[str] = field(default_factory=list)

    def workflow(self, name: str, body: str) -> Path:
        path = self.workflows / f"{name}.py"
        path.write_text(PRELUDE + textwrap.dedent(body))
        return path

    def run(self, path: Path, *args: str) -> dict:
        res = self.cli("run", str(path), "--json", *args)  # type: ignore[operator]
        self.outputs[f"run {path.name} {' '.join(args)}"] = res.out + res.err
        summary = json.loads(res.out)
        self.run_ids.append(summary["run_id"])
        return summary

    # -- every sink ------------------------------------------------------------------------

    def texts(self) -> dict[str, str]:
        flush_all()
        found = dict(self.outputs)
        for path in sorted((self.home / "logs").glob("*.jsonl")):
            found[f"logs/{path.name}"] = path.read_text(encoding="utf-8")
        found.update(_database(self.home / "state.db"))
        bodies = list(self.receiver.bodies)
        assert bodies, "the OTLP receiver got nothing: the span sink was not exercised"
        found["OTLP payloads"] = b"".join(bodies).decode("latin-1")
        found["OTLP spans, decoded"] = repr(self.receiver.spans)
        for path in sorted(self.workflows.glob("*.py")):
            for fmt in ("text", "json", "mermaid"):
                res = self.cli("explain", str(path), "-f", fmt)  # type: ignore[operator]
                assert res.code == 0, res
                found[f"explain {path.name} -f {fmt}"] = res.out + res.err
        for run_id in self.run_ids:
            for args in (("logs", run_id), ("logs", run_id, "--json")):
                res = self.cli(*args)  # type: ignore[operator]
                found[" ".join(args)] = res.out + res.err
        res = self.cli("runs", "--json")  # type: ignore[operator]
        found["runs --json"] = res.out + res.err
        found.update(_console_pages(self.workflows, self.run_ids))
        return found

    def assert_no_canary(self, *canaries: str, users: tuple[str, ...] = ()) -> dict[str, str]:
        needles = set()
        for canary in canaries:
            needles |= {canary, quote(canary, safe=""), _b64(canary)}
            needles |= {_b64(f"{user}:{canary}") for user in users}
        texts = self.texts()
        hits = sorted(
            f"{sink}: {needle!r}"
            for sink, text in texts.items()
            for needle in needles
            if needle in text
        )
        assert hits == [], "a canary leaked:\n" + "\n".join(hits)
        return texts


def _database(path: Path) -> dict[str, str]:
    assert path.exists(), "the store was not written"
    conn = sqlite3.connect(path)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return {
            f"state.db {table}": "\n".join(
                repr(row) for row in conn.execute(f'SELECT * FROM "{table}"')
            )
            for table in tables
        }
    finally:
        conn.close()


def _console_pages(workflows: Path, run_ids: list[str]) -> dict[str, str]:
    """Every page and API answer of a real console over this home that can show a run."""
    import uvicorn

    from orchestrator_blocks.app.console import create_app

    settings = load_settings()
    app = create_app(settings, workflows)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "console did not start"
        time.sleep(0.01)
    pages: dict[str, str] = {}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            form = client.get("/login").text
            csrf = re.search(r'name="csrf_token" value="([^"]*)"', form).group(1)  # type: ignore[union-attr]
            token = (settings.home / "console-token").read_text().strip()
            client.post("/login", data={"name": "mike", "token": token, "csrf_token": csrf})
            paths = ["/proposed-actions", "/runs", "/workflows", "/api/proposals", "/api/runs"]
            paths += ["/api/workflows"]
            paths += [f"/workflows/{p.stem}" for p in sorted(workflows.glob("*.py"))]
            for run_id in run_ids:
                paths += [f"/runs/{run_id}", f"/runs/{run_id}/logs", f"/api/runs/{run_id}"]
            for path in paths:
                reply = client.get(path)
                assert reply.status_code == 200, (path, reply.status_code, reply.text[:300])
                pages[f"console {path}"] = reply.text
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    return pages


@pytest.fixture
def sinks(
    cli, isolated_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Sinks]:
    workflows = tmp_path / "workflows"
    workflows.mkdir()
    for name in ("ORCHESTRATOR_BLOCKS_AI_URL", "ORCHESTRATOR_BLOCKS_AI_KEY"):
        monkeypatch.delenv(name, raising=False)
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
        yield Sinks(isolated_home, workflows, receiver, cli)
    forget_stores()


def _canary(path: str) -> str:
    return f"CANARY{path}{secrets.token_hex(8)}"


def _leaky_workflow(sinks: Sinks, how: str) -> Path:
    return sinks.workflow(
        f"leaky_{how}",
        f"""
        workflow = ob.new_workflow("leaky_{how}")
        workflow.add(ob.Block.canary_leak("{how}"))
        """,
    )


def test_a_token_logged_in_a_ctx_log_field(sinks: Sinks, monkeypatch: pytest.MonkeyPatch) -> None:
    canary = _canary("logfield")
    monkeypatch.setenv("CANARY_LOG_FIELD", canary)  # read behind the SDK's back: key only
    summary = sinks.run(_leaky_workflow(sinks, "log_field"))
    assert summary["status"] == "succeeded"
    texts = sinks.assert_no_canary(canary)
    assert f'"auth_header":"{REDACTED}"' in "".join(
        t for k, t in texts.items() if k.startswith("logs/")
    )


@pytest.mark.parametrize("how", ["secret_logged", "block_error", "panic"])
def test_a_ctx_secret_logged_raised_or_panicked_with(
    sinks: Sinks, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    canary = _canary(how)
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SECRET_CANARY_TOKEN", canary)
    summary = sinks.run(_leaky_workflow(sinks, how))
    expected = {"secret_logged": "succeeded", "block_error": "failed", "panic": "failed"}[how]
    assert summary["status"] == expected
    if how != "secret_logged":
        code = "canary.refused" if how == "block_error" else "runtime.panic"
        assert summary["error"]["code"] == code
        assert REDACTED in summary["error"]["message"]
    sinks.assert_no_canary(canary)


def test_an_access_token_in_a_url_echoed_by_the_server(sinks: Sinks) -> None:
    canary = _canary("accesstoken")
    with ScriptedHTTPServer() as upstream:
        upstream.script("/crm", Reply(401, {"error": f"invalid access_token {canary}"}))
        url = upstream.url(f"/crm?access_token={canary}&page=2")
        path = sinks.workflow(
            "token_in_url",
            f"""
            workflow = ob.new_workflow("token_in_url")
            workflow.add(ob.Block.http_request("{url}").set_retry(0))
            """,
        )
        summary = sinks.run(path)
    assert summary["error"]["code"] == "http.auth.401"
    assert upstream.requests_to("/crm"), "the request was not made"
    sinks.assert_no_canary(canary)


def test_url_credentials_and_an_authorization_header(sinks: Sinks) -> None:
    password, bearer = _canary("password"), _canary("bearer")
    with ScriptedHTTPServer() as upstream:
        echo = f"you are bot:{password}, token {bearer}"
        upstream.script("/crm", Reply(200, echo))  # the answer flows into a block that logs it
        upstream.script("/refused", Reply(401, echo))  # the answer becomes an error snippet
        plain = upstream.url("/").rstrip("/")
        with_userinfo = plain.replace("http://", f"http://bot:{password}@")
        path = sinks.workflow(
            "crm_calls",
            f"""
            headers = {{"Authorization": "Bearer {bearer}", "Accept": "text/plain"}}
            workflow = ob.new_workflow("crm_calls")
            call = ob.Block.http_request("{with_userinfo}/crm").set_retry(0)
            refused = ob.Block.http_request("{plain}/refused", headers=headers).set_retry(0)
            workflow.link(call, ob.Block.canary_leak("log_input"))
            workflow.link(call, refused)
            """,
        )
        summary = sinks.run(path)
        (basic,) = upstream.requests_to("/crm")
        (bearer_request,) = upstream.requests_to("/refused")
    # the real requests carried the credentials
    assert basic.headers["Authorization"] == "Basic " + _b64(f"bot:{password}")
    assert bearer_request.headers["Authorization"] == f"Bearer {bearer}"
    assert summary["error"]["code"] == "http.auth.401"
    sinks.assert_no_canary(password, bearer, users=("bot",))


@pytest.mark.parametrize("accepted", [True, False], ids=["login-accepted", "login-refused"])
def test_the_smtp_password(sinks: Sinks, monkeypatch: pytest.MonkeyPatch, accepted: bool) -> None:
    canary = _canary("smtp")
    required = canary if accepted else "another-password-0"
    with SmtpPeer(auth=("mailer", required)) as peer:
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", peer.url_for("mailer", canary))
        path = sinks.workflow(
            "mail_ops",
            """
            workflow = ob.new_workflow("mail_ops")
            workflow.add(ob.Block.send_email("ops@example.com", subject="Nightly").set_retry(0))
            """,
        )
        summary = sinks.run(path, "--text", "all good")
    assert peer.logins and all(ok is accepted for _, ok in peer.logins)
    if accepted:
        assert summary["status"] == "succeeded" and len(peer.deliveries) == 1
    else:
        assert summary["error"]["code"] == "email.smtp.auth_failed"
    sinks.assert_no_canary(canary, users=("mailer",))


@pytest.mark.parametrize("accepted", [True, False], ids=["key-accepted", "key-echoed-in-401"])
def test_the_ai_key(sinks: Sinks, monkeypatch: pytest.MonkeyPatch, accepted: bool) -> None:
    canary = _canary("aikey")
    with OpenAICompatibleServer(key=canary) as provider:
        if not accepted:
            provider.fail_next(1, Fault.unauthorized(f"Incorrect API key provided: {canary}."))
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_URL", provider.base_url)
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_KEY", canary)
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_AI_MODEL", "local-model")
        path = sinks.workflow(
            "summarise",
            """
            workflow = ob.new_workflow("summarise")
            workflow.add(ob.Block.ai_generate("Say hello").set_retry(0))
            """,
        )
        summary = sinks.run(path)
    assert provider.completions, "the provider was not called"
    if accepted:
        assert summary["status"] == "succeeded"
    else:
        assert summary["error"]["code"] == "ai.auth"
    sinks.assert_no_canary(canary)
