"""The FastAPI application: live query API, dashboard, health and metrics.

``create_app(settings, client=None)`` builds it; the process that owns the
ClickHouse store (``ocrstream serve``, or the embedded sink/demo process,
which passes its own shared chDB client) mounts or runs it.

Routes (all times UTC, ranges ``[start, end)``; see :mod:`serving.params`):

* ``GET /api/aggregates`` - window metrics of one or more businesses, columnar;
* ``GET /api/businesses`` - businesses visible to the caller;
* ``GET /api/documents`` and ``/api/documents/{id}`` - OCR results;
* ``GET /api/documents/{id}/image`` - the original object (signed link or token);
* ``GET /api/config`` - what the dashboard needs (public);
* ``GET /healthz``, ``GET /metrics``; ``GET /`` and ``/dashboard`` - the dashboard.
"""

# No `from __future__ import annotations`: FastAPI resolves the per-app `Auth` alias at runtime.

import asyncio
import json
import logging
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from clickhouse_connect.driver.client import Client
from fastapi import Depends, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles

from ocrstream.settings import Settings
from serving import queries as Q
from serving.asgi import HttpMiddleware
from serving.auth import Authenticator, LinkSigner, Scope, Signer, bearer_token
from serving.db import Database, SingleFlightCache
from serving.documents import DocumentContext, build_router, iso
from serving.metrics import API_REQUESTS, API_SECONDS, ClickHouseMetrics, render
from serving.models import AggregatesResponse, BusinessesResponse, Health
from serving.pages import PageCache
from serving.params import business_list, default_range, time_range
from serving.security import SecurityHeadersMiddleware
from serving.session import session_router

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
_iso = iso


