"""Video producer into the real broker: one frame per page, OCR text, object-store references.

Detection, de-duplication, bounded buffers and bad sources without a broker: tests/unit/producers/test_video.py.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from ocrstream.codec import make_serde
from ocrstream.settings import Settings
from ocrstream.topics import VIDEO_FRAMES, ensure_topics
from synth.video import page_texts, text_page, write_page_video
from producers.video import VideoProducer
from tests.support.streams import read_topic

K = 4
HOLD, TRANSITION, LEAD_IN = 40, 6, 10


def _page_video(path: Path, k: int = K, seed: int = 7) -> list[list[str]]:
    texts = page_texts(k, seed=seed)
    write_page_video(path, [text_page(t) for t in texts], hold_frames=HOLD, transition_frames=TRANSITION,
                     shake_px=2.0, lead_in_frames=LEAD_IN, seed=seed)
    return texts


def _hold_range(i: int) -> range:
    start = LEAD_IN + i * (HOLD + TRANSITION)
    return range(start, start + HOLD)


def _published_frames(settings: Settings, expected: int) -> list[dict]:
    serde = make_serde("VideoFrame")
    msgs = read_topic(settings, VIDEO_FRAMES.short_name, expected + 1, idle_s=2.0)
    return sorted((serde.decode(m.value()) for m in msgs), key=lambda r: r["frame_number"])


@pytest.mark.integration
def test_video_publishes_one_frame_per_page(settings: Settings, tmp_path: Path) -> None:
    ensure_topics(settings)
    video = tmp_path / "pages.mp4"
    _page_video(video)
    from ocrstream.cli import app

    result = CliRunner().invoke(app, ["video", str(video), "--stream-id", "cam-1", "--business", "acme"],
                                env=settings.as_env())
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"pages out {K}, duplicates 0, empty 1, dropped 0, failed 0" in out, out

    frames = _published_frames(settings, K)
    assert len(frames) == K
    for i, rec in enumerate(frames):
        assert rec["frame_number"] in _hold_range(i), (i, rec["frame_number"])
        assert rec["stream_id"] == "cam-1" and rec["business_id"] == "acme"
        jpeg = rec["image_jpeg"]
        assert jpeg and rec["image_uri"] is None
        assert hashlib.sha256(jpeg).hexdigest() == rec["sha256"]
        img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        assert img.shape == (720, 1280, 3) and (rec["width"], rec["height"]) == (1280, 720)
        assert re.fullmatch(r"[0-9a-f]{16}", rec["phash"]) and rec["sharpness"] > 100
    times = [r["event_time"] for r in frames]
    assert times == sorted(times)


@pytest.mark.integration
def test_video_pages_ocr_text_matches(settings: Settings, tmp_path: Path) -> None:
    from ocr_agents.pipeline import DocumentProcessor

    ensure_topics(settings)
    video = tmp_path / "pages.mp4"
    texts = _page_video(video, k=3, seed=8)
    producer = VideoProducer(settings, "cam-ocr", "acme")
    producer.open()
    stats = producer.run_file(video)
    assert stats.pages == 3
    processor = DocumentProcessor()
    for rec, lines in zip(_published_frames(settings, 3), texts):
        img = cv2.imdecode(np.frombuffer(rec["image_jpeg"], np.uint8), cv2.IMREAD_COLOR)
        got = " ".join(processor.process_image(img, engine="onnx").text.split()).lower()
        want = " ".join(" ".join(lines).split()).lower()
        ratio = difflib.SequenceMatcher(None, got, want).ratio()
        assert ratio > 0.85, (got, want, ratio)


@pytest.mark.integration
def test_large_frames_travel_as_object_store_references(settings: Settings, tmp_path: Path) -> None:
    from ocrstream.objectstore import ObjectStore

    s = settings.with_overrides(**{"producer.video_inline_max_bytes": 10_000})
    ensure_topics(s)
    video = tmp_path / "big.mp4"
    write_page_video(video, [text_page(t) for t in page_texts(2, seed=10)], hold_frames=20, seed=10)
    producer = VideoProducer(s, "cam-big", "acme")
    producer.open()
    stats = producer.run_file(video)
    assert stats.pages == 2 and stats.uploaded == 2
    store = ObjectStore(s)
    for rec in _published_frames(s, 2):
        assert rec["image_jpeg"] is None and rec["image_uri"].startswith(f"s3://{s.s3.documents_bucket}/sha256/")
        bucket, key = rec["image_uri"][5:].split("/", 1)
        assert hashlib.sha256(store.get(bucket, key)).hexdigest() == rec["sha256"]
