"""``ocrstream import FILE...``: publish historical documents as OcrResult events (see :mod:`producers.importer`)."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("import")(import_cmd)


def import_cmd(
    ctx: typer.Context,
    files: list[Path] = typer.Argument(..., help="JSON Lines or CSV files (document_id,timestamp,ml_response)."),
    fmt: str = typer.Option("auto", "--format", help="auto (by suffix / first byte), jsonl or csv."),
    doc_type: str = typer.Option("receipt", "--doc-type", help="Document type the imported documents count as."),
) -> None:
    """Backfill: publish historical results (the original documents table) as OcrResult events.

    Each line becomes one OcrResult (event time = its timestamp); the sink folds them
    into their windows like live documents (late updates within allowed lateness,
    too-late counts beyond). Bad lines are dead-lettered with their line number;
    re-importing a file changes nothing (the sink drops duplicate document ids).
    Exit code 1 when any line was bad or not delivered.
    """
    from ocrstream.console import console, fail, settings_of
    from producers.cli import progress_bar
    from producers.errors import ProducerError
    from producers.importer import import_files

    if fmt not in ("auto", "jsonl", "csv"):
        fail(f"--format must be auto, jsonl or csv, not {fmt!r}")
        return
    try:
        with progress_bar(console) as progress:
            task = progress.add_task("importing", total=None, info="")

            def on_file(path: Path) -> None:
                progress.update(task, description=f"importing {path.name}", completed=0, total=None)

            def on_progress(done: int, total: int) -> None:
                progress.update(task, completed=done, total=total, info="lines")

            summary = import_files(settings_of(ctx), list(files), fmt=fmt, doc_type=doc_type, on_file=on_file,
                                   on_progress=on_progress)
    except ProducerError as exc:
        fail(str(exc))
        return
    console.print(summary.line())
    for err in summary.errors[:5]:
        console.print(f"  [red]failed[/] {err}")
    if summary.bad or summary.failed:
        raise typer.Exit(1)
