"""The per-document OCR pipeline used by the stream agents, the CLI and the bench.

``DocumentProcessor.process(bytes)``: validate and open (:mod:`ocr_agents.io`)
-> per page: classify (:func:`ocr_agents.classify.classify_page`) -> route to an
engine -> preprocess (:mod:`ocr_agents.preprocess`) -> OCR
(:mod:`ocr_agents.engines`) -> extract fields once for the document
(:func:`ocr_agents.extract.extract_fields`).

A PDF page with a usable text layer gives that text without OCR; a page without
ink gives an empty ``"blank"`` page. Bad input raises a typed
:class:`~ocrstream.errors.OcrInputError`. Engines and models are loaded once per
process and shared by every processor in it.
"""

from __future__ import annotations

import time
from typing import Any, Iterable

import numpy as np

from ocr_agents.engines.base import BaseEngine, engine_names, get_engine
from ocr_agents.errors import UnknownEngine
from ocr_agents.io import Limits, SourcePage, open_document
from ocr_agents.lines import group_lines, lines_text
from ocr_agents.preprocess import get_orientation_classifier, is_blank, normalize_size, prepare_page
from ocr_agents.types import FIELD_NAMES, DocumentResult, FieldValue, LineItem, OcrLine, PageResult, PageTransform
from ocrstream import records
from ocrstream.errors import CorruptImage, ImageTooLarge
from ocrstream.settings import OcrSettings

NO_OCR = "none"  # routing target meaning "do not OCR" (blank pages)
AUTO = "auto"
PAGE_SEPARATOR = "\n\n"


