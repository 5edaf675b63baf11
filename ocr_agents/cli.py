"""``ocrstream ocr PATH...``: OCR documents from the command line.

Wire it into the main Typer app with :func:`register`. Human output uses rich;
``--json`` prints one JSON object per document per line (``type``, ``engine``,
``text``, ``fields``, ``line_items``, ``pages`` ...), or ``{"path", "error_class",
"reason"}`` for a document that cannot be read. ``fields`` has every field name
(vendor, date, currency, subtotal, tax, total) -> ``{"value", "confidence",
"raw_text", "page", "box"}`` (``value`` null when not found; ``page`` -1 and ``box``
``[]`` when not read from one place); boxes are ``[x0, y0, x1, y1]`` in page pixels,
whose frame is ``page_sizes[page]``. The exit code is 1 when any document
failed, else 0.
"""

from __future__ import annotations

import json
import mimetypes
import sys
import time
from pathlib import Path
from typing import Any, Optional

import typer

ENGINE_CHOICES = ("paddle", "onnx", "tesseract", "auto")


def _expand(paths: list[Path]) -> list[Path]:
    """Files named, plus the files directly inside named directories (sorted)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(c for c in p.iterdir() if c.is_file() and not c.name.startswith(".")))
        else:
            out.append(p)
    return out


def result_json(path: Path, result: Any, wall_s: float) -> dict[str, Any]:
    """The ``--json`` object for one processed document."""
    from ocr_agents.types import FIELD_NAMES, FieldValue

    missing = FieldValue(None, 0.0)  # type: ignore[arg-type]
    return {
        "path": str(path),
        "type": result.doc_type,
        "type_confidence": round(result.type_confidence, 4),
        "engine": result.engine,
        "pages": len(result.pages),
        "page_sources": [p.source for p in result.pages],
        "page_sizes": [{"width": p.width, "height": p.height} for p in result.pages],
        "text": result.text,
        "fields": {name: result.fields.get(name, missing).as_dict() for name in FIELD_NAMES},
        "line_items": [item.as_dict() for item in result.line_items],
        "score": round(result.score, 4),
        "ocr_score": round(result.ocr_score, 4),
        "timings": {k: round(v, 4) for k, v in result.timings.items()} | {"total_s": round(wall_s, 4)},
    }


def ocr_command(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="image or PDF files (or directories of them)"),
    engine: str = typer.Option("auto", "--engine", "-e", help="paddle | onnx | tesseract | auto (route by type)"),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per document per line"),
    threads: Optional[int] = typer.Option(None, "--threads", help="threads per engine (default: settings)"),
) -> None:
    """OCR documents: type and confidence, engine, text, fields and stage timings."""
    from rich.console import Console

    from ocrstream.errors import OcrInputError
    from ocr_agents.pipeline import DocumentProcessor
    from ocrstream.console import settings_of

    if engine not in ENGINE_CHOICES:
        raise typer.BadParameter(f"must be one of {', '.join(ENGINE_CHOICES)}", param_hint="--engine")
    settings = settings_of(ctx).ocr
    if threads is not None:
        settings = settings.model_copy(update={"threads": threads})
    processor = DocumentProcessor(settings)
    console = Console(stderr=False, highlight=False)
    failed = 0
    for path in _expand(paths):
        t0 = time.perf_counter()
        try:
            data = path.read_bytes()
            result = processor.process(
                data, media_type=mimetypes.guess_type(path.name)[0], filename=path.name, engine=engine
            )
        except (OcrInputError, OSError) as exc:
            failed += 1
            error_class = exc.error_class if isinstance(exc, OcrInputError) else type(exc).__name__
            reason = exc.reason if isinstance(exc, OcrInputError) else str(exc)
            if as_json:
                print(json.dumps({"path": str(path), "error_class": error_class, "reason": reason}), flush=True)
            else:
                console.print(f"[bold red]{path}[/]: {error_class}: {reason}")
            continue
        wall = time.perf_counter() - t0
        if as_json:
            print(json.dumps(result_json(path, result, wall), ensure_ascii=False), flush=True)
        else:
            _print_human(console, path, result, wall)
    if failed:
        raise typer.Exit(code=1)


def _print_human(console: Any, path: Path, result: Any, wall: float) -> None:
    from rich.panel import Panel
    from rich.table import Table

    t = result.timings
    head = (
        f"type [bold]{result.doc_type}[/] ({result.type_confidence:.2f})  engine [bold]{result.engine}[/]  "
        f"pages {len(result.pages)} ({', '.join(p.source for p in result.pages)})  "
        f"ocr score {result.ocr_score:.2f}  extraction score {result.score:.2f}"
    )
    fields = Table(show_header=False, box=None, padding=(0, 1))
    for key, value in result.values.items():
        conf = result.confidences[key]
        fields.add_row(key, "-" if value is None else str(value), "" if value is None else f"{conf:.2f}")
    timings = (
        f"classify {t.get('classify_s', 0.0) * 1000:.0f} ms  ocr {t.get('ocr_s', 0.0) * 1000:.0f} ms  "
        f"extract {t.get('extract_s', 0.0) * 1000:.0f} ms  total {wall * 1000:.0f} ms"
    )
    console.print(Panel.fit(head, title=str(path), title_align="left"))
    console.print(fields)
    if result.line_items:
        items = Table("description", "qty", "unit price", "amount", box=None)
        for item in result.line_items:
            items.add_row(*(str(getattr(item, k)) for k in ("description", "quantity", "unit_price", "amount")))
        console.print(items)
    if result.text:
        console.print(result.text, markup=False, highlight=False)
    else:
        console.print("[dim](no text)[/]")
    console.print(f"[dim]{timings}[/]")


def register(app: typer.Typer) -> None:
    """Add the ``ocr`` command to ``app``."""
    app.command("ocr")(ocr_command)


def main() -> None:  # pragma: no cover - convenience: python -m ocr_agents.cli
    app = typer.Typer(add_completion=False)
    register(app)

    @app.callback()
    def _root() -> None:
        """ocr_agents commands."""

    app(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    main()
