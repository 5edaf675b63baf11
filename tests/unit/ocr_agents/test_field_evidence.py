"""Field evidence: where each field was read, in page pixels, through record, codec and ClickHouse row."""

from __future__ import annotations

import copy

import cv2
import numpy as np
import pytest

from ocr_agents.preprocess import rotate_quadrant, rotate_small
from ocr_agents.types import PageTransform
from ocrstream.codec import AvroCodec, Schema, SchemaStore, load_schema

NEW_FIELDS = {"field_evidence", "page_sizes"}
NEW_ITEM_FIELDS = {"raw_text", "page", "box"}


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
@pytest.mark.parametrize("scale,skew", [(1.0, 0.0), (0.5, 0.0), (1.6, 2.5), (0.75, -4.0)])
def test_page_transform_maps_boxes_back_to_source_pixels(rotation: int, scale: float, skew: float) -> None:
    """Apply the preprocessing chain (scale -> quadrant turn -> deskew) to a page with one
    marker, find the marker in the upright image and map its box back: it must land on
    the marker in the source page."""
    src = np.full((700, 500, 3), 255, np.uint8)
    x0, y0, x1, y1 = 310, 120, 430, 160
    src[y0:y1, x0:x1] = 0
    img = cv2.resize(src, (round(500 * scale), round(700 * scale)), interpolation=cv2.INTER_AREA)
    img = rotate_quadrant(img, rotation)
    img = rotate_small(img, skew)
    ys, xs = np.nonzero(img[:, :, 0] < 128)
    upright_box = (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
    t = PageTransform((500, 700), (img.shape[1], img.shape[0]), scale, rotation, skew)
    got = t.to_source(upright_box)
    # the axis-aligned box of a rotated marker is a little larger than the marker
    slack = 3 / min(scale, 1.0) + abs(np.sin(np.radians(skew))) * 130
    assert got[0] <= x0 + 3 and got[1] <= y0 + 3 and got[2] >= x1 - 3 and got[3] >= y1 - 3, got
    assert got[0] >= x0 - slack and got[1] >= y0 - slack and got[2] <= x1 + slack and got[3] <= y1 + slack, got


def _old_ocr_result_schema() -> Schema:
    """OcrResult as it was before field evidence (the new fields removed)."""
    raw = copy.deepcopy(load_schema("OcrResult").raw)
    raw["fields"] = [f for f in raw["fields"] if f["name"] not in NEW_FIELDS]
    for f in raw["fields"]:
        if f["name"] == "line_items":
            f["type"]["items"]["fields"] = [x for x in f["type"]["items"]["fields"] if x["name"] not in NEW_ITEM_FIELDS]
    return Schema.from_dict(raw)


OLD_RECORD = {
    "document_id": "d", "business_id": "b", "uri": "", "source": "upload", "event_time": 1, "processed_at": 2,
    "doc_type": "receipt", "type_confidence": 0.75, "engine": "onnx", "text": "TOTAL 12.50", "pages": 1,
    "lines": [{"text": "TOTAL 12.50", "confidence": 0.75, "box": [1.0, 2.0, 3.0, 4.0], "page": 0}],
    "fields": {"vendor": None, "date": None, "currency": None, "subtotal": None, "tax": None, "total": 12.5,
               "confidences": {"total": 0.5}},
    "line_items": [{"description": "tea", "quantity": 1.0, "unit_price": 12.5, "amount": 12.5, "confidence": 0.5}],
    "score": 0.5, "ocr_score": 0.75,
    "timings": {"fetch_s": 0.0, "classify_s": 0.0, "ocr_s": 0.1, "extract_s": 0.0},
}


def test_old_records_read_with_empty_evidence_and_new_records_read_by_old_readers() -> None:
    store = SchemaStore()
    old, new = AvroCodec(_old_ocr_result_schema(), store), AvroCodec(load_schema("OcrResult"), store)
    back = new.decode(old.encode(OLD_RECORD))
    assert back["field_evidence"] == {} and back["page_sizes"] == []
    assert back["line_items"][0] | {} == OLD_RECORD["line_items"][0] | {"raw_text": "", "page": 0, "box": []}
    rec = {**back, "field_evidence": {
        "total": {"value": 12.5, "confidence": 0.5, "raw_text": "TOTAL 12.50", "page": 0, "box": [1.0, 2.0, 3.0, 4.0]},
        "vendor": {"value": "Shop", "confidence": 0.375, "raw_text": "Shop", "page": 0, "box": []},
        "tax": {"value": 1.0, "confidence": 0.25, "raw_text": "", "page": -1, "box": []}},
        "page_sizes": [{"width": 500, "height": 700}]}
    assert new.decode(new.encode(rec)) == rec
    assert old.decode(new.encode(rec)) == OLD_RECORD


def test_large_page_is_scaled_down_for_ocr_and_boxes_stay_in_its_pixels() -> None:
    """A page larger than max_ocr_long_side is read at that size; its boxes come back in
    the page's own pixels (the total's box covers the printed total of the big page)."""
    from ocr_agents.pipeline import DocumentProcessor
    from ocrstream.settings import OcrSettings
    from synth.documents import render_document

    image, truth = render_document("receipt", 21)
    big = cv2.resize(image, None, fx=2.0, fy=2.0, interpolation=cv2.INTER_CUBIC)
    ok, buf = cv2.imencode(".png", big)
    proc = DocumentProcessor(OcrSettings(threads=2, max_ocr_long_side=max(image.shape[:2])))
    result = proc.process(buf.tobytes())
    assert result.value("total") == pytest.approx(truth["fields"]["total"])
    page = result.pages[0]
    assert (page.width, page.height) == (big.shape[1], big.shape[0]) and page.transform.scale == pytest.approx(0.5, abs=0.01)
    x0, y0, x1, y1 = result.fields["total"].box
    assert x1 > big.shape[1] * 0.5 and y1 > big.shape[0] * 0.5  # in the big page's frame, not the half-size one
    assert big[int(y0):int(y1), int(x0):int(x1)].min() < 100


def test_document_pixel_budget() -> None:
    from ocrstream.errors import ImageTooLarge
    from ocr_agents.pipeline import DocumentProcessor
    from ocrstream.settings import OcrSettings

    ok, buf = cv2.imencode(".png", np.full((400, 300, 3), 255, np.uint8))
    with pytest.raises(ImageTooLarge, match="budget"):
        DocumentProcessor(OcrSettings(max_document_pixels=100_000)).process(buf.tobytes())
