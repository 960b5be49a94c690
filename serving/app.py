"""The FastAPI application: ``create_app(settings)``; ``ews serve`` runs it under uvicorn.

Start-up (lifespan): migrate the database to the latest schema (a setting), load the champion
model, start the background check that follows the registry alias. With no model the service
still starts: ``/ready`` says why it is not ready and scoring endpoints answer 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.db import Database, upgrade
from serving.errors import (
    ServiceError,
    Unauthenticated,
    Unavailable,
    http_status,
    log_failure,
    new_error_id,
)
from serving.modelstore import LoadedModel, MlflowModelSource, ModelHolder, ModelSource
from serving.settings import ServingSettings

log = logging.getLogger("ews.serving")


class RequestLog:
    """Pure ASGI middleware: one log line per request with the route *template*.

    The template (``/v1/pupils/{upn}``) never carries a UPN, unlike the raw path, so uvicorn's
    own access log is switched off in favour of this one."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status_code = 500

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status_code
            if message["type"] == "http.response.start":
                status_code = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "(no route)"
            log.info(
                "%s %s %d %.1fms",
                scope["method"],
                template,
                status_code,
                (time.perf_counter() - started) * 1000,
            )


def unexpected_response(exc: BaseException, path: str = "/v1/") -> Response:
    """Log an unexpected failure without its message (it may quote pupil data: a UPN in a
    ``KeyError``) and build the 500 answer, whose error id points at the log line (an HTML
    page for a web page at ``path``)."""
    from serving.routes import pages

    error_id = new_error_id()
    log_failure(log, "unexpected error", exc, error_id)
    if pages.is_page_path(path):
        return pages.unexpected_page(error_id)
    return JSONResponse(
        {"detail": {"message": "internal error; nothing was changed", "error_id": error_id}},
        status_code=500,
    )


PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
"""The Content-Security-Policy of every answer that sets none itself: the pages run no script
and load only the service's own stylesheet; no other site may frame them."""


