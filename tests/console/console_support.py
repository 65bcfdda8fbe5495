"""Helpers of the console tests: log in, stage proposals, make real runs."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

import orchestrator_blocks as ob
from orchestrator_blocks.app.store import Proposal, Store
from orchestrator_blocks.sdk import Settings

APPROVER = "mike"
REPO = Path(__file__).resolve().parents[2]
EVIL_NAME = "<script>alert('pwned')</script> Evil Corp"
EVIL_BODY = "<p>Hello <b>Acme</b></p><script>alert('body')</script><img src=x onerror=alert(1)>"

WORKFLOW_PY = """
import orchestrator_blocks as ob

workflow = ob.new_workflow("nightly_digest")
load = ob.Block.custom_transform(lambda v: v).named("load")
send = ob.Block.custom_transform(lambda v: v).named("send")
alert = ob.Block.custom_transform(lambda v: "alerted").named("alert_ops")
workflow.link(load, send)
workflow.on_error(send, alert)
"""


@dataclass
class Console:
    url: str
    settings: Settings
    store: Store
    app: Any

    def token(self) -> str:
        return (self.settings.home / "console-token").read_text().strip()


def login_form_csrf(client: httpx.Client) -> str:
    page = client.get("/login")
    return re.search(r'name="csrf_token" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]


def login(client: httpx.Client, console: Console, name: str = APPROVER) -> str:
    """Log in as ``name``; returns the session's CSRF token (from a page's hidden field)."""
    csrf = login_form_csrf(client)
    r = client.post("/login", data={"name": name, "token": console.token(), "csrf_token": csrf})
    assert r.status_code == 303, r.text
    page = client.get("/proposed-actions")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]


def stage_batch_proposal(
    store: Store, *, ref: str, recipient: str = "Acme Ltd", body: str = "<p>Hello Acme</p>"
) -> Proposal:
    """A proposal shaped like the batch_notify gate's (risk 4, recipients, sample email)."""
    proposal, _ = store.proposals.stage(
        action_type="workflow_batch_notify",
        entity_ref=f"workflow:batch_notify:run_{ref}",
        workflow_type="batch_notify",
        run_id=None,
        risk_level=4,
        proposed_by="runner",
        payload={
            "kind": "gate",
            "inputs": {
                "customer_cohort_filter": {"plan": "trial"},
                "subject": "Your trial ends soon",
                "body_template": "Hello {{companyname}}",
            },
            "recipient_count": 2,
            "sample": [
                {"id": 1, "companyname": recipient, "email": "ops@acme.test"},
                {"id": 2, "companyname": "Beta GmbH", "email": "hi@beta.test"},
            ],
            "sample_subject": "Your trial ends soon",
            "sample_body": body,
            "warnings": [
                {"name": "no_recent_spam", "message": "1 recipient was emailed in the last 48 h"}
            ],
        },
    )
    return proposal


def run_workflows() -> dict[str, str]:
    """Real runs: one that succeeds, one with a retry and an on_error handler."""
    ok = ob.new_workflow("daily_report")
    fetch = ob.Block.custom_transform(lambda v: {"rows": 3}).named("fetch")
    render = ob.Block.custom_transform(lambda v: "report").named("render")
    ok.link(fetch, render)
    good = ok.run("go")
    assert good.status == "succeeded"

    calls = {"n": 0}

    def flaky(value: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 1:
            raise ob.BlockError("custom.flaky", "first try fails", retry_disposition="backoff")
        raise ValueError("still broken")

    bad = ob.new_workflow("sync_customers")
    start = ob.Block.custom_transform(lambda v: v).named("start")
    push = (
        ob.Block.custom_transform(flaky).named("push").set_retry_exponential(2, 5, 2.0, jitter=0.0)
    )
    notify = ob.Block.custom_transform(lambda v: "notified").named("notify_ops")
    bad.link(start, push)
    bad.on_error(push, notify)
    failed = bad.run("go")
    assert failed.status == "failed"
    return {"ok": good.run_id, "failed": failed.run_id}
