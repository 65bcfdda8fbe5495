"""The console's security rules, over HTTP against a real uvicorn server."""

from __future__ import annotations

import stat

import httpx
import pytest
from console_support import (
    APPROVER,
    EVIL_BODY,
    EVIL_NAME,
    Console,
    login,
    login_form_csrf,
    run_workflows,
    stage_batch_proposal,
)

from orchestrator_blocks.app.console import ensure_token


def test_token_file_is_created_with_mode_0600(console: Console) -> None:
    path = console.settings.home / "console-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(console.token()) >= 24
    # a second start keeps the token and keeps the mode
    again, token, created = ensure_token(console.settings.home)
    assert (again, token, created) == (path, console.token(), False)


def test_loose_token_file_is_tightened(tmp_path) -> None:
    path, token, _ = ensure_token(tmp_path)
    path.chmod(0o644)
    _, same, created = ensure_token(tmp_path)
    assert (same, created) == (token, False)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "path", ["/proposed-actions", "/runs", "/runs/01ABCDEFGH", "/workflows", "/workflows/x"]
)
def test_pages_without_login_redirect_to_login(client: httpx.Client, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 303
    assert r.headers["location"] == "/login"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/proposals"),
        ("GET", "/api/proposals/1"),
        ("POST", "/api/proposals/1/approve"),
        ("POST", "/api/proposals/1/reject"),
        ("GET", "/api/runs"),
        ("GET", "/api/runs/01ABCDEFGH"),
        ("GET", "/api/workflows"),
    ],
)
def test_api_without_login_is_401(client: httpx.Client, method: str, path: str) -> None:
    r = client.request(method, path, json={"note": "x"})
    assert r.status_code == 401
    assert "log in" in r.json()["detail"]


def test_wrong_token_is_refused(console: Console, client: httpx.Client) -> None:
    csrf = login_form_csrf(client)
    r = client.post("/login", data={"name": APPROVER, "token": "nope", "csrf_token": csrf})
    assert r.status_code == 401
    assert "wrong token" in r.text
    assert "ob_console_session" not in r.headers.get("set-cookie", "")
    assert client.get("/api/proposals").status_code == 401


def test_login_sets_httponly_strict_cookie(console: Console, client: httpx.Client) -> None:
    csrf = login_form_csrf(client)
    r = client.post("/login", data={"name": APPROVER, "token": console.token(), "csrf_token": csrf})
    cookie = r.headers["set-cookie"].split(", ob_console_login")[0].lower()
    assert cookie.startswith("ob_console_session=")
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert client.get("/api/proposals").status_code == 200


def test_login_form_without_csrf_is_refused(console: Console, client: httpx.Client) -> None:
    client.get("/login")
    r = client.post("/login", data={"name": APPROVER, "token": console.token(), "csrf_token": ""})
    assert r.status_code == 403
    assert client.get("/api/proposals").status_code == 401


@pytest.mark.parametrize("csrf", [None, "", "forged-token"])
def test_post_without_valid_csrf_changes_nothing(
    console: Console, client: httpx.Client, csrf: str | None
) -> None:
    p = stage_batch_proposal(console.store, ref="csrf")
    login(client, console)
    form = {"decision": "approve", "note": "ok"}
    if csrf is not None:
        form["csrf_token"] = csrf
    r = client.post(f"/proposed-actions/{p.id}/decide", data=form)
    assert r.status_code == 403
    headers = {} if csrf is None else {"X-CSRF-Token": csrf}
    r = client.post(f"/api/proposals/{p.id}/approve", json={"note": "ok"}, headers=headers)
    assert r.status_code == 403
    assert console.store.proposals.get(p.id).status == "pending"


def test_api_decision_with_csrf_header(console: Console, client: httpx.Client) -> None:
    p = stage_batch_proposal(console.store, ref="api")
    csrf = login(client, console)
    r = client.post(
        f"/api/proposals/{p.id}/reject", json={"note": "not now"}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "rejected" and r.json()["decided_by"] == APPROVER
    decided = console.store.proposals.get(p.id)
    assert (decided.status, decided.note) == ("rejected", "not now")
    again = client.post(f"/api/proposals/{p.id}/approve", headers={"X-CSRF-Token": csrf})
    assert again.status_code == 409
    assert "already rejected" in again.json()["detail"]
    ledger = [e.event_type for e in console.store.ledger.list()]
    assert "proposal.rejected" in ledger


def test_non_approver_cannot_decide(console: Console, client: httpx.Client) -> None:
    p = stage_batch_proposal(console.store, ref="nonapprover")
    csrf = login(client, console, name="eve")
    r = client.post(
        f"/proposed-actions/{p.id}/decide",
        data={"decision": "approve", "note": "", "csrf_token": csrf},
    )
    assert r.status_code == 303
    page = client.get("/proposed-actions").text
    assert "only the configured approver (mike) can decide; &#39;eve&#39; cannot" in page
    api = client.post(f"/api/proposals/{p.id}/approve", headers={"X-CSRF-Token": csrf})
    assert api.status_code == 403
    assert "only the configured approver" in api.json()["detail"]
    assert console.store.proposals.get(p.id).status == "pending"


def test_attacker_controlled_text_is_escaped(console: Console, client: httpx.Client) -> None:
    stage_batch_proposal(console.store, ref="xss", recipient=EVIL_NAME, body=EVIL_BODY)
    login(client, console)
    page = client.get("/proposed-actions").text
    assert EVIL_NAME not in page and "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; Evil Corp" in page
    # the sample email is only in a sandboxed srcdoc (escaped) and in a <pre> as text
    assert 'sandbox title="sample email' in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    csp = client.get("/proposed-actions").headers["content-security-policy"]
    assert "script-src 'self'" in csp


def test_get_never_changes_state(console: Console, client: httpx.Client) -> None:
    p = stage_batch_proposal(console.store, ref="get")
    ids = run_workflows()
    csrf = login(client, console)
    before = (console.store.proposals.list(), console.store.ledger.list())
    for path in (
        "/",
        "/proposed-actions",
        f"/proposed-actions/{p.id}/decide?decision=approve&csrf_token={csrf}",
        f"/api/proposals/{p.id}/approve",
        "/api/proposals",
        f"/api/proposals/{p.id}",
        "/runs",
        f"/runs/{ids['failed']}",
        f"/runs/{ids['failed']}/logs?block=push",
        f"/api/runs/{ids['failed']}",
        "/workflows",
        "/workflows/nightly_digest",
        "/api/workflows",
    ):
        assert client.get(path, headers={"X-CSRF-Token": csrf}).status_code < 500, path
    assert (console.store.proposals.list(), console.store.ledger.list()) == before
    assert console.store.proposals.get(p.id).status == "pending"


def test_logout_needs_csrf_and_ends_the_session(console: Console, client: httpx.Client) -> None:
    csrf = login(client, console)
    assert client.post("/logout", data={"csrf_token": "bad"}).status_code == 403
    assert client.get("/api/proposals").status_code == 200
    assert client.post("/logout", data={"csrf_token": csrf}).status_code == 303
    assert client.get("/api/proposals").status_code == 401
