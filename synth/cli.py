"""``ocrstream generate``: replayable synthetic load, published through the producers.

Roof code: it composes :mod:`synth` (what to send) with :mod:`producers` (how
to send it); no production stage imports this module or any other of
:mod:`synth`. Two modes share the timing model (``rate`` events/s across all
businesses, event times spread over ``[start, start + duration)``):

* ``events`` (:mod:`synth.events`): ``OcrResult`` events straight onto the
  ``ocr-results`` topic (:func:`producers.events.publish_events`), for the
  aggregation path at high rates;
* ``images`` (:mod:`synth.images`): rendered receipts, invoices, reports and
  forms written as PNG + ground-truth JSON plus a ``manifest.json``; optionally
  published as ``DocumentRef``s through :class:`~producers.publish.DocumentPublisher`.

Backfill mode produces as fast as possible; live mode (``--rate/--duration``
without ``--backfill``) starts at the current time and paces emission so that
event time follows the wall clock.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from producers.cli import print_summary, progress_bar
from producers.errors import ProducerError

if TYPE_CHECKING:
    from synth.images import ImageDoc

# Heavy modules (NumPy, OpenCV, boto3) are imported inside the commands, so that
# registering ``generate`` keeps ``ocrstream --help`` fast.


def register(app: typer.Typer) -> None:
    """Attach ``generate`` to the main ``ocrstream`` app."""
    app.command("generate")(generate_cmd)


def default_backfill_start(duration_s: float, now_ms: int) -> int:
    """Backfill window ending at the last full hour before ``now_ms`` (stable within the hour)."""
    end = now_ms - now_ms % 3_600_000
    return end - int(duration_s * 1000)


def parse_businesses(value: str) -> tuple[str, ...]:
    """``"3"`` → ``biz-000..biz-002``; ``"a,b"`` → ``("a", "b")``."""
    from synth.events import business_names

    v = value.strip()
    if v.isdigit():
        if int(v) < 1:
            raise ProducerError("--businesses must be at least 1")
        return business_names(int(v))
    names = tuple(x.strip() for x in v.split(",") if x.strip())
    if not names:
        raise ProducerError("--businesses needs a count or a comma-separated list of ids")
    return names


def generate_cmd(
    ctx: typer.Context,
    mode: str = typer.Option("events", "--mode", help="events (OcrResult records) or images (rendered documents)."),
    businesses: str = typer.Option("3", "--businesses", help="How many businesses, or a comma-separated list of ids."),
    rate: float = typer.Option(1.0, "--rate", help="Documents per second of event time, all businesses together."),
    duration: Optional[str] = typer.Option(None, "--duration", help="Live mode: run this long from now, paced (e.g. 10m)."),
    backfill: Optional[str] = typer.Option(None, "--backfill", help="Backfill this much history as fast as possible (e.g. 7d)."),
    seed: int = typer.Option(0, "--seed", help="Same seed and parameters, same events."),
    start: Optional[str] = typer.Option(None, "--start", help="Backfill start (ISO 8601 / epoch ms); default: last full hour minus the backfill."),
    out: Optional[Path] = typer.Option(None, "--out", help="Folder for ground truth (and images); default <state_dir>/generated/<mode>-<seed>."),
    out_of_order: float = typer.Option(0.0, "--out-of-order", help="Fraction of events 1..--max-disorder-ms earlier than their arrival order."),
    max_disorder_ms: int = typer.Option(4000, "--max-disorder-ms"),
    late: float = typer.Option(0.0, "--late", help="Fraction of late events (--late-min-ms..--late-max-ms behind)."),
    late_min_ms: int = typer.Option(120_000, "--late-min-ms"),
    late_max_ms: int = typer.Option(600_000, "--late-max-ms"),
    old: float = typer.Option(0.0, "--old", help="events: fraction with old event times, uniform over --old-span "
                                                "before the start (history interleaved with live traffic)."),
    old_span: str = typer.Option("6d", "--old-span", help="events: how far back --old event times go."),
    publish: Optional[bool] = typer.Option(None, "--publish/--no-publish", help="Publish (default: yes for events, no for images)."),
    presign: bool = typer.Option(False, "--presign", help="images: add presigned URLs to the DocumentRefs."),
) -> None:
    """Replayable load: OcrResult events (mode events) or rendered documents with ground truth (mode images)."""
    from ocrstream.console import console, fail, settings_of
    from producers.times import parse_duration, parse_time_ms

    settings = settings_of(ctx)
    try:
        if mode not in ("events", "images"):
            raise ProducerError(f"--mode must be events or images, not {mode!r}")
        if (duration is None) == (backfill is None):
            raise ProducerError("give exactly one of --duration (live, paced) or --backfill (history, fast)")
        if rate <= 0:
            raise ProducerError("--rate must be positive")
        if not (0 <= out_of_order <= 1 and 0 <= late <= 1 and 0 <= old <= 1 and out_of_order + late + old <= 1):
            raise ProducerError("--out-of-order, --late and --old are fractions in [0, 1] with a sum <= 1")
        names = parse_businesses(businesses)
        span_s = parse_duration(backfill or duration or "0")
        now_ms = int(time.time() * 1000)
        if backfill is not None:
            start_ms = parse_time_ms(start) if start else default_backfill_start(span_s, now_ms)
            pace = None
        else:
            start_ms = parse_time_ms(start) if start else now_ms
            pace = rate
        out_dir = out or settings.state_dir / "generated" / f"{mode}-{seed}"
        do_publish = publish if publish is not None else mode == "events"
        if mode == "events":
            _generate_events(console, settings, names, rate, span_s, start_ms, seed, out_dir, out_of_order,
                             max_disorder_ms, late, (late_min_ms, late_max_ms), do_publish, pace,
                             old, int(parse_duration(old_span) * 1000))
        else:
            _generate_images(console, settings, names, rate, span_s, start_ms, seed, out_dir, do_publish, presign)
    except ProducerError as exc:
        fail(str(exc))


def _generate_events(console: Any, settings: Any, names: tuple[str, ...], rate: float, span_s: float,
                     start_ms: int, seed: int, out_dir: Path, out_of_order: float, max_disorder_ms: int,
                     late: float, late_delay: tuple[int, int], do_publish: bool, pace: float | None,
                     old: float = 0.0, old_span_ms: int = 0) -> None:
    from producers.events import publish_events
    from synth.events import generate_events

    stream = generate_events(names, rate, span_s, start_ms, seed=seed, out_of_order=out_of_order,
                             max_disorder_ms=max_disorder_ms, late=late, late_delay_ms=late_delay, old=old,
                             old_span_ms=old_span_ms)
    total = stream.spec.count
    if total < 1:
        raise ProducerError("nothing to generate: rate x duration is below one event")
    t0 = time.monotonic()
    extra: dict[str, Any] = {}
    with progress_bar(console) as progress:
        task = progress.add_task("events", total=total, info="")
        if do_publish:
            stats = publish_events(settings, stream, pace_rate=pace,
                                   on_progress=lambda n: progress.update(task, completed=n,
                                                                         info=f"{n / max(1e-9, time.monotonic() - t0):,.0f}/s"))
            extra = {"topic": settings.topic("ocr-results"), "produced": stats.produced,
                     "delivered": stats.delivered, "failed": stats.failed}
        else:
            n = 0
            for _ in stream.encoded():
                n += 1
            progress.update(task, completed=n)
            stats = None
    path = stream.write_ground_truth(out_dir / "ground_truth.json", **extra)
    elapsed = time.monotonic() - t0
    if stats is None:
        console.print(f"generated {total} events (not published) in {elapsed:.1f}s; ground truth: {path}")
        return
    console.print(f"published {stats.delivered} of {stats.produced} events to {extra['topic']} "
                  f"({stats.delivered / max(elapsed, 1e-9):,.0f} events/s), failed {stats.failed}; ground truth: {path}")
    for err in stats.errors[:5]:
        console.print(f"  [red]failed[/] {err}")
    if stats.failed:
        raise typer.Exit(1)


def _generate_images(console: Any, settings: Any, names: tuple[str, ...], rate: float, span_s: float,
                     start_ms: int, seed: int, out_dir: Path, do_publish: bool, presign: bool) -> None:
    from synth.images import generate_images

    count = int(round(rate * span_s))
    if count < 1:
        raise ProducerError("nothing to generate: rate x duration is below one document")
    if count > 20_000:
        console.print(f"[yellow]warning[/]: rendering {count} images takes a while (~30 ms each)")
    t0 = time.monotonic()
    docs = generate_images(out_dir, names, count, rate, start_ms, seed)
    console.print(f"rendered {len(docs)} documents into {out_dir} in {time.monotonic() - t0:.1f}s "
                  f"(ground truth: *.json, manifest.json)")
    if not do_publish:
        return
    with progress_bar(console) as progress:
        task = progress.add_task("publishing", total=len(docs), info="")
        summary = publish_images(settings, docs, presign=presign,
                                 on_progress=lambda o, n, d: progress.update(task, advance=1, info=o))
    print_summary(console, summary, time.monotonic() - t0)
    if summary.failed:
        raise typer.Exit(1)
    (out_dir / "published.json").write_text(json.dumps({"published": summary.published,
                                                        "duplicates": summary.duplicates}))


def publish_images(settings: Any, docs: list[ImageDoc], *, presign: bool = False, on_progress: Any = None) -> Any:
    """Publish generated images as ``DocumentRef``s (source ``generator``), one publisher per business."""
    from producers.publish import Candidate, DocumentPublisher, PublishSummary

    total = PublishSummary()
    times = {str(d.image.resolve()): d.event_time for d in docs}
    for business in sorted({d.business_id for d in docs}):
        mine = [d for d in docs if d.business_id == business]
        cands = []
        for d in mine:
            st = d.image.stat()
            cands.append(Candidate(name=str(d.image), path=d.image.resolve(), size=st.st_size, mtime_ns=st.st_mtime_ns))
        with DocumentPublisher(settings, business, source="generator", presign=presign,
                               event_time=lambda c: times[str(c.path)], on_progress=on_progress) as pub:
            total.merge(pub.publish(cands))
    return total
