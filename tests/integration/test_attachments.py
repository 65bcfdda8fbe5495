"""The card's `attachments` input: files under the files root go with every email of
batch_notify (real SMTP, real files); a missing or escaping path is an input error before
anyone is asked to approve, and is checked again when each email is built."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from support.smtp_server import SmtpPeer

from orchestrator_blocks.app.store import forget_stores
from orchestrator_blocks.kernel.loader import load_workflow

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "batch_notify.yaml"
TRIAL_RECIPIENTS = 4  # active trial customers with an email, from `demo seed-customers`
INPUTS = [
    "--input",
    'customer_cohort_filter={"plan": "trial"}',
    "--input",
    "subject=Your trial ends soon",
    "--input",
    "body_template=<p>Hello {{companyname}}, your trial ends soon.</p>",
]
PDF = b"%PDF-1.4\n% terms of the trial\n" + bytes(range(256)) * 8


@pytest.fixture
def peer(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ORCHESTRATOR_BLOCKS_APPROVER", "mike")
    with SmtpPeer() as smtp:
        monkeypatch.setenv("ORCHESTRATOR_BLOCKS_SMTP_URL", smtp.url)
        yield smtp
    forget_stores()


@pytest.fixture
def files_root(tmp_path: Path) -> Path:
    root = Path(os.environ["ORCHESTRATOR_BLOCKS_FILES_ROOT"])
    (root / "docs").mkdir()
    (root / "docs" / "terms.pdf").write_bytes(PDF)
    (root / "notes.txt").write_text("Bring your questions.\n")
    (tmp_path / "secret.txt").write_text("not for customers\n")
    return root


def _db_rows(sql: str) -> list[tuple[object, ...]]:
    home = Path(os.environ["ORCHESTRATOR_BLOCKS_HOME"])
    with sqlite3.connect(home / "state.db") as conn:
        return conn.execute(sql).fetchall()


def _gate_of(run_id: str) -> int:
    rows = _db_rows(
        f"SELECT id FROM proposed_actions WHERE run_id = '{run_id}' AND status = 'pending'"
    )
    assert len(rows) == 1, rows
    return int(rows[0][0])  # type: ignore[call-overload]


def _run_to_gate(cli, attachments: str) -> str:
    res = cli("run", str(EXAMPLE), *INPUTS, "--input", f"attachments={attachments}", "--json")
    assert res.code == 1, res  # awaiting approval, not an error
    summary = json.loads(res.out)
    assert summary["status"] == "awaiting_approval", summary
    return str(summary["run_id"])


def test_every_email_carries_the_attachments(cli, peer, files_root) -> None:
    assert cli("demo", "seed-customers").code == 0
    run_id = _run_to_gate(cli, '["docs/terms.pdf", "notes.txt"]')
    shown = cli("approvals", "show", str(_gate_of(run_id)))
    assert "docs/terms.pdf" in shown.out  # the approver sees what goes out
    assert cli("approvals", "approve", str(_gate_of(run_id)), "--as", "mike").code == 0

    res = cli("runs", "resume", run_id, "--json")
    assert res.code == 0, res
    assert json.loads(res.out)["status"] == "succeeded"
    assert len(peer.deliveries) == TRIAL_RECIPIENTS
    for delivery in peer.deliveries:
        msg = delivery.message
        assert msg.get_content_type() == "multipart/mixed"
        assert "your trial ends soon" in msg.get_body(("html",)).get_content()
        parts = {p.get_filename(): p for p in msg.iter_attachments()}
        assert sorted(parts) == ["notes.txt", "terms.pdf"]
        assert parts["terms.pdf"].get_content_type() == "application/pdf"
        assert parts["terms.pdf"].get_content() == PDF
        assert parts["notes.txt"].get_content_type() == "text/plain"
        assert parts["notes.txt"].get_content() == "Bring your questions.\n"


def _escaping(files_root: Path, tmp_path: Path, case: str) -> tuple[str, str]:
    """An attachments value for ``case`` and the words the refusal must contain."""
    if case == "dotdot":
        return '["../secret.txt"]', "climbs out of the files root"
    if case == "absolute":
        return json.dumps([str(tmp_path / "secret.txt")]), "is outside the files root"
    if case == "symlink":
        (files_root / "link.txt").symlink_to(tmp_path / "secret.txt")
        return '["link.txt"]', "resolves outside the files root"
    if case == "missing":
        return '["docs/terms.pdf", "docs/nope.pdf"]', "'docs/nope.pdf' does not exist"
    if case == "too_large":
        with open(files_root / "big.bin", "wb") as fh:
            fh.truncate(10 * 1024 * 1024 + 1)  # sparse: no 10 MiB written
        return '["big.bin"]', "the limit per file is 10 MiB"
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "missing", "too_large"])
def test_a_bad_attachment_is_an_input_error_before_the_gate(
    cli, peer, files_root, tmp_path, case
) -> None:
    assert cli("demo", "seed-customers").code == 0
    value, reason = _escaping(files_root, tmp_path, case)
    res = cli("run", str(EXAMPLE), *INPUTS, "--input", f"attachments={value}")
    assert res.code == 2, res
    assert "input 'attachments'" in res.err and reason in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1  # one clear line, no traceback
    assert "not for customers" not in res.err
    assert _db_rows("SELECT count(*) FROM proposed_actions") == [(0,)]
    assert peer.deliveries == []


def test_a_run_not_started_by_the_cli_fails_at_its_inputs_step(peer, files_root) -> None:
    """A run `serve` starts for an approved proposal never went through `run`'s check: its
    first step refuses the input, so no approval is asked for and nothing is sent."""
    workflow = load_workflow(EXAMPLE)
    result = workflow.run(
        {
            "customer_cohort_filter": {"plan": "trial"},
            "subject": "s",
            "body_template": "b",
            "attachments": ["../secret.txt"],
        }
    )
    assert result.status == "failed"
    assert result.error is not None
    assert (result.error.block_id, result.error.code) == ("inputs", "inputs.invalid")
    assert "climbs out of the files root" in result.error.message
    assert _db_rows("SELECT count(*) FROM proposed_actions") == [(0,)]
    assert peer.deliveries == []


def test_an_attachment_swapped_for_an_escaping_link_after_approval_is_not_sent(
    cli, peer, files_root, tmp_path
) -> None:
    assert cli("demo", "seed-customers").code == 0
    run_id = _run_to_gate(cli, '["notes.txt"]')
    (files_root / "notes.txt").unlink()
    (files_root / "notes.txt").symlink_to(tmp_path / "secret.txt")
    assert cli("approvals", "approve", str(_gate_of(run_id)), "--as", "mike").code == 0

    res = cli("runs", "resume", run_id, "--json")
    assert res.code == 1, res
    assert json.loads(res.out)["status"] == "failed"
    assert peer.deliveries == []
    events = cli("logs", run_id, "--json")
    assert "resolves outside the files root" in events.out
    assert "not for customers" not in events.out
