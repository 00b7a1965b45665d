"""The FastAPI application factory: builds the services, mounts routes and the widget, maps errors."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from kb.engine import KnowledgeBase
from kb.errors import KBError
from kb.search import SearchService
from kb.settings import Settings
from search_api.deps import Services
from search_api.routes import core

log = logging.getLogger("kb.api")
WIDGET_DIR = Path(__file__).parent / "widget"


def build_services(settings: Settings, kb: KnowledgeBase | None = None) -> Services:
    """Wire the core and the features (glossary, helpdesk) that are installed."""
    kb = kb or KnowledgeBase(settings)
    services = Services(settings=settings, kb=kb, search=SearchService(kb))
    _wire_features(services)
    return services


def _wire_features(services: Services) -> None:
    """Attach the features; each is wired here so that features never import each other."""
    from search_api.wiring import wire_features

    wire_features(services)


def _warm_up(services: Services) -> None:
    """Load the vector index and the model in the background, so the first search does not pay for it."""
    import threading

    def warm() -> None:
        try:
            services.kb.sync(force=True)
            if services.kb.vectors is not None:
                services.kb.embed_query("warm up")
        except Exception:  # a failed warm-up only means the first request does the work
            log.exception("warm-up failed")

    threading.Thread(target=warm, name="kb-warm-up", daemon=True).start()


def _error_body(code: str, message: str, details: object | None = None) -> dict:
    body: dict = {"error": {"code": code, "message": message}}
    if details:
        body["error"]["details"] = details
    return body


def install_error_handlers(app: FastAPI) -> None:
    """Every error becomes JSON ``{"error": {"code", "message"}}`` with a 4xx where the caller is at fault."""

    @app.exception_handler(KBError)
    async def _kb_error(_: Request, exc: KBError) -> JSONResponse:
        return JSONResponse({"error": exc.to_dict()}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errs = [
            {"loc": [str(x) for x in e.get("loc", [])], "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        msg = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errs[:5])
        return JSONResponse(_error_body("validation_error", msg or "invalid request", errs), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_error_body("http_error", str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:  # pragma: no cover - safety net
        log.exception("unexpected error", exc_info=exc)
        return JSONResponse(_error_body("internal", "internal error"), status_code=500)


def _install_body_limit(app: FastAPI, limit: int) -> None:
    @app.middleware("http")
    async def _limit(request: Request, call_next):  # noqa: ANN202
        length = request.headers.get("content-length")
        if length is not None:
            try:
                too_big = int(length) > limit
            except ValueError:
                return JSONResponse(_error_body("bad_request", "invalid Content-Length"), status_code=400)
            if too_big:
                msg = f"request body over {limit} bytes"
                return JSONResponse(_error_body("payload_too_large", msg), status_code=413)
        return await call_next(request)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app; nothing is created at import time."""
    settings = settings or (services.settings if services else Settings())
    services = services or build_services(settings)
    if settings.auth == "off":
        log.warning("!!! KB_AUTH=off: every request runs as an all-seeing admin. Local demos only. !!!")
    app = FastAPI(title="kb: knowledge base search", version="0.1.0")
    app.state.services = services
    _warm_up(services)
    install_error_handlers(app)
    _install_body_limit(app, settings.max_body_bytes)
    app.include_router(core.router)
    _include_feature_routes(app)
    if WIDGET_DIR.exists():
        app.mount("/widget", StaticFiles(directory=WIDGET_DIR, html=True), name="widget")
    return app


def _include_feature_routes(app: FastAPI) -> None:
    from search_api.wiring import feature_routers

    for r in feature_routers():
        app.include_router(r)
