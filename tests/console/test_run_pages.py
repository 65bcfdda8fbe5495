"""The console's run pages and API agree with the CLI: a run paused at a gate is
``awaiting_approval`` everywhere."""

from __future__ import annotations

import json
import re

import httpx
from console_support import APPROVER, REPO, Console, login

BATCH_NOTIFY = REPO / "examples" / "batch_notify.yaml"


def _status_badge(html: str) -> str:
    found = re.search(r'id="run-status"[^>]*>([^<]*)<', html)
    assert found, html
    return found.group(1)


def test_a_run_paused_at_the_gate_is_awaiting_approval_in_the_cli_and_the_console(
    cli, console: Console, client: httpx.Client
) -> None:
    assert cli("demo", "seed-customers").code == 0
    res = cli(
        "run", str(BATCH_NOTIFY),
        "--input", 'customer_cohort_filter={"plan": "trial"}',
        "--input", "subject=Trial ends", "--input", "body_template=<p>Hi {{companyname}}</p>",
        "--json",
    )  # fmt: skip
    run_id = json.loads(res.out)["run_id"]
    assert json.loads(res.out)["status"] == "awaiting_approval", res

    listed = {r["run_id"]: r["status"] for r in json.loads(cli("runs", "--json").out)}
    assert listed[run_id] == "awaiting_approval"
    waiting = json.loads(cli("runs", "--status", "awaiting_approval", "--json").out)
    assert [r["run_id"] for r in waiting] == [run_id]
    assert "awaiting_approval" in cli("runs").out

    login(client, console, APPROVER)
    api = {r["run_id"]: r["status"] for r in client.get("/api/runs").json()}
    assert api[run_id] == "awaiting_approval"
    filtered = client.get("/api/runs", params={"status": "awaiting_approval"}).json()
    assert [r["run_id"] for r in filtered] == [run_id]
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "awaiting_approval"
    assert _status_badge(client.get(f"/runs/{run_id}").text) == "awaiting_approval"
    page = client.get("/runs", params={"status": "awaiting_approval"}).text
    assert run_id in page and "awaiting_approval" in page
