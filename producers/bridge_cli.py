"""``ocrstream bridge``: S3 upload notifications -> ``DocumentRef``s (see :mod:`producers.bridge`)."""

from __future__ import annotations

import signal
import threading
from typing import Any, Optional

import typer

HELP = (
    'Turn uploads into the documents bucket into documents: S3 "object created" events -> DocumentRefs.\n\n'
    "Upload with any S3 client to s3://<documents bucket>/<business>/<file>, e.g. `aws s3 cp receipt.jpg "
    "s3://ocrstream-documents/acme/receipt.jpg --endpoint-url http://127.0.0.1:8333`: the business id is "
    "the first key segment (acme), the event time the time of the upload.\n\n"
    "Sources: seaweedfs (the local stack's S3: its filer metadata log, resumed from a checkpoint under "
    "<state dir>/bridge/), kafka (AWS/MinIO S3 event JSON on the s3-events topic, e.g. MinIO's Kafka "
    "notification target, as docker-compose wires it). auto (default) = seaweedfs locally, kafka in "
    "production. `ocrstream stack up` already runs one for the local stack "
    "(OCRSTREAM_BRIDGE__RUN_IN_STACK).\n\n"
    "At-least-once and restart-safe: positions are checkpointed only after the broker acknowledged the "
    "batch; a re-sent document has the same id (sha256 of its bytes) and is dropped downstream. Keys "
    "under sha256/ (written by `ocrstream publish` and `video`), folder markers, hidden names and "
    "non-ObjectCreated events are ignored; unknown buckets, keys without a business prefix or unsafe "
    "ones, and objects that are not documents are dead-lettered (dlq topic, stage bridge) with the "
    "reason."
)


def register(app: typer.Typer) -> None:
    """Attach ``bridge`` to the main ``ocrstream`` app."""
    app.command("bridge", help=HELP)(bridge_cmd)


def bridge_cmd(
    ctx: typer.Context,
    source: str = typer.Option("auto", "--source", help="auto | seaweedfs | kafka (see above)."),
    start_at: Optional[str] = typer.Option(None, "--from",
                                           help="Without a checkpoint start at the bucket's 'beginning' or 'now' "
                                                "(default OCRSTREAM_BRIDGE__START_AT, beginning)."),
    filer: Optional[str] = typer.Option(None, "--filer", help="SeaweedFS filer host:port (default: the local stack's)."),
    idle_exit: Optional[float] = typer.Option(None, "--idle-exit", help="Stop after this many seconds without events."),
) -> None:
    """S3 upload notifications -> DocumentRefs (see the command help)."""
    from ocrstream.console import console, fail, settings_of
    from producers.bridge import run_bridge
    from producers.bridge_sources import make_source, source_kind
    from producers.errors import ProducerError

    if source not in ("auto", "seaweedfs", "kafka"):
        fail(f"--source must be auto, seaweedfs or kafka, not {source!r}")
        return
    if start_at not in (None, "beginning", "now"):
        fail(f"--from must be beginning or now, not {start_at!r}")
        return
    settings = settings_of(ctx).with_overrides(**{"bridge.source": source, "bridge.start_at": start_at,
                                                "bridge.filer": filer})
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    kind = source_kind(settings)
    console.print(f"bridge: {kind} -> {settings.topic('documents')} (Ctrl-C stops)")
    try:
        stats = run_bridge(settings, stop=stop, source=make_source(settings, kind), idle_exit_s=idle_exit,
                           on_batch=lambda s: console.print(f"[dim]{s.line()}[/]"))
    except ProducerError as exc:
        fail(str(exc))
        return
    console.print(stats.line())
