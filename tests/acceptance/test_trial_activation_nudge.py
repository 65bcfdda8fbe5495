"""trial_activation_nudge end to end (contract §5.2, §9, §11 items 1-5, §13) against real peers.

The example file is loaded the way ``orchestrator-blocks run`` loads it, then its policies
are shrunk so retries and timeouts take milliseconds. The upstream is a ScriptedHTTPServer,
SMTP is an aiosmtpd SmtpPeer, the error log is a real file under FILES_ROOT.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest
from support.http_server import Reply, ScriptedHTTPServer
from support.smtp_server import SmtpPeer

import orchestrator_blocks as ob
from orchestrator_blocks.kernel.loader import load_module

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "trial_activation_nudge.py"
PATH = "/trials/not-activated"
ERROR_LOG = Path("errors") / "trial_activation_nudge.jsonl"
CORE = ("trigger", "fetch_trials", "render_nudge", "send_nudge")

TRIALS = {
    "count": 2,
    "trials": [
        {
            "company": "Northwind Bakery",
            "email": "ana@northwind.example",
            "signed_up": "2026-11-10",
            "days_left": 9,
        },
        {
            "company": "Acme <b>Bold</b> & Sons",
            "email": "bo@acme.example",
            "signed_up": "2026-11-12",
            "days_left": 4,
        },
    ],
}

# Small policies: what the tests override on the example's blocks.
FETCH_RETRIES = 2
SEND_RETRIES = 2


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def files_root() -> Path:
    return Path(os.environ["ORCHESTRATOR_BLOCKS_FILES_ROOT"])


@pytest.fixture
def home() -> Path:
    return Path(os.environ["ORCHESTRATOR_BLOCKS_HOME"])


@pytest.fixture
def upstream():
    with ScriptedHTTPServer() as server:
        yield server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch):
    """Set the example's settings; every test starts with no SMTP configured."""
    monkeypatch.delenv("ORCHESTRATOR_BLOCKS_SMTP_URL", raising=False)
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_NUDGE_TO", "growth@example.com")

    def apply(trials_url: str, smtp_url: str | None = None) -> None:
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_TRIALS_URL", trials_url)
        if smtp_url is not None:
            monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", smtp_url)

    return apply


def load_example(*, fetch_timeout_ms: int = 2_000, send_timeout_ms: int = 2_000) -> ob.Workflow:
    """The example's workflow as ``orchestrator-blocks run`` loads it, with fast policies."""
    w = load_module(EXAMPLE).build_workflow()
    block(w, "fetch_trials").set_timeout_ms(fetch_timeout_ms).set_retry_exponential(
        FETCH_RETRIES, 5, 2.0, jitter=0.0
    )
    block(w, "send_nudge").set_timeout_ms(send_timeout_ms).set_retry_exponential(
        SEND_RETRIES, 5, 2.0, jitter=0.0
    )
    return w


def block(w: ob.Workflow, name: str) -> ob.Block:
    return w.blocks[w.id_of(name)]


def attempts(r: ob.RunResult, block_id: str) -> int:
    return sum(
        1
        for e in r.events_of("block.started")
        if e.get("block_id") == block_id and e.get("run_id") == r.run_id
    )


def error_lines(files_root: Path) -> list[dict[str, Any]]:
    path = files_root / ERROR_LOG
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def assert_one_error_line(r: ob.RunResult, files_root: Path) -> dict[str, Any]:
    """Exactly one structured line, and it says what the run result says."""
    lines = error_lines(files_root)
    assert len(lines) == 1, lines
    line = lines[0]
    err = r.error
    assert err is not None
    assert line["workflow_id"] == r.workflow_id == "trial_activation_nudge"
    assert line["run_id"] == r.run_id
    assert line["block_id"] == err.block_id
    assert line["code"] == err.code
    assert line["retry_disposition"] == str(err.retry_disposition)
    assert line["attempt"] == err.attempt
    assert line["origin"] == "block"
    assert line["domain"] == err.domain
    assert line["provider_status"] == err.provider_status
    assert line["message"] == err.message
    return line


# -- the example as written ------------------------------------------------------------------


def test_example_declares_the_contract_graph_and_policies(env) -> None:
    env("http://127.0.0.1:1/trials/not-activated")
    w = load_module(EXAMPLE).build_workflow()
    assert [(s, t, k) for s, t, k in w.edges()] == [
        ("trigger", "fetch_trials", "success"),
        ("fetch_trials", "render_nudge", "success"),
        ("render_nudge", "send_nudge", "success"),
        ("fetch_trials", "log_error", "error"),
        ("render_nudge", "log_error", "error"),
        ("send_nudge", "log_error", "error"),
    ]
    assert [block(w, n).type_id for n in (*CORE, "log_error")] == [
        "cron",
        "http_request",
        "template_handlebars",
        "send_email",
        "child_workflow",
    ]
    fetch, send = block(w, "fetch_trials").policy, block(w, "send_nudge").policy
    assert (fetch.timeout_ms, fetch.retries, fetch.backoff.base_ms) == (30_000, 2, 1_000)
    assert (send.timeout_ms, send.retries, send.backoff.base_ms) == (30_000, 3, 1_000)
    assert block(w, "fetch_trials").config["url"] == "http://127.0.0.1:1/trials/not-activated"


