"""OCR stage seam: one job in, one ``OcrResult`` dict out, CPU work off the event loop.

:class:`OcrStage` runs :func:`run_job` (``ocr_agents.pipeline.DocumentProcessor``:
open -> classify each page -> engine chosen by the class (``ocr.routing``) ->
OCR -> extract) in a pool sized by ``worker.ocr_workers``: a process pool
(``spawn``; models load once per pool process) by default, or a thread pool
(``worker.ocr_pool = "thread"``; the engines release the GIL in ONNX Runtime).
Either way the Faust event loop only awaits a future, so heartbeats, commits
and other partitions never stall behind a page of OCR.

Another engine implementation plugs in by passing ``fn`` (any picklable
``OcrJob -> dict`` callable) — tests use a fake; the default is the real pipeline.
Input errors raise :class:`ocrstream.errors.OcrInputError` subclasses
(permanent -> DLQ); a crashed pool process raises ``BrokenProcessPool``
(transient -> the stage rebuilds the pool and the record is retried).

Process hygiene: pool processes die with the worker, even when the worker is
killed with SIGKILL (:func:`ocrstream.supervisor.die_with_parent` in the pool
initializer: parent-death signal + a ``getppid`` watchdog), and
:meth:`OcrStage.close` terminates them instead of waiting for a page of OCR
to finish. :meth:`OcrStage.warm` starts the pool and loads the models before
the first document (the worker calls it while it joins its consumer group).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from ocrstream import metrics
from ocrstream.settings import OcrSettings, Settings

log = logging.getLogger(__name__)


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


def _init_worker(ocr_settings: dict[str, Any], parent_pid: int | None = None) -> None:
    global _ocr_settings
    if parent_pid is not None:  # a pool process: never outlive the worker
        from ocrstream.supervisor import die_with_parent

        die_with_parent(parent_pid)
    _ocr_settings = OcrSettings(**ocr_settings)


def warm_job() -> int:
    """Load the OCR models of this pool process (the pool's first job); returns its pid."""
    _get_processor().warm_up()
    return os.getpid()


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
        self.kind = settings.worker.ocr_pool
        self.size = settings.worker.ocr_workers
        self._pool: Executor | None = None

    def _make_pool(self) -> Executor:
        if self.kind == "thread":
            _init_worker(self.settings.ocr.model_dump())
            return ThreadPoolExecutor(max_workers=self.size, thread_name_prefix="ocr")
        return ProcessPoolExecutor(
            max_workers=self.size, mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker, initargs=(self.settings.ocr.model_dump(), os.getpid()),
        )  # fmt: skip

    async def warm(self) -> None:
        """Start the pool and load the models in every pool process (only with the real pipeline)."""
        if self.fn is not run_job:
            return
        if self._pool is None:
            self._pool = self._make_pool()
        loop = asyncio.get_running_loop()
        pool = self._pool
        try:
            await asyncio.gather(*(loop.run_in_executor(pool, warm_job) for _ in range(self.size)))
            log.info("OCR pool warm: %d %s worker(s), models loaded", self.size, self.kind)
        except BrokenProcessPool as exc:
            log.warning("OCR pool warm-up failed (%s); it is rebuilt on the first document", exc)
            self._discard(pool)
        except Exception as exc:  # noqa: BLE001 - missing model etc.: the first job reports it properly
            log.warning("OCR pool warm-up failed: %s", exc)

    async def run(self, job: OcrJob) -> dict[str, Any]:
        if self._pool is None:
            self._pool = self._make_pool()
        loop = asyncio.get_running_loop()
        try:
            record = await loop.run_in_executor(self._pool, self.fn, job)
        except BrokenProcessPool:
            self._discard(self._pool)  # rebuilt on the retry
            raise
        try:  # seconds of the OCR step as the engine measured it (the pool's queueing excluded)
            metrics.OCR_SECONDS.observe(float(record["timings"]["ocr_s"]), engine=record.get("engine") or "")
        except (KeyError, TypeError, ValueError):
            pass
        return record

    def _discard(self, pool: Executor | None) -> None:
        if pool is None:
            return
        if pool is self._pool:
            self._pool = None
        processes = list(getattr(pool, "_processes", {}).values()) if isinstance(pool, ProcessPoolExecutor) else []
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:  # a page of OCR in flight is abandoned (its record stays uncommitted)
            if proc.is_alive():
                proc.terminate()
        for proc in processes:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(5)

    def close(self) -> None:
        """Stop the pool now: queued jobs are cancelled, running pool processes terminated."""
        self._discard(self._pool)
