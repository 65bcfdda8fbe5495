"""The console's run pages and API agree with the CLI: a run paused at a gate is
``awaiting_approval`` everywhere, and a run id prefix resolves as it does in the CLI."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from console_support import APPROVER, REPO, Console, login

import orchestrator_blocks as ob

BATCH_NOTIFY = REPO / "examples" / "batch_notify.yaml"
PREFIXED = """
workflow_type: prefixed
steps:
  - {id: greet, block: template_handlebars, with: {template: "hello"}}
"""


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


def _two_runs(cli, tmp_path: Path) -> tuple[str, str, str]:
    path = tmp_path / "prefixed.yaml"
    path.write_text(PREFIXED)
    ids = [json.loads(cli("run", str(path), "--json").out)["run_id"] for _ in range(2)]
    return ids[0], ids[1], _shared_prefix(*ids)


def test_run_urls_take_a_unique_prefix_and_refuse_an_ambiguous_one(
    cli, console: Console, client: httpx.Client, tmp_path: Path
) -> None:
    first, second, shared = _two_runs(cli, tmp_path)
    unique = first[: len(shared) + 1]
    login(client, console, APPROVER)

    assert client.get(f"/api/runs/{unique}").json()["run_id"] == first
    page = client.get(f"/runs/{unique}")
    assert page.status_code == 200 and first in page.text
    logs = client.get(f"/runs/{unique}/logs")
    assert logs.status_code == 200 and "run.created" in logs.text

    ambiguous = client.get(f"/api/runs/{shared}")
    assert ambiguous.status_code == 409
    assert first in ambiguous.json()["detail"] and second in ambiguous.json()["detail"]
    page = client.get(f"/runs/{shared}")
    assert page.status_code == 409
    assert "matches 2 runs" in page.text and second in page.text
    assert client.get(f"/runs/{shared}/logs").status_code == 409

    unknown = client.get("/api/runs/ZZZZZZZZ")
    assert unknown.status_code == 404 and "no run 'ZZZZZZZZ'" in unknown.json()["detail"]
    assert client.get("/runs/ZZZZZZZZ").status_code == 404


def _shared_prefix(a: str, b: str) -> str:
    n = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    return a[:n]


def test_per_recipient_reviews_show_each_message_and_deciding_one_continues_the_run(
    console: Console, client: httpx.Client
) -> None:
    """A fan-out with per-item review, run for real: the approvals page lists one review per
    recipient with its personalised message, and the approver's decision there is what the
    continued run acts on."""
    import asyncio

    from orchestrator_blocks.kernel.runtime import run_workflow

    item = ob.new_workflow("per_recipient")
    personalize = ob.Block.custom_transform(
        lambda i: {
            "to": i["email"],
            "subject": f"Hello {i['name']}",
            "html": f"<p>Dear {i['name']}</p>",
            "customer_id": i["item_key"],
        }
    ).named("personalize")
    item.link(personalize, ob.Block.hitl_review("per_item").named("review"))
    w = ob.new_workflow("reviewed_fan_out")
    w.add(ob.Block.for_each(item, item_key="id", progress=False).named("each"))
    people = [{"id": "A1", "email": "ann@example.org", "name": "Ann"},
              {"id": "B2", "email": "bob@example.org", "name": "Bob"}]  # fmt: skip

    first = w.run(people)
    assert first.status == "awaiting_approval"

    csrf = login(client, console)
    page = client.get("/proposed-actions").text
    assert page.count("hitl_review") >= 2
    assert "Email to ann@example.org" in page and "Email to bob@example.org" in page
    assert "Hello Ann" in page and "&lt;p&gt;Dear Bob&lt;/p&gt;" in page  # escaped as text
    assert "review of" in page
    reviews = {
        p.payload["item_key"]: p
        for p in console.store.proposals.list("pending", run_id=first.run_id)
    }
    for key, decision in (("A1", "approve"), ("B2", "reject")):
        r = client.post(
            f"/proposed-actions/{reviews[key].id}/decide",
            data={"decision": decision, "note": "", "csrf_token": csrf},
        )
        assert r.status_code == 303
    final = asyncio.run(run_workflow(w, None, run_id=first.run_id, mode="continue"))
    assert final.status == "partial"
    assert final.output("each")["sent"] == 1 and final.output("each")["rejected"] == 1