class MetricsMiddleware(HttpMiddleware):
    """Pure ASGI middleware counting requests and latency per route template."""

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        t0 = time.perf_counter()
        code = {"status": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                code["status"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/") else "other")
            API_REQUESTS.inc(route=name, status=str(code["status"]))
            API_SECONDS.observe(time.perf_counter() - t0, route=name)


def create_app(settings: Settings, client: Client | None = None) -> FastAPI:
    """Build the API for the ClickHouse store of ``settings`` (or the given ``client``).

    With ``client=None`` it connects with :func:`ocrstream.clickhouse.connect`
    (in embedded mode this process then owns the chDB data path). Pass the
    shared client when the process already has one (sink, demo, tests).
    """
    if client is None:
        from ocrstream.clickhouse import connect

        client = connect(settings)
    api_settings = settings.api
    db = Database(client, threads=api_settings.query_threads)
    keys = Signer(api_settings.link_secret)
    auth = Authenticator(api_settings, keys)
    signer = LinkSigner(keys, api_settings.link_ttl_s)
    series_cache = SingleFlightCache(api_settings.cache_ttl_s, api_settings.cache_stale_s)
    businesses_cache = SingleFlightCache(max(api_settings.cache_ttl_s, 2.0), api_settings.cache_stale_s)
    documents_cache = SingleFlightCache(api_settings.cache_ttl_s, api_settings.cache_stale_s)
    health_cache = SingleFlightCache(1.0)  # a hammered /healthz costs one ClickHouse ping a second
    ch_metrics = ClickHouseMetrics(db)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        yield
        db.close()

    app = FastAPI(
        title="ocrstream API",
        version="1",
        summary="Live per-business OCR window metrics, documents, dashboard.",
        description=__doc__,
        lifespan=lifespan,
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(MetricsMiddleware)
    app.state.settings = settings
    app.state.db = db
    app.state.series_cache = series_cache
    Auth = Annotated[Scope, Depends(auth)]

    # ------------------------------------------------------------ dashboard

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("dashboard")

    @app.get("/dashboard", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    @app.get("/document", include_in_schema=False)
    async def document_view() -> FileResponse:
        """The document view (``/document?id=<document_id>``); its data comes from /api/documents/{id}."""
        return FileResponse(STATIC_DIR / "document.html", media_type="text/html",
                            headers={"Cache-Control": "no-cache"})

    @app.get("/api/config", tags=["dashboard"])
    async def config() -> dict[str, Any]:
        """Public settings the dashboard needs (no data)."""
        start, end = default_range()
        return {
            "auth_required": auth.enabled,
            "refresh_s": api_settings.dashboard_refresh_s,
            "granularities": list(Q.GRANULARITIES),
            "metrics": list(Q.METRICS),
            "max_range_days": api_settings.max_range_days,
            "default_start": _iso(start),
            "default_end": _iso(end),
            "low_confidence": api_settings.low_confidence,
            "max_documents": api_settings.max_documents,
        }

    # ------------------------------------------------------------ aggregates

    async def series(business_id: str, granularity: str, start: datetime, end: datetime) -> bytes:
        params = {"business_id": business_id, "granularity": granularity, "start": start, "end": end}

        async def produce() -> bytes:
            return Q.series_object(business_id, await db.raw(Q.SERIES_SQL, params, fmt="JSONColumns"))

        key = (business_id, granularity, start, end)
        return await series_cache.get(key, produce)

    @app.get("/api/aggregates", tags=["query"], response_model=AggregatesResponse)
    async def aggregates(
        scope: Auth,
        business_id: Annotated[list[str], Query(description="repeat to compare several businesses")],
        start: Annotated[str | None, Query(description="ISO 8601 or epoch ms; default yesterday 00:00 UTC")] = None,
        end: Annotated[str | None, Query(description="exclusive; default tomorrow 00:00 UTC")] = None,
        granularity: Annotated[Literal["minute", "hour"], Query()] = "minute",
    ) -> Response:
        """Windows whose ``window_start`` is in ``[start, end)``, per business, columnar arrays."""
        ids = business_list(business_id, required=True)
        scope.check(ids)
        rng = time_range(start, end, api_settings.max_range_days)
        parts = await asyncio.gather(*(series(b, granularity, rng.start, rng.end) for b in ids))
        head = json.dumps({
            "granularity": granularity, "start": _iso(rng.start), "end": _iso(rng.end),
            "start_ms": rng.start_ms, "end_ms": rng.end_ms, "metrics": list(Q.METRICS),
        }, separators=(",", ":"))
        body = head[:-1].encode() + b',"series":[' + b",".join(parts) + b"]}"
        return Response(body, media_type="application/json")

    # ------------------------------------------------------------ businesses

    @app.get("/api/businesses", tags=["query"], response_model=BusinessesResponse)
    async def businesses(scope: Auth) -> dict[str, Any]:
        """Businesses with hour windows stored, limited to the caller's scope."""
        if not scope.all and not scope.businesses:
            return {"businesses": []}
        params = {"all": int(scope.all), "business_ids": sorted(scope.businesses)}
        key = (scope.all, tuple(params["business_ids"]))
        rows = await businesses_cache.get(key, lambda: db.named_rows(Q.BUSINESSES_SQL, params))
        return {"businesses": rows}

    # ------------------------------------------------------------ documents, session

    app.include_router(build_router(DocumentContext(settings, db, auth, signer, documents_cache,
                                                    PageCache(api_settings.page_cache_entries))))
    app.include_router(session_router(auth, api_settings.cookie_secure))

    # ------------------------------------------------------------ ops

    @app.get("/healthz", tags=["ops"], response_model=Health)
    async def healthz() -> JSONResponse:
        """200 when ClickHouse answers ``SELECT 1`` (checked at most once a second) and every
        stage running in this process is healthy (``stages``: e.g. the sink thread — alive,
        assigned partitions, lag — and the worker of ``ocrstream demo``), else 503."""
        from ocrstream.health import REGISTRY

        stages = await asyncio.to_thread(REGISTRY.report)
        try:
            seconds = await health_cache.get("ping", db.ping)
        except Exception as exc:
            body = {"status": "unavailable", "clickhouse": str(exc)[:200], "embedded": db.embedded,
                    "stages": stages["stages"]}
            return JSONResponse(body, status_code=503)
        body = {"status": "ok" if stages["ok"] else "unhealthy", "clickhouse": "ok",
                "clickhouse_ms": round(seconds * 1000, 3), "embedded": db.embedded, "stages": stages["stages"]}
        return JSONResponse(body, status_code=200 if stages["ok"] else 503)

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    async def metrics(request: Request) -> PlainTextResponse:
        """Prometheus text format 0.0.4 (see serving.metrics)."""
        if auth.enabled and not api_settings.metrics_public:
            scope = auth.scope_for_request(request)
            if scope is None or not scope.all:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="metrics need a '*' token",
                                    headers={"WWW-Authenticate": "Bearer"})
        return PlainTextResponse(await render(ch_metrics), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
