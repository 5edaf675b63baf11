"""``ocrstream up``: the command line of :mod:`ocrstream.cli.up`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

HELP = """Run the whole pipeline on this machine and feed it your own documents.

Starts the local stack (Kafka, S3, the S3 upload bridge, ClickHouse), the OCR
worker(s), the sink and the API + dashboard (embedded ClickHouse is opened by
this one process, which runs the sink and the API), then:

\b
  --watch DIR --business ID
      publish every document file in DIR (already there or dropped in
      later) once; a line per file when published and when stored
  --video SRC --business ID
      camera index (0), stream URL or video file: one document per new
      stable page

While it runs, documents also come in from another terminal
(ocrstream publish FILE... --business ID) and from plain S3 uploads into
s3://<documents bucket>/<business>/<file> (see `ocrstream stack status --json`
for the endpoint and keys). Ctrl-C, SIGTERM or SIGHUP stop everything it
started and nothing else (a stack that was already running keeps running).

\b
Example:
  ocrstream up --watch ~/receipts --business acme
"""


def register(app: typer.Typer) -> None:
    """Add the ``up`` command to the main CLI."""
    app.command("up", help=HELP)(up_cmd)


def up_cmd(
    ctx: typer.Context,
    watch: Optional[Path] = typer.Option(None, "--watch", help="Inbox folder to publish documents from (created if missing)."),
    business: Optional[str] = typer.Option(None, "--business", "-b", help="Business id of the watched files / video pages."),
    video: Optional[str] = typer.Option(None, "--video", help="Camera index (0), stream URL or video file to read pages from."),
    stream_id: Optional[str] = typer.Option(None, "--stream-id", help="Id of the --video stream (default: its name + start time)."),
    workers: int = typer.Option(1, "--workers", min=1, max=16, help="OCR worker processes."),
    event_time: str = typer.Option("now", "--event-time", help="Event time of watched files: now (when picked up) or mtime."),
    port: Optional[int] = typer.Option(None, "--port", help="API/dashboard port (default ApiSettings.port, 8080)."),
) -> None:
    from ocrstream.console import console, fail, settings_of
    from ocrstream.stack import StackError
    from ocrstream.cli.up import UpOptions, run_up
    from producers.errors import ProducerError

    settings = settings_of(ctx).with_overrides(**{"api.port": port})
    if settings.profile != "local":
        fail("up runs the embedded local stack; unset OCRSTREAM_PROFILE=production (against real servers run "
             "worker, sink and serve as services)")
        return
    opts = UpOptions(watch=watch, business=business, video=video, stream_id=stream_id, workers=workers,
                     event_time=event_time)
    try:
        run_up(settings, opts, say=console.print)
    except (StackError, ProducerError, RuntimeError) as exc:
        fail(str(exc))
