"""Field evidence (value, confidence, raw text, page, box) through the broker and the sink into ClickHouse."""

from __future__ import annotations

import cv2
import pytest


@pytest.mark.integration
def test_evidence_reaches_clickhouse(settings) -> None:
    """A real OCR result (generated receipt -> DocumentProcessor -> record) through the
    broker and the sink: the documents row holds the same evidence and page sizes as JSON."""
    import json

    from ocr_agents.pipeline import DocumentProcessor, to_record
    from ocrstream.clickhouse import connect
    from ocrstream.codec import make_serde
    from ocrstream.kafka import make_producer
    from ocrstream.settings import OcrSettings
    from ocrstream.topics import OCR_RESULTS, ensure_topics
    from synth.documents import render_document
    from streams.sink import AggregationSink
    from tests.support.streams import stream_settings

    image, truth = render_document("receipt", 21)
    ok, buf = cv2.imencode(".png", image)
    result = DocumentProcessor(OcrSettings(threads=2)).process(buf.tobytes())
    record = to_record(result, document_id="ev-1", business_id="acme", event_time_ms=1_700_000_000_000)
    assert set(record["field_evidence"]) >= {"total", "date"}

    s = stream_settings(settings)
    ensure_topics(s)
    producer = make_producer(s)
    producer.produce(s.topic(OCR_RESULTS.short_name), value=make_serde("OcrResult").encode(record), key=b"acme")
    assert producer.flush(30) == 0
    client = connect(s)
    AggregationSink(s, client=client).run(idle_exit_s=2.0, max_runtime_s=60)
    evidence, sizes, items = client.query(
        "SELECT field_evidence, page_sizes, line_items FROM documents FINAL WHERE document_id = 'ev-1'").result_rows[0]
    evidence, sizes, items = json.loads(evidence), json.loads(sizes), json.loads(items)
    assert sizes == [{"width": image.shape[1], "height": image.shape[0]}]
    assert evidence["total"]["value"] == pytest.approx(truth["fields"]["total"])
    assert evidence["total"]["raw_text"] == result.fields["total"].raw_text
    assert evidence["total"]["box"] == pytest.approx(list(result.fields["total"].box), abs=1e-3)
    assert evidence["date"] == {**record["field_evidence"]["date"], "confidence": pytest.approx(
        record["field_evidence"]["date"]["confidence"], abs=1e-6), "box": pytest.approx(
        record["field_evidence"]["date"]["box"], abs=1e-3)}
    assert items and all(it["raw_text"] and len(it["box"]) == 4 for it in items)

