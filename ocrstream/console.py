"""What every command of every stage shares: the console, one-line failures, logging, the settings.

Stage command modules (``producers/cli.py``, ``streams/cli.py``, ...) import
these from the ground; the roof (:mod:`ocrstream.cli`) builds the
:class:`~ocrstream.settings.Settings` once, in its root callback, with the
global options applied, and puts them in the click context (``ctx.obj``), as
Faust's CLI does. A command reads them with :func:`settings_of`.
"""

from __future__ import annotations

import logging
import sys
from typing import NoReturn

import click
import typer
from rich.console import Console

from ocrstream.settings import Settings, SettingsError, load_settings

# Logs and tables go to stderr; wide enough for the demo's summary when piped.
console = Console(stderr=True, width=None if sys.stderr.isatty() else 120)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line error (no traceback) and exit with ``code``."""
    console.print(f"[bold red]error:[/] {message}", soft_wrap=True, highlight=False)
    raise typer.Exit(code)


def configure_logging(level: str) -> None:
    """Log lines ``time level logger: message`` to stderr at ``level`` (INFO when unknown)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def settings_of(ctx: click.Context) -> Settings:
    """The settings of the running command: the root callback's (``ctx.obj``, global options applied).

    A stage's commands run without the roof (e.g. ``python -m ocr_agents.cli``)
    find none there; they get the environment's settings, stored in the root
    context so that every later lookup in this invocation sees the same object.
    An invalid environment ends the command with a one-line error (exit code 2).
    """
    found = ctx.find_object(Settings)
    if found is not None:
        return found
    try:
        settings = load_settings()
    except SettingsError as exc:
        fail(str(exc), code=2)
    ctx.find_root().obj = settings
    return settings


def ensure_topics_or_fail(settings: Settings) -> list[str]:
    """Check that the broker answers and create the missing topics; the names created.

    An unreachable broker or a refused topic ends the command with one line
    (exit code 1).
    """
    from ocrstream.kafka import BrokerUnavailable, kafka_error_line, require_broker
    from ocrstream.topics import ensure_topics

    try:
        require_broker(settings)
        return ensure_topics(settings)
    except BrokerUnavailable as exc:
        fail(str(exc))
    except Exception as exc:  # noqa: BLE001 - librdkafka errors: one line
        fail(f"cannot create topics on Kafka at {settings.kafka.bootstrap}: {kafka_error_line(exc)}")
