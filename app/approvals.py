"""Approvals: proposals staged by gates (or by hand) and decided by the one configured approver.

The CLI (``approvals ...``), the web console and ``serve`` all go through this module, so the
rules hold everywhere: only the approver configured as ``approver:`` (config file) or
``ORCHESTRATOR_BLOCKS_APPROVER`` decides; a decision is taken once; a proposal past its
window is ``expired`` and can no longer be approved. Every decision is a ledger event
(``proposal.approved|rejected|expired``) that ``serve`` reacts to: it starts workflows
triggered by ``hitl_approval`` and resumes runs waiting at a gate.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from orchestrator_blocks import sdk
from orchestrator_blocks.sdk import OrchestratorError

if TYPE_CHECKING:
    from orchestrator_blocks.sdk import Settings

    from .store import Proposal, Store

__all__ = [
    "ApprovalError",
    "NotApprover",
    "configured_approver",
    "decide",
    "decision_event_key",
    "expire_due",
    "propose",
]

APPROVED, REJECTED, EXPIRED, PENDING = "approved", "rejected", "expired", "pending"


class ApprovalError(OrchestratorError):
    """A decision that cannot be taken (unknown, already decided, expired, no approver)."""

    code = "hitl.invalid"


class NotApprover(ApprovalError):
    """Someone other than the configured approver tried to decide."""

    code = "hitl.not_approver"
    exit_code = 3


def configured_approver(settings: Settings) -> str | None:
    from .config import app_config

    return app_config(settings).approver


def _window_end(minutes: float) -> str:
    from orchestrator_blocks.sdk.services import utc_now_iso

    return utc_now_iso(datetime.now(UTC) + timedelta(minutes=minutes))


def propose(
    store: Store,
    settings: Settings,
    action_type: str,
    inputs: dict[str, Any],
    *,
    proposed_by: str | None = None,
    window_minutes: float | None = None,
    risk_level: int = 3,
) -> Proposal:
    """Stage a proposal by hand (``approvals propose``); once approved, ``serve`` starts the
    workflows whose trigger is ``hitl_approval`` for ``action_type`` with ``inputs``."""
    if not action_type or not all(c.isalnum() or c in "_-.:" for c in action_type):
        raise ApprovalError(f"action type {action_type!r}: use letters, digits and '_-.:'")
    ref = f"action:{action_type}:{secrets.token_hex(6)}"
    window = window_minutes if window_minutes is not None else settings_window(settings)
    proposal, _ = store.proposals.stage(
        action_type=action_type,
        entity_ref=ref,
        payload={"inputs": inputs, "kind": "action"},
        risk_level=risk_level,
        proposed_by=proposed_by,
        expires_at=_window_end(window),
    )
    return proposal


def settings_window(settings: Settings) -> float:
    from .config import app_config

    return float(app_config(settings).approval_window_minutes)


def _expired(p: Proposal, now: datetime | None = None) -> bool:
    if p.expires_at is None:
        return False
    end = datetime.fromisoformat(p.expires_at.replace("Z", "+00:00"))
    return (now or datetime.now(UTC)) >= end


def decision_event_key(status: str, proposal_id: int) -> str:
    """The idempotency key of the ledger event a decision records (one per proposal)."""
    return f"proposal.{status}:{proposal_id}"


def _record(store: Store, p: Proposal, status: str) -> None:
    store.ledger.record(
        f"proposal.{status}",
        {
            "proposal_id": p.id,
            "action_type": p.action_type,
            "entity_ref": p.entity_ref,
            "workflow_type": p.workflow_type,
            "run_id": p.run_id,
            "inputs": p.payload.get("inputs", {}),
            "decided_by": p.decided_by,
            "note": p.note,
        },
        decision_event_key(status, p.id),
    )


def decide(
    store: Store,
    settings: Settings,
    proposal_id: int,
    *,
    approve: bool,
    as_: str,
    note: str | None = None,
) -> Proposal:
    """Approve or reject ``proposal_id`` as ``as_``; raises :class:`NotApprover` for anyone
    but the configured approver and :class:`ApprovalError` when it cannot be decided."""
    approver = configured_approver(settings)
    if not approver:
        raise ApprovalError(
            "no approver is configured: set `approver:` in the config file or "
            "ORCHESTRATOR_BLOCKS_APPROVER"
        )
    if as_ != approver:
        raise NotApprover(f"only the configured approver ({approver}) can decide; {as_!r} cannot")
    proposal = store.proposals.get(proposal_id)
    if proposal is None:
        raise ApprovalError(f"no proposal {proposal_id}; see `orchestrator-blocks approvals list`")
    if proposal.status != PENDING:
        raise ApprovalError(
            f"proposal {proposal_id} was already {proposal.status}"
            + (f" by {proposal.decided_by}" if proposal.decided_by else "")
        )
    if _expired(proposal):
        expire(store, proposal)
        raise ApprovalError(
            f"proposal {proposal_id} expired at {proposal.expires_at}; nothing will run"
        )
    status = APPROVED if approve else REJECTED
    if not store.proposals.decide(proposal_id, status, by=as_, note=note):
        raise ApprovalError(f"proposal {proposal_id} was decided by someone else meanwhile")
    decided = store.proposals.get(proposal_id)
    assert decided is not None
    _record(store, decided, status)
    return decided


def expire(store: Store, proposal: Proposal) -> bool:
    if store.proposals.decide(proposal.id, EXPIRED, by=None, note="approval window passed"):
        expired = store.proposals.get(proposal.id)
        assert expired is not None
        _record(store, expired, EXPIRED)
        return True
    return False


def expire_due(store: Store, now: datetime | None = None) -> list[Proposal]:
    """Expire every pending proposal whose window has passed (``serve`` calls this)."""
    out = []
    for p in store.proposals.list(PENDING, limit=1000):
        if _expired(p, now) and expire(store, p):
            out.append(p)
    return out


class ApprovalDesk:
    """The SDK's ``ApprovalDesk``: proposals in the store, decided by the configured approver."""

    def __init__(self, store: Store, settings: Settings) -> None:
        from .config import app_config

        self._store = store
        self._config = app_config(settings)

    @property
    def approver(self) -> str | None:
        return self._config.approver

    @property
    def window_minutes(self) -> float:
        return float(self._config.approval_window_minutes)

    async def stage(
        self,
        *,
        action_type: str,
        entity_ref: str,
        payload: Mapping[str, Any],
        risk_level: int,
        workflow_type: str | None,
        run_id: str | None,
        window_minutes: float,
    ) -> dict[str, Any]:
        import asyncio  # (this module is loaded with the plugins, on every CLI start)

        proposal, _ = await asyncio.to_thread(
            lambda: self._store.proposals.stage(
                action_type=action_type,
                entity_ref=entity_ref,
                payload=payload,
                risk_level=risk_level,
                workflow_type=workflow_type,
                run_id=run_id,
                proposed_by="runner",
                expires_at=_window_end(window_minutes),
            )
        )
        return proposal.as_dict()

    async def expire(self, proposal_id: int) -> bool:
        import asyncio

        proposal = await asyncio.to_thread(self._store.proposals.get, proposal_id)
        if proposal is None:
            return False
        return await asyncio.to_thread(expire, self._store, proposal)


@sdk.hookimpl
def provide_services(settings: Settings, store: Any) -> Mapping[type, object] | None:
    if store is None:
        return None
    return {sdk.ApprovalDesk: ApprovalDesk(store, settings)}
