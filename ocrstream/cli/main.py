"""``ocrstream`` command line: one entry point for every part of the pipeline.

Data flow: ``publish``/``video`` (producers) or ``generate`` (synthetic load) → Kafka topics →
``worker`` (fetch → classify → OCR → extract → windows) → ``sink`` → ClickHouse
→ ``serve`` (API + dashboard). ``stack`` runs the embedded local services;
``demo`` runs everything end to end.

Settings come from the environment (``OCRSTREAM_*``, see
``ocrstream/settings.py``); the global options below override them.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from ocrstream.settings import Settings

app = typer.Typer(
    name="ocrstream",
    help=(
        "Real-time document OCR analytics.\n\n"
        "Data flow: publish / video (producers) or generate (synthetic load) -> Kafka topics -> worker "
        "(fetch, classify, OCR, extract) -> sink (event-time windows) -> ClickHouse -> serve (API + dashboard). "
        "'stack' runs the embedded local services; 'demo' runs everything end to end on sample data; "
        "'up' runs it on your own documents (ocrstream up --watch DIR --business ID).\n\n"
        "Settings come from the environment (OCRSTREAM_*, e.g. OCRSTREAM_KAFKA__BOOTSTRAP; see "
        "ocrstream/settings.py); the options below override them."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
stack_app = typer.Typer(help="Start, stop and inspect the embedded local stack (Tansu Kafka, SeaweedFS S3, chDB).",
                        no_args_is_help=True)
app.add_typer(stack_app, name="stack")

# Logs and tables go to stderr; wide enough for the demo's summary when piped.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


class State:
    settings: Settings


state = State()


@app.callback()
def main(
    state_dir: Optional[Path] = typer.Option(None, envvar="OCRSTREAM_STATE_DIR",
                                             help="Folder for local data, logs and pids."),
    profile: Optional[str] = typer.Option(None, help="local (embedded stack) or production (real servers)."),
    kafka_bootstrap: Optional[str] = typer.Option(None, help="Kafka bootstrap servers host:port[,...]."),
    s3_endpoint: Optional[str] = typer.Option(None, help="S3 endpoint URL."),
    clickhouse_dsn: Optional[str] = typer.Option(None, help="chdb:///abs/path or http(s)://user:pass@host:8123."),
    log_level: Optional[str] = typer.Option(None, help="DEBUG, INFO, WARNING, ERROR."),
) -> None:
    """Real-time document OCR: Kafka producers → OCR agents → event-time windows → ClickHouse."""
    from ocrstream.settings import SettingsError, load_settings

    flags = {"state_dir": "--state-dir", "profile": "--profile", "kafka.bootstrap": "--kafka-bootstrap",
             "s3.endpoint": "--s3-endpoint", "clickhouse.dsn": "--clickhouse-dsn", "log_level": "--log-level"}
    given = {"state_dir": state_dir, "profile": profile, "kafka.bootstrap": kafka_bootstrap, "s3.endpoint": s3_endpoint,
             "clickhouse.dsn": clickhouse_dsn, "log_level": log_level}
    try:
        settings = load_settings({k: v for k, v in flags.items() if given[k] is not None}, **given)
    except SettingsError as exc:
        fail(str(exc), code=2)
        return
    state.settings = settings
    configure_logging(settings.log_level)


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def fail(message: str, code: int = 1) -> None:
    """Print a one-line error (no traceback) and exit."""
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


# ------------------------------------------------------------------ stack

@stack_app.command("up")
def stack_up(
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

    try:
        status = LocalStack(state.settings).up(ephemeral=ephemeral, create_buckets=create_buckets,
                                               progress=lambda m: console.print(f"• {m}"))
    except StackError as exc:
        fail(str(exc))
        return
    except Exception as exc:  # noqa: BLE001 - broker/S3 client errors: one line
        fail(f"stack up failed: {' '.join(str(exc).split())[:300]}")
        return
    console.print(f"[green]stack up[/]: kafka {status['kafka_bootstrap']}, s3 {status['s3_endpoint']}, "
                  f"clickhouse {status['clickhouse_dsn']} (logs in {state.settings.state_dir / 'logs'})")


@stack_app.command("down")
def stack_down() -> None:
    """Stop the broker and S3 (broker first) and wait until no process is left."""
    from ocrstream.stack import LocalStack

    stopped = LocalStack(state.settings).down()
    console.print(f"stopped: {', '.join(stopped) or 'nothing was running'}")


@stack_app.command("status")
def stack_status(as_json: bool = typer.Option(False, "--json", help="Print live values as JSON.")) -> None:
    """Show endpoints, credentials and health; exit code 1 when any part is down."""
    from ocrstream.stack import LocalStack

    status = LocalStack(state.settings).status()
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
def migrate_cmd() -> None:
    """Apply pending ClickHouse migrations (clickhouse/*.sql) to the configured store."""
    from ocrstream.clickhouse import ClickHouseUnavailable, connect, migrate

    try:
        applied = migrate(connect(state.settings))
    except ClickHouseUnavailable as exc:
        fail(str(exc))
        return
    console.print(f"applied: {', '.join(applied) or 'nothing (up to date)'}")


@app.command("topics")
def topics_cmd() -> None:
    """Create the ocrstream topics if missing (idempotent) and list them."""
    from ocrstream.kafka import BrokerUnavailable, kafka_error_line, require_broker
    from ocrstream.topics import ALL_TOPICS, ensure_topics

    try:
        require_broker(state.settings)
        created = ensure_topics(state.settings)
    except BrokerUnavailable as exc:
        fail(str(exc))
        return
    except Exception as exc:  # noqa: BLE001
        fail(f"cannot create topics on Kafka at {state.settings.kafka.bootstrap}: {kafka_error_line(exc)}")
        return
    for spec in ALL_TOPICS:
        name = state.settings.topic(spec.short_name)
        mark = "created" if name in created else "exists"
        console.print(f"{name:<28} {spec.schema:<19} key={spec.key:<36} {mark}")


@app.command("demo")
def demo_cmd(
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

    settings = state.settings.with_overrides(**{"api.port": port})
    if settings.profile != "local":
        fail("demo runs the embedded local stack; unset OCRSTREAM_PROFILE=production")
    try:
        run_demo(settings, console=console, exit_after_s=exit_after, timeout_s=timeout)
    except (StackError, RuntimeError) as exc:
        fail(str(exc))


def _register_subcommands() -> None:
    """Attach the commands that live beside the code they drive."""
    import importlib

    for module in ("ocr_agents.cli", "producers.cli", "producers.bridge_cli", "producers.import_cli", "streams.cli",
                   "synth.cli", "serving.cli", "ocrstream.cli.up_command"):
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name and module.startswith(exc.name):
                continue  # that part is not installed in this checkout
            raise
        mod.register(app)


_register_subcommands()
