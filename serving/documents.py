"""Document routes: list, detail (the document view's data), original object, page images.

* ``GET /api/documents`` - newest first by ``event_time`` in ``[start, end)``;
* ``GET /api/documents/{id}`` - OCR text and lines (with boxes), fields with
  confidences and where they were read (:mod:`serving.evidence`), engine,
  timings, type and its confidence, the minute/hour windows the document counts
  in, and signed links to its page images;
* ``GET /api/documents/{id}/image`` - the original object, only when its bytes
  are an image or PDF (:mod:`serving.images`);
* ``GET /api/documents/{id}/pages/{n}`` - page ``n`` (0-based) as PNG, the
  image the boxes' source page pixels refer to (:mod:`serving.pages`).

Scopes: the same tokens as the data. A document of a business outside the
caller's scope is answered exactly like a missing one (404, same body), so
document ids of other businesses reveal nothing. The image and page routes
also accept a signed link (``?exp=&sig=``) handed out with the document.
"""

# No `from __future__ import annotations`: FastAPI resolves the per-app `Auth` alias at runtime.

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.responses import Response, StreamingResponse

from ocrstream.settings import Settings
from serving import queries as Q
from serving.auth import Authenticator, LinkSigner, Scope
from serving.db import Database, SingleFlightCache
from serving.evidence import field_evidence
from serving.images import ObjectUnavailable, UnservableContent, open_object, read_object
from serving.models import DocumentDetail, DocumentsResponse
from serving.pages import PageCache, PageNotFound, render_page
from serving.params import business_list, check_id, invalid, time_range
from serving.security import OBJECT_CSP

log = logging.getLogger(__name__)

TEXT_PREVIEW_CHARS = 300
NOT_FOUND = "no such document"
MINUTE_MS, HOUR_MS = 60_000, 3_600_000


def iso(value: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds and ``Z``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_ms(ms: int) -> str:
    return iso(datetime.fromtimestamp(ms / 1000, tz=UTC)) or ""


def _json(text: str, kind: type) -> Any:
    """``text`` parsed as JSON when it is a ``kind`` (list or dict), else an empty one."""
    try:
        value = json.loads(text) if text else kind()
    except ValueError:
        return kind()
    return value if isinstance(value, kind) else kind()


def _json_list(text: str) -> list[dict[str, Any]]:
    return _json(text, list)


def _not_found() -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail=NOT_FOUND)


@dataclass
class DocumentContext:
    """What the document routes share with the rest of the app."""

    settings: Settings
    db: Database
    auth: Authenticator
    signer: LinkSigner
    cache: SingleFlightCache
    pages: PageCache


def window_role(doc: dict[str, Any], row: dict[str, Any] | None) -> str:
    """How a document counts in a window row.

    ``is_late`` documents are in none of the window's aggregates (only in its
    late counter): ``"late: not in the aggregates"``. Where the table has
    ``late_update`` (allowed lateness), such a document arrived after the close
    but is counted: ``"late update (counted)"``. Otherwise ``"on time"``; with no
    stored row (not flushed yet, or never tracked) ``"not counted"``.
    """
    if doc["is_late"]:
        return "late: not in the aggregates"
    if row is None:
        return "not counted"
    return "late update (counted)" if doc.get("late_update") else "on time"


