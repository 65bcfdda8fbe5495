"""Block configuration and stored rows are shown without their secrets: URL userinfo, secret
query values and sensitive header values in ``explain`` (every format), and every JSON or
text column the store writes."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from pathlib import Path

import pytest

from orchestrator_blocks.app.store import Store
from orchestrator_blocks.sdk.redaction import REDACTED, register_secret

PASSWORD = "hunter2-Kq9"
BEARER = "bearer-tok-Zp71c"
API_KEY = "xkey-55aa66bb"
SESSION = "sess-cookie-3d4e"
QUERY = "qs-token-8h8h8h"
SECRETS = (PASSWORD, BEARER, API_KEY, SESSION, QUERY)


@pytest.fixture
def workflow_file(tmp_path: Path) -> Path:
    path = tmp_path / "calls_crm.py"
    path.write_text(
        textwrap.dedent(f"""
            import orchestrator_blocks as ob

            workflow = ob.new_workflow("calls_crm")
            workflow.add(
                ob.Block.http_request(
                    "https://bot:{PASSWORD}@crm.example/api?access_token={QUERY}&page=2",
                    headers={{
                        "Authorization": "Bearer {BEARER}",
                        "X-Api-Key": "{API_KEY}",
                        "Cookie": "session={SESSION}",
                        "Accept": "application/json",
                    }},
                )
            )
        """)
    )
    return path


@pytest.mark.parametrize("fmt", ["text", "json", "mermaid"])
def test_explain_shows_no_credential_in_any_format(cli, workflow_file: Path, fmt: str) -> None:
    res = cli("explain", str(workflow_file), "-f", fmt)
    assert res.code == 0, res
    for secret in SECRETS:
        assert secret not in res.out + res.err, (fmt, secret)


def test_explain_json_masks_userinfo_secret_params_and_sensitive_headers(
    cli, workflow_file: Path
) -> None:
    data = json.loads(cli("explain", str(workflow_file), "-f", "json").out)
    (step,) = data["steps"]
    assert step["config"]["url"] == (
        f"https://{REDACTED}@crm.example/api?access_token={REDACTED}&page=2"
    )
    assert step["config"]["headers"] == {
        "Authorization": REDACTED,
        "X-Api-Key": REDACTED,
        "Cookie": REDACTED,
        "Accept": "application/json",
    }


def test_store_rows_hold_no_secret(tmp_path: Path) -> None:
    register_secret(BEARER)
    store = Store(f"sqlite:///{tmp_path / 'state.db'}")
    store.migrate()
    leaky = {
        "url": f"https://bot:{PASSWORD}@h/x?access_token={QUERY}",
        "api_key": API_KEY,
        "said": f"the server echoed {BEARER}",
    }
    store.runs.record(
        run_id="r1",
        workflow_type="w",
        status="failed",
        started_at="2026-01-01T00:00:00Z",
        completed_at=None,
        summary={"error": leaky},
    )
    store.runs.record_reflexion(
        run_id="r1", workflow_type="w", narrative=f"failed: {BEARER}", tags=["x"]
    )
    store.ledger.record("thing.happened", leaky, "k1")
    proposal, _ = store.proposals.stage(
        action_type="a", entity_ref="e1", payload={"inputs": leaky}, risk_level=3
    )
    store.proposals.decide(proposal.id, "approved", by="mike", note=f"ok {BEARER}")
    store.outbound.begin(
        "key-1", workflow_id="w", run_id="r1", recipient="a@b.c", message_id="<m@x>"
    )
    store.outbound.finish("key-1", "failed", error=f"535 rejected {BEARER} for bot:{PASSWORD}")
    store.kill_switches.set("s", True, reason=f"leak {BEARER}")
    store.engine.dispose()

    conn = sqlite3.connect(tmp_path / "state.db")
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    dump = "\n".join(
        repr(row) for table in tables for row in conn.execute(f'SELECT * FROM "{table}"')
    )
    conn.close()
    for secret in (BEARER, API_KEY, QUERY):
        assert secret not in dump, secret
    assert f"bot:{PASSWORD}@" not in dump
    assert "thing.happened" in dump and "the server echoed" in dump  # the rest is kept
