"""The per-document pipeline end to end (real engines, real classifier and extractor).

Reads about eight pages; engines are loaded once per session.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import cv2
import fastavro
import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from ocr_agents.cli import register
from ocr_agents.errors import UnknownEngine
from ocr_agents.pipeline import DocumentProcessor, to_record
from ocr_agents.preprocess import rotate_quadrant
from ocrstream.errors import CorruptImage, ImageTooLarge
from ocrstream.paths import REPO_ROOT
from ocrstream.settings import OcrSettings
from synth.accuracy import cer
from synth.documents import render_document
from synth.pdf import PdfPageSpec, write_pdf

SCHEMA = fastavro.parse_schema(json.loads((REPO_ROOT / "schemas" / "OcrResult.avsc").read_text()))


@pytest.fixture(scope="session")
def processor() -> DocumentProcessor:
    return DocumentProcessor(OcrSettings(default_engine="onnx", threads=2))


@pytest.fixture(scope="session")
def receipt() -> tuple[np.ndarray, dict]:
    return render_document("receipt", 21)


def encode(image: np.ndarray, ext: str = ".png") -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


def test_receipt_image_end_to_end(processor, receipt):
    image, truth = receipt
    result = processor.process(encode(image), filename="receipt.png")
    assert result.engine == "onnx"
    assert len(result.pages) == 1 and result.pages[0].source == "ocr"
    assert cer(truth["text"], result.text) < 0.04
    assert result.value("total") == pytest.approx(truth["fields"]["total"])
    assert result.value("date") == truth["fields"]["date"]
    assert 0.5 < result.ocr_score <= 1.0
    assert set(result.timings) == {"classify_s", "ocr_s", "extract_s"}
    assert all(line.page == 0 for line in result.lines)


def test_three_page_pdf_gives_three_page_results(processor, receipt):
    image, truth = receipt
    scan = encode(image, ".jpg")
    h, w = image.shape[:2]
    blank = encode(np.full((h, w, 3), 250, np.uint8), ".jpg")
    pdf = write_pdf(
        [
            PdfPageSpec(width_pt=w * 72 / 150, height_pt=h * 72 / 150, jpeg=scan, jpeg_size=(w, h)),
            PdfPageSpec(lines=[(72, 72, 14, "Terms and conditions"), (72, 100, 14, "Payment due in 30 days")]),
            PdfPageSpec(width_pt=w * 72 / 150, height_pt=h * 72 / 150, jpeg=blank, jpeg_size=(w, h)),
        ]
    )
    result = processor.process(pdf, media_type="application/pdf")
    assert [p.page for p in result.pages] == [0, 1, 2]
    assert [p.source for p in result.pages] == ["ocr", "text_layer", "blank"]
    assert cer(truth["text"], result.pages[0].text) < 0.05
    assert result.pages[1].text == "Terms and conditions\nPayment due in 30 days"
    assert result.pages[2].text == "" and result.pages[2].lines == []
    assert result.doc_type == "receipt" or result.type_confidence < 0.6
    assert {line.page for line in result.lines} == {0, 1}
    assert "Payment due in 30 days" in result.text
    assert result.value("total") == pytest.approx(truth["fields"]["total"])


def test_rotated_page_is_turned_upright(processor, receipt):
    image, truth = receipt
    upright = processor.process(encode(image))
    rotated = rotate_quadrant(image, 90)
    result = processor.process(encode(rotated))
    page = result.pages[0]
    assert page.rotation == 270  # the content was turned 90 clockwise; 270 more makes it upright
    assert (page.width, page.height) == (rotated.shape[1], rotated.shape[0])  # boxes are in the file's pixels
    assert cer(truth["text"], result.text) < 0.05
    # the total's box, read upright, lands where the total is printed in the rotated file:
    # turning 90 degrees clockwise maps (x, y) -> (h - y, x)
    h = image.shape[0]
    x0, y0, x1, y1 = upright.fields["total"].box
    want = (h - y1, x0, h - y0, x1)
    got = result.fields["total"].box
    assert result.value("total") == upright.value("total")
    assert max(abs(a - b) for a, b in zip(got, want)) < 6, (got, want)
    crop = rotated[int(got[1]):int(got[3]), int(got[0]):int(got[2])]
    assert crop.size and crop.min() < 100  # ink under the box


def test_explicit_engine_wins_over_routing(processor, receipt):
    image, truth = receipt
    result = processor.process(encode(image), engine="tesseract")
    assert result.engine == "tesseract"
    assert cer(truth["text"], result.text) < 0.08
    with pytest.raises(UnknownEngine):
        processor.process(encode(image), engine="nope")


def test_video_frame(processor, receipt):
    image, truth = receipt
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    result = processor.process_image(bgra)
    assert cer(truth["text"], result.text) < 0.04
    with pytest.raises(CorruptImage):
        processor.process_image(np.zeros((10, 10), np.float32))
    with pytest.raises(ImageTooLarge):
        DocumentProcessor(OcrSettings(max_pixels=100)).process_image(image)


def test_routing_rules():
    proc = DocumentProcessor(
        OcrSettings(default_engine="onnx", routing={"receipt": "tesseract", "blank": "none"}, route_min_confidence=0.6)
    )
    assert proc.resolve_engine(None, "receipt", 0.9) == "tesseract"
    assert proc.resolve_engine("auto", "receipt", 0.59) == "onnx"  # unsure: default
    assert proc.resolve_engine(None, "photo", 0.99) == "onnx"  # unrouted type: default
    assert proc.resolve_engine(None, "blank", 0.7) == "none"
    assert proc.resolve_engine("paddle", "blank", 0.99) == "paddle"  # explicit wins
    with pytest.raises(UnknownEngine):
        DocumentProcessor(OcrSettings(default_engine="nope"))


def test_record_matches_avro_schema(processor, receipt):
    image, _ = receipt
    result = processor.process(encode(image))
    record = to_record(
        result, document_id="d1", business_id="b1", uri="s3://bucket/d1.png", source="upload",
        event_time_ms=1_700_000_000_000, fetch_s=0.01,
    )
    assert set(record) == {f["name"] for f in SCHEMA["fields"]}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, SCHEMA, record)
    buf.seek(0)
    back = fastavro.schemaless_reader(buf, SCHEMA)
    assert back["fields"]["total"] == pytest.approx(result.value("total"))
    assert back["pages"] == 1 and back["timings"]["fetch_s"] == pytest.approx(0.01)
    assert len(back["lines"]) == len(result.lines)
    ev = back["field_evidence"]["total"]
    assert ev["value"] == pytest.approx(result.value("total")) and ev["raw_text"] == result.fields["total"].raw_text
    assert ev["box"] == pytest.approx(list(result.fields["total"].box)) and ev["page"] == 0
    assert back["field_evidence"]["date"]["value"] == result.value("date")  # the string branch of the union
    assert back["page_sizes"] == [{"width": image.shape[1], "height": image.shape[0]}]


def test_cli_json_and_errors(tmp_path: Path, receipt):
    image, truth = receipt
    good = tmp_path / "receipt.png"
    good.write_bytes(encode(image))
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        """test app"""

    res = CliRunner().invoke(app, ["ocr", str(good), str(empty), "--engine", "onnx", "--json"])
    assert res.exit_code == 1, res.output
    rows = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    assert len(rows) == 2
    ok, bad = rows
    assert ok["engine"] == "onnx" and ok["pages"] == 1 and ok["type"] in {"receipt", "invoice", "form", "report", "photo"}
    assert ok["fields"]["total"]["value"] == pytest.approx(truth["fields"]["total"])
    assert ok["fields"]["date"]["value"] == truth["fields"]["date"]
    assert set(ok["fields"]) == {"vendor", "date", "currency", "subtotal", "tax", "total"}
    total = ok["fields"]["total"]
    assert set(total) == {"value", "confidence", "raw_text", "page", "box"}
    assert 0 < total["confidence"] <= 1 and total["page"] == 0
    assert f"{truth['fields']['total']:.2f}" in total["raw_text"].replace(",", ".")
    x0, y0, x1, y1 = total["box"]
    assert 0 <= x0 < x1 <= ok["page_sizes"][0]["width"] and 0 <= y0 < y1 <= ok["page_sizes"][0]["height"]
    assert ok["page_sizes"] == [{"width": image.shape[1], "height": image.shape[0]}]
    assert ok["line_items"] and all({"raw_text", "page", "box"} <= set(i) for i in ok["line_items"])
    assert cer(truth["text"], ok["text"]) < 0.04
    assert set(ok["timings"]) >= {"classify_s", "ocr_s", "extract_s"}
    assert bad["error_class"] == "EmptyInput" and bad["path"].endswith("empty.jpg")

    human = CliRunner().invoke(app, ["ocr", str(good), "--engine", "onnx"])
    assert human.exit_code == 0, human.output
    assert "total" in human.stdout and f"{truth['fields']['total']}" in human.stdout


def test_none_route_is_taken_only_for_pages_without_ink(receipt):
    image, truth = receipt
    every_type = {t: "none" for t in ("receipt", "invoice", "form", "report", "photo", "blank")}
    proc = DocumentProcessor(OcrSettings(default_engine="onnx", routing=every_type, route_min_confidence=0.0))
    result = proc.process(encode(image))  # has ink: read with the default engine after all
    assert result.engine == "onnx" and cer(truth["text"], result.text) < 0.04
    blank = proc.process(encode(np.full((900, 600, 3), 250, np.uint8)))
    assert blank.engine == "none" and blank.doc_type == "blank" and blank.pages[0].source == "blank"
