"""OCR stage seam: one job in, one ``OcrResult`` dict out, CPU work off the event loop.

:class:`OcrStage` runs :func:`run_job` (``ocr_agents.pipeline.DocumentProcessor``:
open -> classify each page -> engine chosen by the class (``ocr.routing``) ->
OCR -> extract) in a pool sized by ``stream.ocr_workers``: a process pool
(``spawn``; models load once per pool process) by default, or a thread pool
(``stream.ocr_pool = "thread"``; the engines release the GIL in ONNX Runtime).
Either way the Faust event loop only awaits a future, so heartbeats, commits
and other partitions never stall behind a page of OCR.

Another engine implementation plugs in by passing ``fn`` (any picklable
``OcrJob -> dict`` callable) — tests use a fake; the default is the real pipeline.
Input errors raise :class:`ocr_agents.errors.OcrInputError` subclasses
(permanent -> DLQ); a crashed pool process raises ``BrokenProcessPool``
(transient -> the stage rebuilds the pool and the record is retried).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from ocrstream import metrics
from ocrstream.settings import OcrSettings, Settings


@dataclass(frozen=True)
class OcrJob:
    """Everything the pool needs for one document (picklable)."""

    data: bytes
    document_id: str
    business_id: str
    uri: str
    source: str
    event_time_ms: int
    media_type: str | None = None
    filename: str | None = None
    fetch_s: float = 0.0
    engine: str | None = None  # None/"auto": route by document class


_processor: Any = None
_processor_lock = threading.Lock()
_ocr_settings: OcrSettings | None = None


def _init_worker(ocr_settings: dict[str, Any]) -> None:
    global _ocr_settings
    _ocr_settings = OcrSettings(**ocr_settings)


def _get_processor() -> Any:
    global _processor
    with _processor_lock:
        if _processor is None:
            from ocr_agents.pipeline import DocumentProcessor

            _processor = DocumentProcessor(_ocr_settings or OcrSettings())
        return _processor


def run_job(job: OcrJob) -> dict[str, Any]:
    """Classify + OCR + extract one document; returns the ``OcrResult`` record."""
    from ocr_agents.pipeline import to_record

    result = _get_processor().process(job.data, media_type=job.media_type, filename=job.filename, engine=job.engine)
    return to_record(result, document_id=job.document_id, business_id=job.business_id, uri=job.uri,
                     source=job.source, event_time_ms=job.event_time_ms, fetch_s=job.fetch_s)


class OcrStage:
    """Pool-backed OCR: ``await stage.run(job)``."""

    def __init__(self, settings: Settings, fn: Callable[[OcrJob], dict[str, Any]] = run_job) -> None:
        self.settings = settings
        self.fn = fn
        self.kind = settings.stream.ocr_pool
        self.size = settings.stream.ocr_workers
        self._pool: Executor | None = None

    def _make_pool(self) -> Executor:
        if self.kind == "thread":
            _init_worker(self.settings.ocr.model_dump())
            return ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="ocr")
        return ProcessPoolExecutor(
            max_workers=self.size, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.settings.ocr.model_dump(),),
        )  # fmt: skip

    async def run(self, job: OcrJob) -> dict[str, Any]:
        if self._pool is None:
            self._pool = self._make_pool()
        loop = asyncio.get_running_loop()
        try:
            record = await loop.run_in_executor(self._pool, self.fn, job)
        except BrokenProcessPool:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None  # rebuilt on the retry
            raise
        try:  # seconds of the OCR step as the engine measured it (the pool's queueing excluded)
            metrics.OCR_SECONDS.observe(float(record["timings"]["ocr_s"]), engine=record.get("engine") or "")
        except (KeyError, TypeError, ValueError):
            pass
        return record

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
