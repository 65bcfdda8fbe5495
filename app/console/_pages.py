"""The console's HTML pages: login, approvals, runs, one run, workflows, one workflow."""

from __future__ import annotations

import asyncio
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from ..approvals import ApprovalError
from ..explain import card
from ._app import console_of, page_session
from ._auth import LOGIN_CSRF_COOKIE, SESSION_COOKIE, SESSION_TTL_S, Session, csrf_ok
from ._data import block_log_lines, decide_as, run_detail, runs
from ._graph import layout

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
Page = Annotated[Session, Depends(page_session)]
RUN_STATUSES = ("running", "awaiting_approval", "succeeded", "partial", "failed", "rejected")


def _cookie(response: Response, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, samesite="strict", secure=False, path="/"
    )


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    target = "/proposed-actions" if console_of(request).session(request) else "/login"
    return RedirectResponse(target, status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, error: str | None = None) -> Response:
    console = console_of(request)
    form_csrf = secrets.token_urlsafe(24)
    response = console.render(
        request, "login.html", form_csrf=form_csrf, token_file=console.token_file, error=error
    )
    _cookie(response, LOGIN_CSRF_COOKIE, form_csrf, 3600)
    return response


@router.post("/login")
async def login(
    request: Request,
    name: Annotated[str, Form(max_length=128)] = "",
    token: Annotated[str, Form(max_length=256)] = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    console = console_of(request)
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not secrets.compare_digest(expected.encode(), csrf_token.encode()):
        return console.render(
            request,
            "login.html",
            status_code=403,
            form_csrf="",
            token_file=console.token_file,
            error="the login form expired; reload the page and try again",
        )
    name = " ".join(name.split())
    if not name or not console.sessions.check_token(token):
        response = console.render(
            request,
            "login.html",
            status_code=401,
            form_csrf=expected,
            token_file=console.token_file,
            error="wrong token or empty name; the token is in the file shown below",
            name=name,  # kept: only the token needs typing again
        )
        return response
    session = console.sessions.create(name)
    redirect = RedirectResponse("/proposed-actions", status_code=303)
    _cookie(redirect, SESSION_COOKIE, session.sid, SESSION_TTL_S)
    redirect.delete_cookie(LOGIN_CSRF_COOKIE, path="/", httponly=True, samesite="strict")
    return redirect


@router.post("/logout")
async def logout(
    request: Request, session: Page, csrf_token: Annotated[str, Form(max_length=256)] = ""
) -> Response:
    if not csrf_ok(session, csrf_token):
        raise HTTPException(403, "the form was not sent by this console; nothing was changed")
    console_of(request).sessions.drop(session.sid)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/proposed-actions", response_class=HTMLResponse)
async def proposals_page(request: Request, session: Page) -> Response:
    console = console_of(request)
    found = await asyncio.to_thread(console.store.proposals.list, None, 200)
    pending = [p for p in found if p.status == "pending"]
    decided = [p for p in found if p.status != "pending"]
    return console.render(
        request, "proposals.html", session=session, pending=pending, decided=decided
    )


@router.post("/proposed-actions/{proposal_id}/decide")
async def decide_form(
    request: Request,
    session: Page,
    proposal_id: int,
    decision: Annotated[str, Form(max_length=16)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
    csrf_token: Annotated[str, Form(max_length=256)] = "",
) -> Response:
    console = console_of(request)
    if not csrf_ok(session, csrf_token):
        raise HTTPException(403, "the form was not sent by this console; nothing was changed")
    if decision not in ("approve", "reject"):
        raise HTTPException(400, "decision must be approve or reject")
    try:
        decided = await decide_as(
            console.store,
            console.settings,
            proposal_id,
            approve=decision == "approve",
            name=session.name,
            note=note.strip() or None,
        )
        session.flash.append(("ok", f"proposal {decided.id} {decided.status} by {session.name}"))
    except ApprovalError as exc:
        session.flash.append(("error", str(exc)))
    return RedirectResponse(f"/proposed-actions#p{proposal_id}", status_code=303)


@router.get("/runs", response_class=HTMLResponse)
async def runs_page(
    request: Request,
    session: Page,
    workflow: Annotated[str | None, Query(max_length=128)] = None,
    status: Annotated[str | None, Query(max_length=32)] = None,
) -> Response:
    console = console_of(request)
    logs = console.settings.logs_dir
    store = console.store_or_none()
    found = await asyncio.to_thread(
        lambda: runs(logs, workflow=workflow or None, status=status or None, limit=200, store=store)
    )
    everything = await asyncio.to_thread(lambda: runs(logs, limit=10_000, store=store))
    return console.render(
        request,
        "runs.html",
        session=session,
        runs=found,
        workflow=workflow or "",
        status=status or "",
        statuses=RUN_STATUSES,
        workflows=sorted({r["workflow_id"] for r in everything if r["workflow_id"]}),
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, session: Page, run_id: str) -> Response:
    console = console_of(request)
    data = await asyncio.to_thread(
        run_detail, console.settings.logs_dir, console.store_or_none(), run_id
    )
    return console.render(request, "run.html", session=session, run=data)


@router.get("/runs/{run_id}/logs", response_class=HTMLResponse)
async def run_logs_page(
    request: Request,
    session: Page,
    run_id: str,
    block: Annotated[str | None, Query(max_length=256)] = None,
) -> Response:
    console = console_of(request)
    logs, store = console.settings.logs_dir, console.store_or_none()
    lines = await asyncio.to_thread(block_log_lines, logs, store, run_id, block)
    if not lines:
        raise HTTPException(404, f"no log lines for run {run_id!r}")
    return console.render(
        request, "logs.html", session=session, run_id=run_id, block=block, lines=lines
    )


@router.get("/workflows", response_class=HTMLResponse)
async def workflows_page(request: Request, session: Page) -> Response:
    console = console_of(request)
    found = await asyncio.to_thread(console.catalog.all)
    return console.render(
        request,
        "workflows.html",
        session=session,
        workflows=found,
        problems=console.catalog.problems,
        directory=console.catalog.directory,
    )


@router.get("/workflows/{name}", response_class=HTMLResponse)
async def workflow_page(request: Request, session: Page, name: str) -> Response:
    console = console_of(request)
    found = await asyncio.to_thread(console.catalog.get, name)
    if found is None:
        raise HTTPException(404, f"no workflow {name!r} in {console.catalog.directory}")
    path, workflow = found
    data: dict[str, Any] = await asyncio.to_thread(card, workflow)
    store = console.store_or_none()
    recent = (
        await asyncio.to_thread(store.runs.recent, 10, workflow.spec.workflow_type)
        if store is not None
        else []
    )
    return console.render(
        request,
        "workflow.html",
        session=session,
        card=data,
        graph=layout(data),
        file=path.name,
        recent=recent,
    )
