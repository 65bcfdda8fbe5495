"""The console's ASGI app: shared state, authentication, security headers, templates.

Pages (``_pages``) and the JSON API under ``/api/`` (``_api``) are routers over one
:class:`Console` kept in ``app.state.console``. Nothing changes state on GET; every POST
needs the session cookie and the session's CSRF token (a form field for pages, the
``X-CSRF-Token`` header for the API).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import APIKeyCookie, APIKeyHeader
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from orchestrator_blocks.sdk import Settings, StateStoreError

from ..run_ids import AmbiguousRunId, RunIdError
from ..store import Store, open_store
from ._auth import CSRF_HEADER, SESSION_COOKIE, Session, Sessions, ensure_token
from ._data import WorkflowCatalog

__all__ = ["Console", "LoginRequired", "create_app"]

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-src 'self'; frame-ancestors 'none'"
)

session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, scheme_name="session")
csrf_header = APIKeyHeader(name=CSRF_HEADER, auto_error=False, scheme_name="csrf")


class LoginRequired(Exception):
    """A page was requested without a valid session: the browser goes to /login."""


@dataclass
class Console:
    settings: Settings
    sessions: Sessions
    token_file: Path
    catalog: WorkflowCatalog
    templates: Environment
    _store: Store | None = None

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store

    def store_or_none(self) -> Store | None:
        try:
            return self.store
        except StateStoreError:
            return None

    @property
    def approver(self) -> str | None:
        from ..approvals import configured_approver

        return configured_approver(self.settings)

    def session(self, request: Request) -> Session | None:
        return self.sessions.get(request.cookies.get(SESSION_COOKIE))

    def render(
        self,
        request: Request,
        template: str,
        status_code: int = 200,
        **context: Any,
    ) -> HTMLResponse:
        session = context.pop("session", None) or self.session(request)
        flash = list(session.flash) if session else []
        if session:
            session.flash.clear()
        html = self.templates.get_template(template).render(
            session=session,
            approver=self.approver,
            flash=flash,
            path=request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status_code)


def console_of(request: Request) -> Console:
    return request.app.state.console  # type: ignore[no-any-return]


def page_session(request: Request) -> Session:
    """Dependency of every page: the logged-in session, else a redirect to /login."""
    session = console_of(request).session(request)
    if session is None:
        raise LoginRequired()
    return session


def create_app(settings: Settings, workflows_dir: Path | None = None) -> FastAPI:
    """The console as an ASGI app over ``settings``' store and logs.

    Creates the login token file on first use. ``workflows_dir`` is where ``/workflows``
    finds workflow files (None: the workflows pages are empty).
    """
    from ._api import router as api_router
    from ._pages import router as page_router

    token_file, token, _ = ensure_token(settings.home)
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["ms"] = _fmt_ms
    app = FastAPI(
        title="orchestrator-blocks console API",
        version="1",
        description="Approvals, runs and workflows of the local engine. Log in at /login; "
        f"send the session cookie and, on POST, the {CSRF_HEADER} header.",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.console = Console(
        settings=settings,
        sessions=Sessions(token),
        token_file=token_file,
        catalog=WorkflowCatalog(Path(workflows_dir) if workflows_dir else None),
        templates=env,
    )

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Any:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> RedirectResponse:
        return RedirectResponse("/login", status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Any:
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        console = console_of(request)
        return console.render(
            request,
            "error.html",
            status_code=exc.status_code,
            status=exc.status_code,
            message=str(exc.detail),
        )

    @app.exception_handler(RunIdError)
    async def run_id_error(request: Request, exc: RunIdError) -> Any:
        """An unknown run id is a 404; a prefix of several runs a 409 naming them."""
        status = 409 if isinstance(exc, AmbiguousRunId) else 404
        return await http_error(request, StarletteHTTPException(status, str(exc)))

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api_router)
    app.include_router(page_router)
    return app


def _fmt_ms(value: Any) -> str:
    if value is None:
        return ""
    ms = float(value)
    if ms >= 60_000:
        return f"{ms / 60_000:.1f} min"
    if ms >= 1000:
        return f"{ms / 1000:.2f} s"
    return f"{ms:.0f} ms" if ms >= 10 else f"{ms:.1f} ms"