class DocumentProcessor:
    """Turns documents (bytes) or frames (BGR arrays) into :class:`DocumentResult`.

    Thread-safe; cheap to construct (models live in process-wide caches).
    """

    def __init__(self, settings: OcrSettings | None = None) -> None:
        self.settings = settings or OcrSettings()
        s = self.settings
        self.limits = Limits(
            max_object_bytes=s.max_object_bytes, max_pixels=s.max_pixels, max_pages=s.max_pages, pdf_dpi=s.pdf_dpi
        )
        for name in [s.default_engine, *s.routing.values()]:
            if name != NO_OCR and name not in engine_names():
                raise UnknownEngine(f"OcrSettings names unknown engine {name!r}")

    # ------------------------------------------------------------------ engines
    def engine(self, name: str) -> BaseEngine:
        """The process-wide instance of engine ``name`` with this processor's options."""
        options: dict[str, Any] = {}
        if name == "onnx":
            s = self.settings
            options.update(det_size=s.onnx_model_size or s.onnx_det_size, rec_size=s.onnx_model_size or s.onnx_rec_size,
                           unclip_ratio=s.onnx_unclip_ratio, det_short_side=s.onnx_det_short_side,
                           det_max_long_side=s.onnx_det_max_long_side, rec_batch=s.onnx_rec_batch,
                           rec_min_width=s.onnx_rec_min_width, rec_width_scale=s.onnx_rec_width_scale,
                           rec_sessions=s.onnx_rec_sessions,
                           rec_space_min_prob=s.onnx_rec_space_min_prob)
        elif name == "tesseract":
            options["psm"] = self.settings.tesseract_psm
        return get_engine(name, threads=self.settings.threads, **options)

    def warm_up(self, engines: Iterable[str] | None = None) -> None:
        """Load models now (engines default to every routed one) instead of on the first document."""
        s = self.settings
        names = set(engines) if engines is not None else {s.default_engine, *s.routing.values()}
        for name in sorted(names - {NO_OCR, AUTO}):
            self.engine(name)
        if s.detect_orientation:
            get_orientation_classifier(s.threads)
        from ocr_agents.classify import load_model

        load_model()

    def resolve_engine(self, requested: str | None, doc_type: str, type_confidence: float) -> str:
        """Engine for a document: an explicit name wins; ``None``/``"auto"`` route by type.

        Routing uses ``settings.routing[doc_type]`` when ``type_confidence >=
        route_min_confidence``, else ``default_engine``. May return ``"none"`` (skip
        OCR), which the pipeline honours only for pages without ink.
        """
        if requested not in (None, AUTO):
            if requested not in engine_names():
                raise UnknownEngine(f"unknown OCR engine {requested!r}; expected one of {engine_names() + [AUTO]}")
            return requested
        s = self.settings
        if type_confidence >= s.route_min_confidence and doc_type in s.routing:
            return s.routing[doc_type]
        return s.default_engine

    # ------------------------------------------------------------------ entry points
    def process(
        self,
        data: bytes,
        *,
        media_type: str | None = None,
        filename: str | None = None,
        engine: str | None = None,
    ) -> DocumentResult:
        """OCR one document (image or PDF bytes). Raises :class:`OcrInputError` subclasses on bad input."""
        if engine not in (None, AUTO) and engine not in engine_names():
            raise UnknownEngine(f"unknown OCR engine {engine!r}; expected one of {engine_names() + [AUTO]}")
        with open_document(data, media_type=media_type, filename=filename, limits=self.limits) as doc:
            return self._process_pages(doc.pages(), engine)

    def process_image(self, image: np.ndarray, *, engine: str | None = None) -> DocumentResult:
        """OCR one already-decoded frame (BGR, BGRA or grey ``uint8``), e.g. from video."""
        return self._process_pages([SourcePage(0, self._check_frame(image))], engine)

    def _check_frame(self, image: np.ndarray) -> np.ndarray:
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise CorruptImage("frame must be a uint8 array of shape HxW or HxWxC")
        h, w = image.shape[:2]
        if h == 0 or w == 0:
            raise CorruptImage(f"frame is empty ({w}x{h})")
        if h * w > self.limits.max_pixels:
            raise ImageTooLarge(f"frame is {w}x{h} pixels, limit is {self.limits.max_pixels}")
        import cv2

        if image.ndim == 2:
            return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        if image.shape[2] == 4:
            return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        if image.shape[2] != 3:
            raise CorruptImage(f"frame has {image.shape[2]} channels; expected 1, 3 or 4")
        return image

    # ------------------------------------------------------------------ core
    def _process_pages(self, pages: Iterable[SourcePage], requested: str | None) -> DocumentResult:
        from ocr_agents.classify import classify_page

        timings = {"classify_s": 0.0, "ocr_s": 0.0, "extract_s": 0.0}
        results: list[PageResult] = []
        doc_type, type_conf = "blank", 0.0
        engine_name: str | None = None  # resolved on the first page that needs OCR
        used: set[str] = set()
        budget = self.settings.max_document_pixels
        for page in pages:
            budget -= page.image.shape[0] * page.image.shape[1]
            if budget < 0:
                raise ImageTooLarge(f"document pages exceed the budget of {self.settings.max_document_pixels} "
                                    f"decoded pixels at page {page.index + 1}")
            t0 = time.perf_counter()
            page_type, page_conf = classify_page(page.image)
            timings["classify_s"] += time.perf_counter() - t0
            if doc_type == "blank" and page_type != "blank":
                doc_type, type_conf = page_type, page_conf  # first non-blank page decides
            elif not results:
                type_conf = page_conf

            t0 = time.perf_counter()
            h, w = page.image.shape[:2]
            if page.text_layer is not None:
                lines = group_lines(page.text_layer, page=page.index)
                results.append(PageResult(page.index, lines, lines_text(lines), "text_layer", w, h, 0))
                used.add("text_layer")
            else:
                # Routing may skip a page ("none", e.g. for blank pages); otherwise
                # the first routed page fixes the engine for the whole document.
                page_engine = self.resolve_engine(requested, page_type, page_conf)
                if page_engine != NO_OCR:
                    engine_name = engine_name or page_engine
                    page_engine = engine_name
                results.append(self._ocr_page(page, page_engine, used))
            timings["ocr_s"] += time.perf_counter() - t0

        if all(p.source == "blank" for p in results):
            if doc_type != "blank":
                doc_type, type_conf = "blank", 1.0  # no ink anywhere, whatever the layout model said
        # extraction reads the upright frame (rows are horizontal there); every box
        # that leaves the pipeline is mapped back to source page pixels
        upright = [line for p in results for line in p.lines]
        text = PAGE_SEPARATOR.join(p.text for p in results if p.text)
        transforms = {p.page: p.transform for p in results if p.transform is not None}

        fields: dict[str, FieldValue] = {}
        line_items: list[LineItem] = []
        score = 0.0
        if text.strip():
            from ocr_agents.extract import extract_fields

            t0 = time.perf_counter()
            extraction = extract_fields(upright, text)
            timings["extract_s"] = time.perf_counter() - t0
            fields = {k: _map_field(v, transforms) for k, v in extraction.fields.items()}
            line_items = [_map_item(item, transforms) for item in extraction.line_items]
            score = float(extraction.score)
        for p in results:
            if p.transform is not None:
                p.lines = [_map_line(line, p.transform) for line in p.lines]
                p.width, p.height = p.transform.source_size
        lines = [line for p in results for line in p.lines]

        ocr_engines = sorted(used - {"text_layer", NO_OCR})
        if ocr_engines:
            engine_label = "+".join(ocr_engines)
        elif "text_layer" in used:
            engine_label = "text_layer"
        else:
            engine_label = NO_OCR
        ocr_score = float(np.mean([line.confidence for line in lines])) if lines else 0.0
        return DocumentResult(
            doc_type=doc_type,
            type_confidence=float(type_conf),
            engine=engine_label,
            pages=results,
            text=text,
            lines=lines,
            fields=fields,
            line_items=line_items,
            score=score,
            ocr_score=ocr_score,
            timings=timings,
        )

    def _ocr_page(self, page: SourcePage, engine_name: str, used: set[str]) -> PageResult:
        """OCR one page; ``lines`` in the upright frame, ``transform`` maps them back."""
        s = self.settings
        h, w = page.image.shape[:2]
        if engine_name == NO_OCR:
            # Routed to "no OCR" (a page classified blank): trust that only if the
            # page really has no ink; otherwise read it with the default engine.
            if is_blank(page.image):
                used.add(NO_OCR)
                return PageResult(page.index, [], "", "blank", w, h, 0)
            engine_name = s.default_engine
        # no more pixels than OCR needs: scale down first (boxes are mapped back below)
        image, first = normalize_size(page.image, max_long=s.max_ocr_long_side, min_long=1)
        prepared = prepare_page(
            image, detect_orientation=s.detect_orientation, deskew=s.deskew, threads=min(s.threads, 2)
        )
        if prepared.blank:
            return PageResult(page.index, [], "", "blank", w, h, 0)
        ph, pw = prepared.image.shape[:2]
        transform = PageTransform((w, h), (pw, ph), first * prepared.scale, prepared.rotation, prepared.skew)
        lines = self.engine(engine_name).recognize(prepared.image, page=page.index)
        used.add(engine_name)
        return PageResult(page.index, lines, lines_text(lines), "ocr", pw, ph, prepared.rotation, transform)


