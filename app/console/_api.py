"""The JSON API under ``/api/`` (described at ``/api/openapi.json``).

Every route needs the session cookie (401 without it); POST routes also need the session's
CSRF token in the ``X-CSRF-Token`` header (403 without it). Decisions go through
:func:`kernel.approvals.decide`, so only the configured approver can take them.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from pydantic import BaseModel, Field

from ..approvals import ApprovalError, NotApprover
from ..run_ids import MIN_PREFIX
from ._app import console_of, csrf_header, session_cookie
from ._auth import Session, csrf_ok
from ._data import decide_as, run_detail, runs

__all__ = ["router"]

RUN_ID = Annotated[
    str,
    Path(
        pattern=rf"^[0-9A-Za-z_-]{{{MIN_PREFIX},64}}$",
        description=f"A run id, or a unique prefix of at least {MIN_PREFIX} characters.",
    ),
]
PROPOSAL_ID = Annotated[int, Path(ge=1, le=2**53)]


class Decision(BaseModel):
    """The note recorded with a decision (optional)."""

    note: str | None = Field(default=None, max_length=2000)


def api_session(
    request: Request, _cookie: Annotated[str | None, Depends(session_cookie)]
) -> Session:
    session = console_of(request).session(request)
    if session is None:
        raise HTTPException(401, "log in at /login first (session cookie missing or expired)")
    return session


def api_csrf(
    session: Annotated[Session, Depends(api_session)],
    token: Annotated[str | None, Depends(csrf_header)],
) -> Session:
    if not csrf_ok(session, token):
        raise HTTPException(403, "missing or wrong X-CSRF-Token header; nothing was changed")
    return session


router = APIRouter(prefix="/api", tags=["console"])
Authed = Annotated[Session, Depends(api_session)]


@router.get("/proposals", summary="Proposals, pending first, then recent decisions")
async def list_proposals(
    request: Request,
    _s: Authed,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    store = console_of(request).store
    found = await asyncio.to_thread(store.proposals.list, status, limit)
    return [p.as_dict() for p in found]


@router.get("/proposals/{proposal_id}", summary="One proposal with its payload")
async def get_proposal(request: Request, _s: Authed, proposal_id: PROPOSAL_ID) -> dict[str, Any]:
    proposal = await asyncio.to_thread(console_of(request).store.proposals.get, proposal_id)
    if proposal is None:
        raise HTTPException(404, f"no proposal {proposal_id}")
    return proposal.as_dict()


async def _decide(
    request: Request, session: Session, proposal_id: int, approve: bool, body: Decision
) -> dict[str, Any]:
    console = console_of(request)
    try:
        decided = await decide_as(
            console.store,
            console.settings,
            proposal_id,
            approve=approve,
            name=session.name,
            note=body.note or None,
        )
    except NotApprover as exc:
        raise HTTPException(403, str(exc)) from None
    except ApprovalError as exc:
        status = 404 if console.store.proposals.get(proposal_id) is None else 409
        raise HTTPException(status, str(exc)) from None
    return decided.as_dict()


@router.post(
    "/proposals/{proposal_id}/approve",
    summary="Approve a pending proposal (configured approver only)",
    responses={403: {"description": "not the approver, or CSRF header missing"}},
)
async def approve(
    request: Request,
    session: Annotated[Session, Depends(api_csrf)],
    proposal_id: PROPOSAL_ID,
    body: Decision | None = None,
) -> dict[str, Any]:
    return await _decide(request, session, proposal_id, True, body or Decision())


@router.post(
    "/proposals/{proposal_id}/reject",
    summary="Reject a pending proposal (configured approver only)",
    responses={403: {"description": "not the approver, or CSRF header missing"}},
)
async def reject(
    request: Request,
    session: Annotated[Session, Depends(api_csrf)],
    proposal_id: PROPOSAL_ID,
    body: Decision | None = None,
) -> dict[str, Any]:
    return await _decide(request, session, proposal_id, False, body or Decision())


@router.get("/runs", summary="Recent runs, newest first")
async def list_runs(
    request: Request,
    _s: Authed,
    workflow: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[dict[str, Any]]:
    console = console_of(request)
    logs, store = console.settings.logs_dir, console.store_or_none()
    return await asyncio.to_thread(
        lambda: runs(logs, workflow=workflow, status=status, limit=limit, store=store)
    )


@router.get(
    "/runs/{run_id}",
    summary="One run: timeline, errors, fan-out counts, verify",
    responses={
        404: {"description": "no run has this id or prefix"},
        409: {"description": "the prefix matches several runs (the detail names them)"},
    },
)
async def get_run(request: Request, _s: Authed, run_id: RUN_ID) -> dict[str, Any]:
    console = console_of(request)
    return await asyncio.to_thread(
        run_detail, console.settings.logs_dir, console.store_or_none(), run_id
    )


@router.get("/workflows", summary="Workflows found in the console's workflow directory")
async def list_workflows(request: Request, _s: Authed) -> list[dict[str, Any]]:
    catalog = console_of(request).catalog
    found = await asyncio.to_thread(catalog.all)
    return [
        {
            "name": w.id,
            "file": path.name,
            "description": w.spec.description,
            "risk_level": w.spec.risk_level,
            "trigger": w.spec.trigger.kind,
        }
        for path, w in found
    ]
