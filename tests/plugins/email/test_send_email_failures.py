"""How send_email classifies SMTP failures and how many attempts each gets (contract §6.3
"SMTP transient/server-unavailable/timeouts" are retried; §7.5 codes), against a real
aiosmtpd server on loopback. The block runs with 2 retries (3 attempts at most)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from support.smtp_server import Mode, SmtpPeer

import orchestrator_blocks as ob

MAX_ATTEMPTS = 3  # conftest's test policy: 2 retries


def attempts(result) -> int:
    return len(result.events_of("block.started"))


# scripted server behaviour -> (code, disposition, attempts, provider_status)
REPLY_TABLE = [
    pytest.param(
        Mode("transient", code=421, stage="mail"),
        ("email.smtp.transient", "backoff", MAX_ATTEMPTS, 421),
        id="421-at-MAIL",
    ),
    pytest.param(
        Mode("transient", code=451, stage="rcpt"),
        ("email.smtp.transient", "backoff", MAX_ATTEMPTS, 451),
        id="451-at-RCPT",
    ),
    pytest.param(
        Mode("transient", code=451, stage="data"),
        ("email.smtp.transient", "backoff", MAX_ATTEMPTS, 451),
        id="451-after-DATA",
    ),
    pytest.param(
        Mode("transient", code=452, stage="rcpt"),
        ("email.smtp.transient", "backoff", MAX_ATTEMPTS, 452),
        id="452-at-RCPT",
    ),
    pytest.param(
        Mode("permanent", code=550, stage="rcpt"),
        ("email.smtp.permanent", "never", 1, 550),
        id="550-at-RCPT",
    ),
    pytest.param(
        Mode("permanent", code=553, stage="mail"),
        ("email.smtp.permanent", "never", 1, 553),
        id="553-at-MAIL",
    ),
    pytest.param(
        Mode("permanent", code=554, stage="data"),
        ("email.smtp.permanent", "never", 1, 554),
        id="554-after-DATA",
    ),
]


@pytest.mark.parametrize(("mode", "expected"), REPLY_TABLE)
def test_smtp_replies_are_classified(smtp_peer, send, mode, expected):
    code, disposition, expected_attempts, status = expected
    smtp_peer.set_mode(mode)
    r, _ = send("x")

    assert r.status == ob.RunStatus.FAILED
    err = r.error
    assert (err.origin, err.domain, err.code) == ("block", "email", code)
    assert err.retry_disposition == disposition
    assert err.provider_status == status
    assert err.attempt == expected_attempts
    assert attempts(r) == expected_attempts
    assert len(r.events_of("block.retry_scheduled")) == expected_attempts - 1
    assert smtp_peer.transactions == expected_attempts
    assert smtp_peer.messages == []
    assert str(status) in err.message


def test_retries_wait_the_policy_backoff(smtp_peer, send):
    smtp_peer.set_mode("transient", code=451)
    r, _ = send("x")
    delays = [e["delay_ms"] for e in r.events_of("block.retry_scheduled")]
    assert delays == [2, 4]  # exp(2 ms, factor 2, no jitter)


def test_every_recipient_refused_with_mixed_codes_is_permanent(smtp_peer, send):
    smtp_peer.set_mode("accept", refuse=("a@example.org", "b@example.org"))
    r, _ = send("x", ["a@example.org", "b@example.org"])
    assert (r.error.code, r.error.retry_disposition) == ("email.smtp.permanent", "never")
    assert attempts(r) == 1
    assert {d["recipient"] for d in r.error.details["refused"]} == {
        "a@example.org",
        "b@example.org",
    }


@pytest.mark.parametrize(
    ("credentials", "status"),
    [
        pytest.param(("mailer", "wrong"), 535, id="wrong-password-535"),
        pytest.param(("intruder", "s3cret"), 535, id="unknown-user-535"),
        pytest.param(None, 530, id="no-login-530"),
    ],
)
def test_refused_authentication_is_auth_failed_and_never_retried(
    use_smtp, send, credentials, status
):
    with SmtpPeer(auth=("mailer", "s3cret")) as peer:
        use_smtp(peer.url_for(*credentials) if credentials else peer.url)
        r, _ = send("x")

        assert r.status == ob.RunStatus.FAILED
        err = r.error
        assert (err.domain, err.code) == ("email", "email.smtp.auth_failed")
        assert err.retry_disposition == "never"
        assert err.provider_status == status
        assert attempts(r) == err.attempt == 1
        assert peer.messages == []
        assert "ORCHESTRATOR_BLOCKS_SMTP_URL" in err.message


def test_credentials_for_a_server_without_auth_are_auth_failed(smtp_peer, use_smtp, send):
    use_smtp(smtp_peer.url_for("mailer", "s3cret"))
    r, _ = send("x")
    assert (r.error.code, r.error.retry_disposition) == ("email.smtp.auth_failed", "never")
    assert attempts(r) == 1


def test_connection_refused_is_transient_and_retried(use_smtp, send, closed_port):
    use_smtp(f"smtp://127.0.0.1:{closed_port}")
    r, _ = send("x")

    assert r.status == ob.RunStatus.FAILED
    err = r.error
    assert (err.domain, err.code, err.retry_disposition) == (
        "email",
        "email.smtp.transient",
        "backoff",
    )
    assert attempts(r) == err.attempt == MAX_ATTEMPTS
    assert f"127.0.0.1:{closed_port}" in err.message


def test_a_server_that_recovers_within_the_retries_gets_the_message(smtp_peer, send):
    smtp_peer.script(Mode("transient", code=421, stage="mail"), Mode("transient"), Mode())
    r, _ = send("third time lucky")
    assert r.status == ob.RunStatus.SUCCEEDED, r.error
    assert attempts(r) == 3
    assert [m.get_content().strip() for m in smtp_peer.messages] == ["third time lucky"]


@pytest.mark.parametrize(
    ("timeout_ms", "url_query"),
    [
        pytest.param(300, "", id="block-timeout"),
        pytest.param(30_000, "?timeout=0.3", id="smtp-url-timeout"),
    ],
)
def test_a_slow_server_is_a_timeout_and_retried(smtp_peer, use_smtp, send, timeout_ms, url_query):
    smtp_peer.set_mode("slow", delay=10.0)
    use_smtp(smtp_peer.url + url_query)
    r, _ = send("x", timeout_ms=timeout_ms)

    assert r.status == ob.RunStatus.FAILED
    err = r.error
    assert (err.origin, err.domain, err.code) == ("block", "email", "email.smtp.timeout")
    assert err.retry_disposition == "backoff"
    assert attempts(r) == err.attempt == MAX_ATTEMPTS
    assert smtp_peer.messages == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:25",
        "smtp://",
        "smtp://127.0.0.1:notaport",
        "smtp://127.0.0.1:25?starttls=maybe",
        "smtp://127.0.0.1:25?timeout=-1",
        "smtp://127.0.0.1:25?verify=0",
        "smtps://127.0.0.1:465?starttls=1",
    ],
)
def test_an_unusable_smtp_url_is_permanent_and_says_how_to_fix_it(use_smtp, send, url):
    use_smtp(url)
    r, _ = send("x")
    err = r.error
    assert (err.code, err.retry_disposition) == ("email.smtp.permanent", "never")
    assert "ORCHESTRATOR_BLOCKS_SMTP_URL" in err.message
    assert attempts(r) == 1


PASSWORD = "Sup3r$ecret/pw"  # needs URL encoding: '$' and '/'
WRONG = "Wr0ng#Guess!pw"


def _everything_logged(home) -> str:
    logs = home / "logs"
    files = [p for p in logs.rglob("*") if p.is_file()]
    assert files, f"no log files under {logs}"
    return "\n".join(p.read_text(errors="replace") for p in files)


@pytest.mark.parametrize(
    ("peer_mode", "password"),
    [
        pytest.param("accept", PASSWORD, id="delivered"),
        pytest.param("accept", WRONG, id="auth-refused"),
        pytest.param("transient", PASSWORD, id="transient-retried"),
        pytest.param("permanent", PASSWORD, id="permanent"),
    ],
)
def test_the_smtp_password_never_reaches_logs_events_or_errors(
    use_smtp, send, isolated_home, peer_mode, password
):
    with SmtpPeer(peer_mode, auth=("mailer", PASSWORD)) as peer:
        use_smtp(peer.url_for("mailer", password))
        r, block = send("x")
    if peer_mode == "accept" and password == PASSWORD:
        assert r.status == ob.RunStatus.SUCCEEDED, r.error
    else:
        assert r.status == ob.RunStatus.FAILED

    surfaces = {
        "logs": _everything_logged(isolated_home),
        "events": json.dumps(r.events, default=str),
        "error": json.dumps(r.error.to_dict(), default=str) if r.error else "",
        "output": json.dumps(r.output(block), default=str),
    }
    assert "block.started" in surfaces["logs"]  # the log really holds this run
    for secret in (PASSWORD, WRONG, quote(PASSWORD, safe=""), quote(WRONG, safe="")):
        for where, text in surfaces.items():
            assert secret not in text, f"the SMTP password leaked into {where}"