def _map_line(line: OcrLine, t: PageTransform) -> OcrLine:
    return OcrLine(line.text, line.confidence, t.to_source(line.box), line.page)


def _map_field(fv: FieldValue, transforms: dict[int, PageTransform]) -> FieldValue:
    t = transforms.get(fv.page)
    if t is None or fv.box is None:
        return fv
    return FieldValue(fv.value, fv.confidence, fv.raw_text, fv.page, t.to_source(fv.box))


def _map_item(item: LineItem, transforms: dict[int, PageTransform]) -> LineItem:
    t = transforms.get(item.page)
    if t is not None and item.box is not None:
        item.box = t.to_source(item.box)
    return item


def to_record(
    result: DocumentResult,
    *,
    document_id: str,
    business_id: str,
    uri: str = "",
    source: str = "upload",
    event_time_ms: int,
    fetch_s: float = 0.0,
    processed_at_ms: int | None = None,
) -> records.OcrResult:
    """``result`` as an :class:`~ocrstream.records.OcrResult` (``schemas/OcrResult.avsc`` field for field)."""
    values, confidences = result.values, result.confidences

    def num(v: Any) -> float | None:
        return None if v is None else float(v)

    def opt_str(v: Any) -> str | None:
        return None if v is None else str(v)

    return {
        "document_id": document_id,
        "business_id": business_id,
        "uri": uri,
        "source": source,
        "event_time": int(event_time_ms),
        "processed_at": int(processed_at_ms if processed_at_ms is not None else time.time() * 1000),
        "doc_type": result.doc_type,
        "type_confidence": float(result.type_confidence),
        "engine": result.engine,
        "text": result.text,
        "pages": max(1, len(result.pages)),
        "lines": [_line_record(line) for line in result.lines],
        "fields": {
            "vendor": opt_str(values["vendor"]),
            "date": opt_str(values["date"]),
            "currency": opt_str(values["currency"]),
            "subtotal": num(values["subtotal"]),
            "tax": num(values["tax"]),
            "total": num(values["total"]),
            "confidences": {k: float(c) for k, c in confidences.items()},
        },
        "field_evidence": {name: fv.as_dict() for name, fv in result.fields.items()},
        "page_sizes": [{"width": int(p.width), "height": int(p.height)} for p in result.pages],
        "line_items": [item.as_dict() for item in result.line_items],
        "score": float(result.score),
        "ocr_score": float(result.ocr_score),
        "timings": {
            "fetch_s": float(fetch_s),
            "classify_s": float(result.timings.get("classify_s", 0.0)),
            "ocr_s": float(result.timings.get("ocr_s", 0.0)),
            "extract_s": float(result.timings.get("extract_s", 0.0)),
        },
    }


def _line_record(line: OcrLine) -> records.OcrLine:
    return {
        "text": line.text,
        "confidence": float(line.confidence),
        "box": [float(v) for v in line.box],
        "page": int(line.page),
    }