# -- happy path -------------------------------------------------------------------------------


def test_success_sends_one_email_with_the_trials_escaped(env, upstream, files_root) -> None:
    url = upstream.script(PATH, Reply(200, TRIALS))
    with SmtpPeer() as smtp:
        env(url, smtp.url)
        r = load_example().run()
        assert r.status is ob.RunStatus.SUCCEEDED, r.error
        assert len(smtp.messages) == 1
        delivery = smtp.deliveries[0]
    assert delivery.rcpt_tos == ("growth@example.com",)
    msg = delivery.message
    assert msg["Subject"] == "Trial Activation Nudge"
    html = msg.get_body(preferencelist=("html",)).get_content()
    assert "<h1>2 trials have not activated yet</h1>" in html
    assert "<td>Northwind Bakery</td><td>ana@northwind.example</td>" in html
    assert "Acme &lt;b&gt;Bold&lt;/b&gt; &amp; Sons" in html
    assert "<b>Bold</b>" not in html
    assert "<td>bo@acme.example</td><td>2026-11-12</td><td>4</td>" in html
    assert r.output("send_nudge")["transport"] == "smtp"
    assert r.output("send_nudge")["to"] == ["growth@example.com"]
    assert [attempts(r, b) for b in CORE] == [1, 1, 1, 1]
    assert len(upstream.requests_to(PATH)) == 1
    assert not (files_root / ERROR_LOG).exists()


def test_success_without_smtp_writes_the_nudge_to_the_outbox(env, upstream, home) -> None:
    env(upstream.script(PATH, Reply(200, TRIALS)))
    r = load_example().run()
    assert r.ok, r.error
    out = r.output("send_nudge")
    assert out["transport"] == "outbox"
    path = Path(out["path"])
    assert path.parent == home / "outbox"
    assert sorted(p.name for p in (home / "outbox").iterdir()) == [path.name]
    eml = path.read_text(encoding="utf-8")
    assert "growth@example.com" in eml
    assert "Trial Activation Nudge" in eml


# -- §11 edge cases ---------------------------------------------------------------------------


def test_malformed_upstream_body_fails_without_email(env, upstream, files_root, home) -> None:
    url = upstream.script(PATH, Reply(200, b"<html>upstream proxy error</html>"))
    with SmtpPeer() as smtp:
        env(url, smtp.url)
        r = load_example().run()
        assert smtp.transactions == 0
    assert r.status is ob.RunStatus.FAILED
    assert r.error is not None
    assert (r.error.block_id, r.error.code) == ("fetch_trials", "http.invalid_response")
    assert str(r.error.retry_disposition) == "never"
    assert r.error.provider_status == 200
    assert attempts(r, "fetch_trials") == 1 == r.error.attempt
    assert not r.ran("render_nudge") and not r.ran("send_nudge")
    assert not (home / "outbox").exists() or not any((home / "outbox").iterdir())
    assert len(r.events_of("on_error.handler_succeeded")) == 1
    assert_one_error_line(r, files_root)


@pytest.mark.parametrize(
    ("body", "missing"),
    [
        pytest.param(b"null", "count", id="null"),
        pytest.param(b"[1, 2]", "count", id="list"),
        pytest.param(b'{"trials": []}', "count", id="no_count"),
        pytest.param(b'{"count": 1, "trials": [{"company": "X"}]}', "email", id="short_trial"),
    ],
)
def test_json_of_the_wrong_shape_fails_at_render_without_email(
    env, upstream, files_root, body: bytes, missing: str
) -> None:
    """Valid JSON that is not the trials document is malformed too: no half-empty nudge."""
    with SmtpPeer() as smtp:
        env(upstream.script(PATH, Reply(200, body)), smtp.url)
        r = load_example().run()
        assert smtp.transactions == 0
    err = r.error
    assert err is not None
    assert (err.block_id, err.code, str(err.retry_disposition)) == (
        "render_nudge",
        "template.missing_data",
        "never",
    )
    assert repr(missing) in err.message
    assert attempts(r, "render_nudge") == 1 and not r.ran("send_nudge")
    assert_one_error_line(r, files_root)


