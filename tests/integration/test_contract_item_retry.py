"""A contract's per-recipient retry policy is what the fan-out waits between an item's
attempts: its backoff kind, factor, jitter and cap, as `explain` shows them (real SMTP
answering 451, the batch_notify card with a fast policy)."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from support.smtp_server import Mode, SmtpPeer

from orchestrator_blocks import sdk
from orchestrator_blocks.app.store import forget_stores

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch_notify.yaml"
POLICY = """retry:
  max_attempts: 3
  backoff: exponential
  base_ms: 40
  factor: 3
  jitter: 0.25
  max_ms: 1000
  per_recipient: true
"""
INPUTS = [
    "--input",
    'customer_cohort_filter={"plan": "trial"}',
    "--input",
    "subject=Your trial ends soon",
    "--input",
    "body_template=Hello {{companyname}}, your trial ends soon.",
]


@pytest.fixture
def contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    text = EXAMPLE.read_text()
    head, _, _ = text.partition("# 9 - Retry policy")
    path = tmp_path / "batch_notify.yaml"
    path.write_text(head + POLICY)
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    with SmtpPeer(Mode("transient", code=451)) as smtp:
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", smtp.url)
        yield path, smtp
    forget_stores()


def _gate(run_id: str) -> int:
    home = Path(os.environ["ORCHESTRATOR_BLOCKS_HOME"])
    with sqlite3.connect(home / "state.db") as conn:
        [(gate,)] = conn.execute(
            "SELECT id FROM proposed_actions WHERE run_id = ? AND status = 'pending'", (run_id,)
        ).fetchall()
    return int(gate)


def test_item_retries_follow_the_contracts_factor_and_jitter(cli, contract) -> None:
    path, smtp = contract
    shown = cli("explain", str(path), "--format", "json")
    assert shown.code == 0, shown
    promised = json.loads(shown.out)["retry"]  # what explain promises...
    assert (promised["factor"], promised["jitter"], promised["max_ms"]) == (3.0, 0.25, 1000)
    assert cli("demo", "seed-customers").code == 0
    run_id = json.loads(cli("run", str(path), *INPUTS, "--json").out)["run_id"]
    assert cli("approvals", "approve", str(_gate(run_id)), "--as", "mike").code == 0
    cli("runs", "resume", run_id, "--json")

    retries: dict[str, list[int]] = {}
    home = Path(os.environ["ORCHESTRATOR_BLOCKS_HOME"])
    for log in sorted((home / "logs").glob("*.jsonl")):
        for line in log.read_text().splitlines():
            event = json.loads(line)
            if event["event"] == "fan_out.item_retry_scheduled" and event["run_id"] == run_id:
                retries.setdefault(event["fan_out_item"], []).append(event["delay_ms"])
    # ...is what happens: the SDK's backoff, seeded by run, item and attempt
    backoff = sdk.Backoff("exponential", 40, 3.0, 0.25, 1000)
    assert sorted(retries) == ["C-1001", "C-1002", "C-1003", "C-1007"]
    for item, delays in retries.items():
        assert delays == [backoff.delay_ms(n, seed=f"{run_id}:{item}:{n}") for n in (1, 2)]
        assert 30 <= delays[0] <= 50 and 90 <= delays[1] <= 150, delays  # x3, ± 25 %
    assert len({tuple(d) for d in retries.values()}) > 1  # jittered apart
    assert smtp.transactions == 12  # 4 recipients x 3 attempts
