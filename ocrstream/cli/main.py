"""``ocrstream`` command line: one entry point for every part of the pipeline.

Data flow: ``publish``/``video`` (producers) or ``generate`` (synthetic load) → Kafka topics →
``worker`` (fetch → classify → OCR → extract → windows) → ``sink`` → ClickHouse
→ ``serve`` (API + dashboard). ``stack`` runs the embedded local services;
``demo`` runs everything end to end.

Settings come from the environment (``OCRSTREAM_<SECTION>__<FIELD>``, one
section per stage, see ``ocrstream/settings.py``); the global options below
override them. The root
callback builds them once and puts them in the click context (``ctx.obj``);
every command reads them with :func:`ocrstream.console.settings_of`. Each
stage's commands live beside the code they drive and are imported here
explicitly (the roof imports the stages, never the reverse).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from ocr_agents import cli as ocr_agents_cli
from ocrstream.cli import up_command
from ocrstream.console import configure_logging, console, ensure_topics_or_fail, fail, settings_of
from producers import bridge_cli, import_cli
from producers import cli as producers_cli
from serving import cli as serving_cli
from streams import cli as streams_cli
from synth import cli as synth_cli

app = typer.Typer(
    name="ocrstream",
    help=(
        "Real-time document OCR analytics.\n\n"
        "Data flow: publish / video (producers) or generate (synthetic load) -> Kafka topics -> worker "
        "(fetch, classify, OCR, extract) -> sink (event-time windows) -> ClickHouse -> serve (API + dashboard). "
        "'stack' runs the embedded local services; 'demo' runs everything end to end on sample data; "
        "'up' runs it on your own documents (ocrstream up --watch DIR --business ID).\n\n"
        "Settings come from the environment (OCRSTREAM_<SECTION>__<FIELD>, e.g. OCRSTREAM_KAFKA__BOOTSTRAP, "
        "OCRSTREAM_WINDOWS__GRACE_MS; one section per part: kafka, s3, clickhouse, stack, ocr, windows, worker, "
        "fetch, retry, sink, producer, api, bridge, demo; see ocrstream/settings.py and the README); "
        "the options below override them."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
stack_app = typer.Typer(help="Start, stop and inspect the embedded local stack (Tansu Kafka, SeaweedFS S3, chDB).",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")


@app.callback()
def main(
    ctx: typer.Context,
    state_dir: Optional[Path] = typer.Option(None, envvar="OCRSTREAM_STATE_DIR",
                                             help="Folder for local data, logs and pids."),
    profile: Optional[str] = typer.Option(None, help="local (embedded stack) or production (real servers)."),
    kafka_bootstrap: Optional[str] = typer.Option(None, help="Kafka bootstrap servers host:port[,...]."),
    s3_endpoint: Optional[str] = typer.Option(None, help="S3 endpoint URL."),
    clickhouse_dsn: Optional[str] = typer.Option(None, help="chdb:///abs/path or http(s)://user:pass@host:8123."),
    log_level: Optional[str] = typer.Option(None, help="DEBUG, INFO, WARNING, ERROR."),
) -> None:
    """Real-time document OCR: Kafka producers → OCR agents → event-time windows → ClickHouse.

    The settings (environment, then these options) go to every command in ``ctx.obj``.
    """
    from ocrstream.settings import SettingsError, load_settings

    flags = {"state_dir": "--state-dir", "profile": "--profile", "kafka.bootstrap": "--kafka-bootstrap",
             "s3.endpoint": "--s3-endpoint", "clickhouse.dsn": "--clickhouse-dsn", "log_level": "--log-level"}
    given = {"state_dir": state_dir, "profile": profile, "kafka.bootstrap": kafka_bootstrap, "s3.endpoint": s3_endpoint,
             "clickhouse.dsn": clickhouse_dsn, "log_level": log_level}
    try:
        settings = load_settings({k: v for k, v in flags.items() if given[k] is not None}, **given)
    except SettingsError as exc:
        fail(str(exc), code=2)
    ctx.obj = settings
    configure_logging(settings.log_level)


# ------------------------------------------------------------------ stack

@stack_app.command("up")
def stack_up(
    ctx: typer.Context,
    ephemeral: bool = typer.Option(False, "--ephemeral", help="Keep the broker's log in memory (lost on down)."),
    create_buckets: bool = typer.Option(False, "--create-buckets",
                                        help="Create a missing documents/broker bucket (empty) instead of failing."),
) -> None:
    """Start S3 and Kafka on 127.0.0.1, create topics, apply ClickHouse migrations.

    Idempotent: parts already running are left alone (a running stack is
    reported and keeps running), and a failure stops only what this command
    started. By default the broker stores its log in the S3 broker bucket, so
    topics, messages and committed offsets survive ``down``/``up``.
    """
    from ocrstream.stack import LocalStack, StackError

    settings = settings_of(ctx)
    try:
        status = LocalStack(settings).up(ephemeral=ephemeral, create_buckets=create_buckets,
                                         progress=lambda m: console.print(f"• {m}"))
    except StackError as exc:
        fail(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - broker/S3 client errors: one line
        fail(f"stack up failed: {' '.join(str(exc).split())[:300]}")
        return
    console.print(f"[green]stack up[/]: kafka {status['kafka_bootstrap']}, s3 {status['s3_endpoint']}, "
                  f"clickhouse {status['clickhouse_dsn']} (logs in {settings.state_dir / 'logs'})")


@stack_app.command("down")
def stack_down(ctx: typer.Context) -> None:
    """Stop the broker and S3 (broker first) and wait until no process is left."""
    from ocrstream.stack import LocalStack

    stopped = LocalStack(settings_of(ctx)).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@stack_app.command("status")
def stack_status(ctx: typer.Context,
                 as_json: bool = typer.Option(False, "--json", help="Print live values as JSON.")) -> None:
    """Show endpoints, credentials and health; exit code 1 when any part is down."""
    from ocrstream.stack import LocalStack

    status = LocalStack(settings_of(ctx)).status()
    if as_json:
        print(json.dumps(status, indent=2))
    else:
        for name, part in status["parts"].items():
            mark = "[green]up[/]" if part["up"] else "[red]down[/]"
            console.print(f"{name:<11} {mark}  {json.dumps({k: v for k, v in part.items() if k != 'up'})}")
        console.print(f"kafka_bootstrap={status['kafka_bootstrap']} s3_endpoint={status['s3_endpoint']} "
                      f"clickhouse_dsn={status['clickhouse_dsn']}")
    if not status["ok"]:
        raise typer.Exit(1)


@app.command("migrate")
def migrate_cmd(ctx: typer.Context) -> None:
    """Apply pending ClickHouse migrations (clickhouse/*.sql) to the configured store."""
    from ocrstream.clickhouse import ClickHouseUnavailable, connect, migrate

    try:
        applied = migrate(connect(settings_of(ctx)))
    except ClickHouseUnavailable as exc:
        fail(str(exc))
        return
    console.print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")


@app.command("topics")
def topics_cmd(ctx: typer.Context) -> None:
    """Create the ocrstream topics if missing (idempotent) and list them."""
    from ocrstream.topics import ALL_TOPICS

    settings = settings_of(ctx)
    created = ensure_topics_or_fail(settings)
    for spec in ALL_TOPICS:
        name = settings.topic(spec.short_name)
        mark = "created" if name in created else "exists"
        console.print(f"{name:<28} {spec.schema:<19} key={spec.key:<36} {mark}")


@app.command("demo")
def demo_cmd(
    ctx: typer.Context,
    exit_after: Optional[float] = typer.Option(None, help="Stop serving after this many seconds (default: Ctrl-C)."),
    timeout: float = typer.Option(300.0, help="Give up if the documents are not in ClickHouse after this long."),
    port: Optional[int] = typer.Option(None, help="API/dashboard port (default ApiSettings.port, 8080)."),
) -> None:
    """The main job: local stack + OCR worker + sink + API, sample documents and a video, summary.

    Starts everything on 127.0.0.1, publishes the bundled samples, waits until
    they are OCR'd and aggregated in ClickHouse, prints a summary table and the
    dashboard URL, and serves until Ctrl-C; then stops everything it started.
    """
    from ocrstream.cli.demo import run_demo
    from ocrstream.stack import StackError

    settings = settings_of(ctx).with_overrides(**{"api.port": port})
    if settings.profile != "local":
        fail("demo runs the embedded local stack; unset OCRSTREAM_PROFILE=production")
    try:
        run_demo(settings, console=console, exit_after_s=exit_after, timeout_s=timeout)
    except (StackError, RuntimeError) as exc:
        fail(str(exc))


# Each stage's commands, imported explicitly above (their heavy imports live inside the commands).
for _register in (ocr_agents_cli.register, producers_cli.register, bridge_cli.register, import_cli.register,
                  streams_cli.register, synth_cli.register, serving_cli.register, up_command.register):
    _register(app)