def test_each_failure_appends_its_own_line(env, upstream, files_root) -> None:
    """The log is JSON Lines: a second failing run adds a second parseable line."""
    env(upstream.script(PATH, Reply(200, b"not json")))
    first = load_example().run()
    second = load_example().run()
    raw = (files_root / ERROR_LOG).read_text(encoding="utf-8")
    assert raw.endswith("\n") and raw.count("\n") == 2, raw
    lines = error_lines(files_root)
    assert [line["run_id"] for line in lines] == [first.run_id, second.run_id]


@pytest.mark.parametrize(
    ("scenario", "code", "provider_status"),
    [
        ("connection_refused", "http.connection", None),
        ("slow", "http.timeout", None),
        ("503_every_time", "http.server_error.5xx", 503),
        ("500_every_time", "http.server_error.5xx", 500),
        ("429_every_time", "http.rate_limited.429", 429),
    ],
)
def test_upstream_down_slow_or_failing_is_retried_then_fails(
    env, upstream, files_root, scenario: str, code: str, provider_status: int | None
) -> None:
    if scenario == "connection_refused":
        url = f"http://127.0.0.1:{closed_port()}{PATH}"
    elif scenario == "slow":
        url = upstream.script(PATH, Reply(200, TRIALS, delay=1.0))
    else:
        status = provider_status or 0
        url = upstream.script(PATH, Reply(status, {"error": "nope"}))
    env(url)
    # Only the slow scenario is about the timeout; the others get one that a loaded machine
    # cannot hit, so every attempt reaches the server and is counted there.
    r = load_example(fetch_timeout_ms=150 if scenario == "slow" else 10_000).run()
    assert r.status is ob.RunStatus.FAILED
    err = r.error
    assert err is not None
    assert (err.block_id, err.code, str(err.retry_disposition)) == ("fetch_trials", code, "backoff")
    assert err.provider_status == provider_status
    # retries exhausted: attempts == 1 + policy retries, and the envelope says so
    assert attempts(r, "fetch_trials") == FETCH_RETRIES + 1 == err.attempt
    retries = [e for e in r.events_of("block.retry_scheduled") if e["block_id"] == "fetch_trials"]
    assert len(retries) == FETCH_RETRIES
    if scenario != "connection_refused":
        assert len(upstream.requests_to(PATH)) == FETCH_RETRIES + 1
    assert not r.ran("send_nudge")
    assert_one_error_line(r, files_root)


def test_upstream_recovering_within_the_policy_succeeds(env, upstream, files_root) -> None:
    env(upstream.script(PATH, Reply(503, b"{}"), Reply(503, b"{}"), Reply(200, TRIALS)))
    r = load_example().run()
    assert r.ok, r.error
    assert attempts(r, "fetch_trials") == 3
    assert error_lines(files_root) == []


def test_smtp_down_is_retried_as_transient(env, upstream, files_root) -> None:
    env(upstream.script(PATH, Reply(200, TRIALS)), f"smtp://127.0.0.1:{closed_port()}")
    r = load_example().run()
    assert r.status is ob.RunStatus.FAILED
    err = r.error
    assert err is not None
    assert (err.block_id, err.code) == ("send_nudge", "email.smtp.transient")
    assert str(err.retry_disposition) == "backoff"
    assert attempts(r, "send_nudge") == SEND_RETRIES + 1 == err.attempt
    assert r.ran("render_nudge")
    assert_one_error_line(r, files_root)


def test_smtp_transient_replies_are_retried_until_exhausted(env, upstream, files_root) -> None:
    with SmtpPeer("transient", code=451) as smtp:
        env(upstream.script(PATH, Reply(200, TRIALS)), smtp.url)
        r = load_example().run()
        assert smtp.transactions == SEND_RETRIES + 1
        assert smtp.messages == []
    err = r.error
    assert err is not None
    assert (err.code, err.provider_status, err.attempt) == (
        "email.smtp.transient",
        451,
        SEND_RETRIES + 1,
    )
    assert_one_error_line(r, files_root)


def test_smtp_refusing_auth_is_not_retried(env, upstream, files_root) -> None:
    with SmtpPeer(auth=("mailer", "s3cret")) as smtp:
        env(upstream.script(PATH, Reply(200, TRIALS)), smtp.url_for("mailer", "wrong-password"))
        r = load_example().run()
        # one attempt (aiosmtplib tries each AUTH mechanism the server offers, all refused)
        assert smtp.logins and all(not ok for _, ok in smtp.logins)
        assert smtp.transactions == 0
    assert r.status is ob.RunStatus.FAILED
    err = r.error
    assert err is not None
    assert (err.block_id, err.code) == ("send_nudge", "email.smtp.auth_failed")
    assert str(err.retry_disposition) == "never"
    assert attempts(r, "send_nudge") == 1 == err.attempt
    assert r.events_of("block.retry_scheduled") == []
    line = assert_one_error_line(r, files_root)
    assert "wrong-password" not in json.dumps(line)


