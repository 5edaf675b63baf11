"""The FastAPI application: live query API, dashboard, health and metrics.

``create_app(settings, client=None)`` builds it; the process that owns the
ClickHouse store (``ocrstream serve``, or the embedded sink/demo process,
which passes its own shared chDB client) mounts or runs it.

Routes (all times UTC, ranges ``[start, end)``; see :mod:`ocrstream.api.params`):

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

from ocrstream.api import queries as Q
from ocrstream.api.auth import Authenticator, LinkSigner, Scope, bearer_token
from ocrstream.api.db import Database, SingleFlightCache
from ocrstream.api.images import ObjectUnavailable, open_object
from ocrstream.api.metrics import API_REQUESTS, API_SECONDS, ClickHouseMetrics, render
from ocrstream.api.models import (
    AggregatesResponse,
    BusinessesResponse,
    DocumentDetail,
    DocumentsResponse,
    Health,
)
from ocrstream.api.params import business_list, check_id, default_range, invalid, time_range
from ocrstream.settings import Settings

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
TEXT_PREVIEW_CHARS = 300


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _json_list(text: str) -> list[dict[str, Any]]:
    try:
        value = json.loads(text) if text else []
    except ValueError:
        return []
    return value if isinstance(value, list) else []


class MetricsMiddleware:
    """Pure ASGI middleware counting requests and latency per route template."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
    auth = Authenticator(api_settings)
    signer = LinkSigner(api_settings.link_secret, api_settings.link_ttl_s)
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

    # ------------------------------------------------------------ documents

    def links(request: Request, document_id: str) -> tuple[str, str]:
        root = request.scope.get("root_path", "")
        base = f"{root}/api/documents/{quote(document_id, safe='')}"
        exp, sig = signer.sign(document_id)
        return base, f"{base}/image?exp={exp}&sig={sig}"

    @app.get("/api/documents", tags=["query"], response_model=DocumentsResponse)
    async def documents(
        request: Request,
        scope: Auth,
        business_id: Annotated[list[str] | None, Query(description="repeatable; default: all in scope")] = None,
        start: Annotated[str | None, Query()] = None,
        end: Annotated[str | None, Query()] = None,
        type: Annotated[str | None, Query(description="document type, e.g. receipt", max_length=64)] = None,
        limit: Annotated[int, Query(ge=1)] = 50,
    ) -> dict[str, Any]:
        """Newest documents first (by ``event_time`` in ``[start, end)``), text shortened."""
        ids = business_list(business_id, required=False)
        scope.check(ids)
        if limit > api_settings.max_documents:
            raise invalid("limit", f"limit: at most {api_settings.max_documents}")
        rng = time_range(start, end, api_settings.max_range_days)
        all_businesses = not ids and scope.all
        if not ids and not scope.all:
            ids = sorted(scope.businesses)
        if not ids and not all_businesses:
            return {"start": _iso(rng.start), "end": _iso(rng.end), "count": 0, "documents": []}
        params = {"all": int(all_businesses), "business_ids": ids, "start": rng.start, "end": rng.end,
                  "doc_type": type or "", "limit": limit, "preview_chars": TEXT_PREVIEW_CHARS}
        key = (all_businesses, tuple(ids), rng.start, rng.end, type or "", limit)
        rows = await documents_cache.get(key, lambda: db.named_rows(Q.DOCUMENTS_SQL, params))
        out = []
        for cached in rows:
            row = dict(cached)  # cached rows are shared: links are signed per request
            row["event_time"] = _iso(row["event_time"])
            row["processed_at"] = _iso(row["processed_at"])
            row["is_late"] = bool(row["is_late"])
            row["url"], row["image_url"] = links(request, row["document_id"])
            out.append(row)
        return {"start": _iso(rng.start), "end": _iso(rng.end), "count": len(out), "documents": out}

    @app.get("/api/documents/{document_id}", tags=["query"], response_model=DocumentDetail,
             responses={404: {"description": "no such document"}})
    async def document(request: Request, scope: Auth, document_id: str) -> dict[str, Any]:
        """One document: OCR text, extracted fields and confidences, engine, timings, image link."""
        check_id("document_id", document_id)
        rows = await db.named_rows(Q.DOCUMENT_SQL, {"document_id": document_id})
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such document")
        row = rows[0]
        scope.check([row["business_id"]])
        _, image_url = links(request, document_id)
        return {
            "document_id": row["document_id"], "business_id": row["business_id"],
            "event_time": _iso(row["event_time"]), "processed_at": _iso(row["processed_at"]),
            "source": row["source"], "uri": row["uri"], "doc_type": row["doc_type"],
            "type_confidence": row["type_confidence"], "engine": row["engine"], "text": row["text"],
            "pages": row["pages"],
            "fields": {k: row[k] for k in ("vendor", "date", "currency", "subtotal", "tax", "total")},
            "field_confidences": dict(row["field_confidences"] or {}),
            "line_items": _json_list(row["line_items"]), "lines": _json_list(row["lines"]),
            "score": row["score"], "ocr_score": row["ocr_score"],
            "timings_s": {"fetch": row["fetch_s"], "classify": row["classify_s"], "ocr": row["ocr_s"],
                          "extract": row["extract_s"]},
            "is_late": bool(row["is_late"]), "image_url": image_url,
        }

    @app.get("/api/documents/{document_id}/image", tags=["query"],
             responses={200: {"content": {"image/*": {}, "application/pdf": {}}}, 404: {}})
    async def document_image(
        request: Request, document_id: str, exp: int | None = None, sig: str | None = None,
    ) -> StreamingResponse:
        """Stream the original object. Authorised by a signed link (``exp``, ``sig``) or a bearer token."""
        check_id("document_id", document_id)
        signed = signer.verify(document_id, exp, sig)
        scope = None if signed else auth.scope_for_token(bearer_token(request))
        if not signed and scope is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="missing or invalid bearer token or link",
                                headers={"WWW-Authenticate": "Bearer"})
        rows = await db.rows(Q.DOCUMENT_REF_SQL, {"document_id": document_id})
        if not rows:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such document")
        business_id, uri = rows[0]
        if scope is not None:
            scope.check([business_id])
        try:
            obj = await asyncio.to_thread(open_object, settings, uri)
        except ObjectUnavailable as exc:
            log.info("image of %s not served: %s", document_id, exc)  # details stay in the log
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="the document's object is not available") from None
        headers = {"Cache-Control": "private, max-age=300",
                   "Content-Disposition": f"inline; filename*=UTF-8''{quote(obj.filename)}",
                   "X-Content-Type-Options": "nosniff"}
        if obj.size is not None:
            headers["Content-Length"] = str(obj.size)
        return StreamingResponse(obj.chunks, media_type=obj.media_type, headers=headers)

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
        """Prometheus text format 0.0.4 (see ocrstream.api.metrics)."""
        if auth.enabled and not api_settings.metrics_public:
            scope = auth.scope_for_token(bearer_token(request))
            if scope is None or not scope.all:
                raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="metrics need a '*' token",
                                    headers={"WWW-Authenticate": "Bearer"})
        return PlainTextResponse(await render(ch_metrics), media_type="text/plain; version=0.0.4; charset=utf-8")

    return app