def build_router(ctx: DocumentContext) -> APIRouter:
    """The document routes of one app (see module docstring)."""
    router = APIRouter()
    api_settings = ctx.settings.api
    Auth = Annotated[Scope, Depends(ctx.auth)]

    def links(request: Request, document_id: str) -> tuple[str, str, str]:
        """(detail route, signed image link, signed query string) of a document."""
        root = request.scope.get("root_path", "")
        base = f"{root}/api/documents/{quote(document_id, safe='')}"
        exp, sig = ctx.signer.sign(document_id)
        signed = f"exp={exp}&sig={sig}"
        return base, f"{base}/image?{signed}", signed

    async def visible_row(scope: Scope | None, sql: str, document_id: str) -> dict[str, Any]:
        """The document's row, or 404 - also when it belongs to a business outside ``scope``."""
        rows = await ctx.db.named_rows(sql, {"document_id": document_id})
        if not rows or (scope is not None and not scope.allows(rows[0]["business_id"])):
            raise _not_found()
        return rows[0]

    def object_scope(request: Request, document_id: str, exp: int | None, sig: str | None) -> Scope | None:
        """``None`` for a valid signed link (no scope check), else the caller's scope (401 without)."""
        if ctx.signer.verify(document_id, exp, sig):
            return None
        scope = ctx.auth.scope_for_request(request)
        if scope is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="missing or invalid bearer token or link",
                                headers={"WWW-Authenticate": "Bearer"})
        return scope

    @router.get("/api/documents", tags=["query"], response_model=DocumentsResponse)
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
            return {"start": iso(rng.start), "end": iso(rng.end), "count": 0, "documents": []}
        params = {"all": int(all_businesses), "business_ids": ids, "start": rng.start, "end": rng.end,
                  "doc_type": type or "", "limit": limit, "preview_chars": TEXT_PREVIEW_CHARS}
        key = (all_businesses, tuple(ids), rng.start, rng.end, type or "", limit)
        rows = await ctx.cache.get(key, lambda: ctx.db.named_rows(Q.DOCUMENTS_SQL, params))
        out = []
        for cached in rows:
            row = dict(cached)  # cached rows are shared: links are signed per request
            row["event_time"] = iso(row["event_time"])
            row["processed_at"] = iso(row["processed_at"])
            row["is_late"] = bool(row["is_late"])
            row["late_update"] = bool(row["late_update"])
            row["url"], row["image_url"], _ = links(request, row["document_id"])
            out.append(row)
        return {"start": iso(rng.start), "end": iso(rng.end), "count": len(out), "documents": out}

    @router.get("/api/documents/{document_id}", tags=["query"], response_model=DocumentDetail,
                responses={404: {"description": "no such document (or not in the caller's scope)"}})
    async def document(request: Request, scope: Auth, document_id: str) -> dict[str, Any]:
        """One document: everything the document view shows (see module docstring)."""
        check_id("document_id", document_id)
        row = await visible_row(scope, Q.DOCUMENT_SQL, document_id)
        _, image_url, signed = links(request, document_id)
        event_ms = int(row["event_time"].timestamp() * 1000)
        windows = await ctx.db.named_rows(Q.DOCUMENT_WINDOWS_SQL, {
            "business_id": row["business_id"],
            "minute": datetime.fromtimestamp(event_ms // MINUTE_MS * 60, tz=UTC),
            "hour": datetime.fromtimestamp(event_ms // HOUR_MS * 3600, tz=UTC),
        })
        by_granularity = {w["granularity"]: w for w in windows}
        is_late = bool(row["is_late"])
        counted_in: list[dict[str, Any]] = []
        for granularity, size in (("minute", MINUTE_MS), ("hour", HOUR_MS)):
            w = by_granularity.get(granularity)
            start_ms = event_ms // size * size
            counted_in.append({
                "granularity": granularity, "window_start": iso_ms(start_ms), "window_end": iso_ms(start_ms + size),
                "start_ms": start_ms, "end_ms": start_ms + size, "counted_as": window_role(row, w),
                "stored": w is not None, "is_final": bool(w["is_final"]) if w else None,
                "document_count": w["document_count"] if w else None,
                "late_events": w["late_events"] if w else None,
            })
        lines = _json_list(row["lines"])
        fields = {k: row[k] for k in ("vendor", "date", "currency", "subtotal", "tax", "total")}
        confidences = {k: float(v) for k, v in (row["field_confidences"] or {}).items()}
        root = request.scope.get("root_path", "")
        page_base = f"{root}/api/documents/{quote(document_id, safe='')}/pages"
        n_pages = max([int(row["pages"] or 1)] + [int(line.get("page") or 0) + 1 for line in lines])
        return {
            "document_id": row["document_id"], "business_id": row["business_id"],
            "event_time": iso(row["event_time"]), "processed_at": iso(row["processed_at"]),
            "source": row["source"], "uri": row["uri"], "doc_type": row["doc_type"],
            "type_confidence": row["type_confidence"], "engine": row["engine"], "text": row["text"],
            "pages": row["pages"], "fields": fields, "field_confidences": confidences,
            "field_evidence": field_evidence(fields, confidences, lines, api_settings.low_confidence,
                                             _json(row["field_evidence"], dict)),
            "page_sizes": [p for p in _json_list(row["page_sizes"]) if isinstance(p, dict)],
            "low_confidence": api_settings.low_confidence,
            "line_items": _json_list(row["line_items"]), "lines": lines,
            "score": row["score"], "ocr_score": row["ocr_score"],
            "timings_s": {"fetch": row["fetch_s"], "classify": row["classify_s"], "ocr": row["ocr_s"],
                          "extract": row["extract_s"]},
            "is_late": is_late, "late_update": bool(row.get("late_update", 0)), "image_url": image_url,
            "windows": counted_in,
            "page_images": [f"{page_base}/{n}?{signed}" for n in range(n_pages)],
        }

    @router.get("/api/documents/{document_id}/image", tags=["query"],
                responses={200: {"content": {"image/*": {}, "application/pdf": {}}}, 404: {}, 415: {}})
    async def document_image(
        request: Request, document_id: str, exp: int | None = None, sig: str | None = None,
    ) -> StreamingResponse:
        """Stream the original object, typed by its bytes; only images and PDFs (else 415)."""
        check_id("document_id", document_id)
        scope = object_scope(request, document_id, exp, sig)
        row = await visible_row(scope, Q.DOCUMENT_REF_SQL, document_id)
        try:
            obj = await asyncio.to_thread(open_object, ctx.settings, row["uri"])
        except ObjectUnavailable as exc:
            log.info("image of %s not served: %s", document_id, exc)  # details stay in the log
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="the document's object is not available") from None
        except UnservableContent as exc:
            log.warning("image of %s refused: %s", document_id, exc)
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                                detail="the document's object is not an image or PDF") from None
        # PDFs download: a browser's PDF viewer is more than an image decoder
        disposition = "attachment" if obj.media_type == "application/pdf" else "inline"
        headers = {"Cache-Control": "private, max-age=300",
                   "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(obj.filename)}",
                   "Content-Security-Policy": OBJECT_CSP}
        if obj.size is not None:
            headers["Content-Length"] = str(obj.size)
        return StreamingResponse(obj.chunks, media_type=obj.media_type, headers=headers)

    @router.get("/api/documents/{document_id}/pages/{page}", tags=["query"],
                responses={200: {"content": {"image/png": {}}}, 404: {}, 415: {}})
    async def document_page(
        request: Request, document_id: str, page: Annotated[int, PathParam(ge=0, le=10_000)],
        exp: int | None = None, sig: str | None = None,
    ) -> Response:
        """Page ``page`` (0-based) as PNG; ``X-Page-Width``/``-Height``: the boxes' pixel frame."""
        check_id("document_id", document_id)
        scope = object_scope(request, document_id, exp, sig)
        row = await visible_row(scope, Q.DOCUMENT_REF_SQL, document_id)
        key = (document_id, page)
        image = ctx.pages.get(key)
        if image is None:
            try:
                image = await asyncio.to_thread(_render, ctx.settings, row["uri"], page)
            except (ObjectUnavailable, PageNotFound) as exc:
                log.info("page %d of %s not served: %s", page, document_id, exc)
                raise HTTPException(status.HTTP_404_NOT_FOUND, detail="the page is not available") from None
            except UnservableContent:
                raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                                    detail="the document's object is not an image or PDF") from None
            ctx.pages.put(key, image)
        return Response(image.png, media_type="image/png", headers={
            "Cache-Control": "private, max-age=300", "Content-Security-Policy": OBJECT_CSP,
            "X-Page-Width": str(image.width), "X-Page-Height": str(image.height)})

    return router


def _render(settings: Settings, uri: str, page: int) -> Any:
    from ocrstream.errors import OcrInputError

    _, data = read_object(settings, uri, settings.ocr.max_object_bytes)
    try:
        return render_page(data, page, settings.ocr)
    except OcrInputError as exc:
        raise ObjectUnavailable(f"{uri}: {exc}") from exc