def test_a_failing_error_handler_keeps_the_original_envelope(
    env, upstream, files_root: Path
) -> None:
    # errors/ is a regular file: the handler's file_write cannot create the log under it.
    (files_root / "errors").write_text("not a directory\n", encoding="utf-8")
    env(upstream.script(PATH, Reply(200, b"not json")))
    r = load_example().run()
    assert r.status is ob.RunStatus.FAILED
    assert r.error is not None
    assert (r.error.block_id, r.error.code) == ("fetch_trials", "http.invalid_response")
    assert r.events_of("on_error.handler_succeeded") == []
    failed = r.events_of("on_error.handler_failed")
    assert len(failed) == 1
    assert failed[0]["block_id"] == "log_error"
    assert failed[0]["source_block_id"] == "fetch_trials"
    assert failed[0]["handled_code"] == "http.invalid_response"
    assert failed[0]["code"] == "child_workflow.failed"
    assert "file.invalid_path" in failed[0]["message"]
    # the handler's failure is recorded beside, never instead of, the core failure
    assert [e.code for e in r.errors] == ["http.invalid_response", "child_workflow.failed"]
    assert r.errors[1].cause is not None and r.errors[1].cause.code == "file.invalid_path"
    assert (files_root / "errors").read_text(encoding="utf-8") == "not a directory\n"
    assert r.summary()["error"]["code"] == "http.invalid_response"


# -- the demo command -------------------------------------------------------------------------


def test_demo_ok_mode_sends_the_nudge_to_the_outbox(
    cli, home, files_root, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the demo ignores a configured SMTP server (mail goes to outbox/) for its run only
    smtp_url = f"smtp://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", smtp_url)
    monkeypatch.delenv("ORCHESTRATOR_BLOCKS_TRIALS_URL", raising=False)
    res = cli("demo")
    assert res.code == 0, res
    eml = list((home / "outbox").glob("*.eml"))
    assert len(eml) == 1, res
    text = eml[0].read_text(encoding="utf-8")
    assert "Trial Activation Nudge" in text
    assert "Northwind Bakery" in text
    assert "Kite &amp; Key Studio" in text
    run_id = _only_run_id(home)
    assert run_id in res.out
    assert eml[0].name in res.out.replace("\n", "")
    assert error_lines(files_root) == []
    assert "ORCHESTRATOR_BLOCKS_TRIALS_URL" not in os.environ
    assert os.environ["ORCHESTRATOR_BLOCKS_SMTP_URL"] == smtp_url


def test_demo_malformed_mode_fails_with_one_error_line(cli, home, files_root) -> None:
    res = cli("demo", "--upstream", "malformed")
    assert res.code != 0, res
    assert not (home / "outbox").exists() or list((home / "outbox").iterdir()) == []
    lines = error_lines(files_root)
    assert len(lines) == 1, res
    run_id = _only_run_id(home)
    assert run_id in res.out
    assert (lines[0]["run_id"], lines[0]["block_id"], lines[0]["code"]) == (
        run_id,
        "fetch_trials",
        "http.invalid_response",
    )
    assert lines[0]["retry_disposition"] == "never"
    assert lines[0]["attempt"] == 1


class ConsoleLike:
    """A listener on the console's default port (when it is free) answering like a console
    that wants a login: what the example used to fetch from when no upstream was set."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from threading import Thread

        class Login(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(303)
                self.send_header("Location", "/login")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        try:
            self.server: ThreadingHTTPServer | None = ThreadingHTTPServer(
                ("127.0.0.1", 8765), Login
            )
        except OSError:  # taken already: by a console, or by anybody
            self.server = None
        else:
            Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def test_without_an_upstream_setting_the_example_uses_a_sample_on_a_free_port(
    cli, home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ORCHESTRATOR_BLOCKS_TRIALS_URL", raising=False)
    monkeypatch.delenv("ORCHESTRATOR_BLOCKS_SMTP_URL", raising=False)
    busy = ConsoleLike()
    try:
        res = cli("run", str(EXAMPLE), "--json")
    finally:
        busy.close()
    assert res.code == 0, res
    summary = json.loads(res.out)
    assert summary["status"] == "succeeded"
    assert summary["outputs"]["fetch_trials"]["count"] == 3  # the sample trials
    assert len(list((home / "outbox").glob("*.eml"))) == 1


def test_demo_rejects_an_unknown_mode(cli) -> None:
    res = cli("demo", "--upstream", "sideways")
    assert res.code == 2, res


def _only_run_id(home: Path) -> str:
    import sqlite3

    with sqlite3.connect(home / "state.db") as db:
        rows = db.execute(
            "SELECT run_id FROM workflow_run_log WHERE workflow_type = ?",
            ("trial_activation_nudge",),
        ).fetchall()
    assert len(rows) == 1, rows
    return str(rows[0][0])