class SecurityHeaders:
    """Pure ASGI middleware: headers every answer carries unless it sets its own.

    ``Cache-Control: no-store``: risk lists, pupil pages and pupil-level JSON must not stay in
    a browser's or a proxy's cache (a shared office computer); the stylesheet and Swagger UI's
    files set their own ``max-age``. The page policy (:data:`PAGE_POLICY`), no framing, and
    ``Referrer-Policy: same-origin``: a pupil page's address (a UPN) is never sent to another
    site, while the service's own forms keep the Origin the sign-in check reads."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("cache-control", "no-store")
                headers.setdefault("content-security-policy", PAGE_POLICY)
                headers.setdefault("referrer-policy", "same-origin")
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("x-frame-options", "DENY")
            await send(message)

        await self.app(scope, receive, send_wrapper)


class CatchUnexpected:
    """Pure ASGI middleware: an exception no handler took becomes a 500 here, logged by
    :func:`unexpected_response`, and goes no further.

    Starlette's own handler for ``Exception`` answers and then *re-raises*, and uvicorn logs
    the re-raised exception with its message ("Exception in ASGI application … KeyError:
    'Y380345619000'"). Nothing is re-raised from here, so nothing reaches uvicorn's log."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            response = unexpected_response(exc, scope.get("path", ""))
            if not started:  # once a response has begun, all we can do is end it
                await response(scope, receive, send)


_UNAVAILABLE_HINTS = (
    "database is locked",
    "unable to open database",
    "could not connect",
    "connection refused",
    "server closed the connection",
    "terminating connection",
    "connection is closed",
    "the database system is",
    "connection timeout",
)


def is_unavailable(exc: Exception) -> bool:
    """Whether a database error means "unreachable or busy for now" (worth a retry), as
    opposed to a fault in the service (a 500)."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    message = str(getattr(exc, "orig", exc)).lower()
    return any(hint in message for hint in _UNAVAILABLE_HINTS)


_REFUSAL_HEADERS: dict[type[ServiceError], dict[str, str]] = {
    Unauthenticated: {"WWW-Authenticate": "Bearer"},
    Unavailable: {"Retry-After": "30"},
}


def refusal_response(exc: ServiceError) -> JSONResponse:
    """A refusal as the API answers it: ``{"detail": {"message", "fix", …}}`` with its status
    (and the headers its kind calls for)."""
    headers = next((h for kind, h in _REFUSAL_HEADERS.items() if isinstance(exc, kind)), None)
    return JSONResponse({"detail": exc.body}, status_code=http_status(exc), headers=headers)


def create_app(
    settings: ServingSettings | None = None,
    *,
    db: Database | None = None,
    model_source: ModelSource | None = None,
    use_mlflow: bool = True,
    rescore_on_model_change: bool = True,
) -> FastAPI:
    """Build the app. ``model_source`` defaults to the MLflow registry (``use_mlflow``)."""
    from serving import risk_lists
    from serving.routes import (
        keys,
        overview,
        pages,
        practice,
        referrals,
        risk,
        school_pages,
        schools,
        scoring,
        system,
    )
    from serving.store import rescoring

    settings = settings or ServingSettings()
    db = db or Database(
        settings.resolved_database_url, busy_timeout_ms=settings.sqlite_busy_timeout_ms
    )
    if model_source is None and use_mlflow:
        model_source = MlflowModelSource(
            settings.resolved_tracking_uri, settings.model_name, settings.model_alias
        )

    def on_swap(model: LoadedModel) -> None:
        if rescore_on_model_change and holder.started:
            n = rescoring.rescore_all(
                db, model, settings.scoring, still_current=lambda: holder.current is model
            )
            log.info("re-scored %d school(s) with model version %s", n, model.version)

    holder = ModelHolder(model_source, poll_seconds=settings.model_poll_seconds, on_swap=on_swap)

    def _rescore_stale(model: LoadedModel) -> None:
        try:
            n = rescoring.rescore_stale(
                db, model, settings.scoring, still_current=lambda: holder.current is model
            )
        except Exception as exc:
            log_failure(log, "re-scoring stale schools at start-up failed", exc)
            return
        if n:
            log.info("re-scored %d school(s) with model version %s", n, model.version)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from fastapi.concurrency import run_in_threadpool

        if settings.auto_migrate:
            await run_in_threadpool(upgrade, db.url)
        await run_in_threadpool(holder.refresh)
        holder.started = True
        holder.start()
        import os as _os

        if _os.environ.get("GCFREEZE"):
            import gc as _gc

            _gc.collect()
            _gc.freeze()
        if holder.current is not None and rescore_on_model_change:
            # Scores stored under another version (the alias moved while we were stopped) are
            # brought up to date in the background; the lists answer meanwhile, labelled with
            # the version that made them.
            app.state.stale_rescoring = threading.Thread(
                target=_rescore_stale, args=(holder.current,), name="ews-rescore", daemon=True
            )
            app.state.stale_rescoring.start()
        try:
            yield
        finally:
            holder.stop()
            db.dispose()

    app = FastAPI(
        title="Attendance early-warning service",
        version="0.1.0",
        description=(
            "Risk of ending the school year persistently absent (≥ 10% of possible sessions), "
            "for every pupil, from the registers schools upload. Every score carries the model "
            "name and version. Authenticate with `Authorization: Bearer <key>`."
        ),
        lifespan=lifespan,
        # /docs is served by serving.routes.pages with Swagger UI shipped in the package:
        # FastAPI's own page loads it from a CDN. ReDoc would too, so there is none.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.db = db
    app.state.holder = holder
    app.state.page_cache = risk_lists.PageCache(settings.page_cache_bytes)
    app.state.stale_rescoring = None
    """The background re-scoring of schools scored by another version (started at start-up)."""

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def database_unavailable(request: Request, exc: Exception) -> Response:
        """A database that is briefly unavailable (or locked): 503, nothing half-done."""
        if not is_unavailable(exc):
            return unexpected_response(exc, request.url.path)
        log.warning("database unavailable: %s", type(getattr(exc, "orig", exc)).__name__)
        if pages.is_page(request):
            return pages.refusal_page(
                request,
                Unavailable(
                    "the database is briefly unavailable; nothing was changed",
                    fix="retry in a few seconds",
                ),
            )
        return JSONResponse(
            {
                "detail": {
                    "message": "the database is briefly unavailable; nothing was changed",
                    "fix": "retry in a few seconds",
                }
            },
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(ServiceError)
    async def refused(request: Request, exc: ServiceError) -> Response:
        """Every refusal below the routes, answered in one place: JSON for the API, an HTML
        page for a web page."""
        if pages.is_page(request):
            return pages.refusal_page(request, exc)
        return refusal_response(exc)

    app.add_exception_handler(pages.LoginRequired, pages.login_required)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        """The API answers 422 with FastAPI's JSON; a web page answers with an HTML page."""
        if pages.is_page(request):
            return pages.invalid_request_page(request, exc)
        return await request_validation_exception_handler(request, exc)

    @app.exception_handler(StarletteHTTPException)
    async def framework_refusal(request: Request, exc: StarletteHTTPException) -> Response:
        """What the framework itself refuses (an unknown URL or method, a body that is not
        JSON): a page for a browser, and for the API the service's own error body."""
        if exc.status_code == 404 and pages.is_page(request):
            return pages.not_found_page(request)
        if exc.status_code < 400:
            return await http_exception_handler(request, exc)
        return JSONResponse(
            {"detail": {"message": str(exc.detail)}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    for module in (
        system,
        schools,
        risk,
        scoring,
        referrals,
        keys,
        overview,
        school_pages,
        practice,
        pages,
    ):
        app.include_router(module.router)
    app.include_router(referrals.cases_router)
    # Added first, so it sits inside RequestLog: the request line logs the 500 it answers.
    app.add_middleware(CatchUnexpected)
    app.add_middleware(RequestLog)
    app.add_middleware(SecurityHeaders)  # outermost: the 500 CatchUnexpected answers has them
    return app
