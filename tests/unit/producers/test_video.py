"""Video producer without a broker: stable-page detection, de-duplication, bounded buffers, bad sources."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ocrstream.settings import Settings
from producers.errors import SourceUnavailable
from producers.video import FrameSource, VideoProducer
from synth.video import page_texts, text_page, write_page_video
from tests.support.cli import assert_one_line_error


def test_repeated_page_is_skipped(tmp_path: Path) -> None:
    """Detection only (no broker): A, A again after a transition, then B → 2 pages, 1 duplicate."""
    texts = page_texts(2, seed=9)
    a, b = text_page(texts[0]), text_page(texts[1])
    video = tmp_path / "dup.mp4"
    write_page_video(video, [a, a, b], hold_frames=30, transition_frames=6, shake_px=2.0, seed=9)
    producer = VideoProducer(Settings(), "cam-dup", "acme", publish=False)
    stats = producer.run_file(video)
    assert (stats.pages, stats.duplicates, stats.dropped) == (2, 1, 0), stats.line()
    assert stats.frames_in == 30 * 3 + 6 * 2


def test_live_source_drops_oldest_frames_when_pipeline_is_slow(tmp_path: Path) -> None:
    """A camera-like source (file replayed at its fps) with a slow consumer: bounded queue, drops counted."""
    video = tmp_path / "live.mp4"
    write_page_video(video, [text_page(["LIVE"])], hold_frames=45, transition_frames=0, fps=30, seed=1)
    src = FrameSource(str(video), realtime=True, queue_frames=4)
    seen = []
    try:
        for frame in src.frames():
            seen.append(frame.number)
            time.sleep(0.1)  # pipeline 3x slower than the camera
    finally:
        src.close()
    assert src.frames_in == 45
    assert src.dropped > 0
    assert len(seen) + src.dropped == src.frames_in  # every frame either processed or counted as dropped
    assert seen == sorted(seen) and seen[-1] == 44  # the freshest frame is kept


def test_unopenable_sources(tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable, match="cannot open camera 9"):
        FrameSource("9")
    with pytest.raises(SourceUnavailable, match="no such video file"):
        FrameSource(str(tmp_path / "nope.mp4"))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(SourceUnavailable):
        src = FrameSource(str(junk))
        list(src.frames())
    from ocrstream.cli import app

    result = CliRunner().invoke(app, ["video", "9", "--stream-id", "s", "--business", "b", "--dry-run"])
    assert_one_line_error(result, "cannot open camera 9", "ls /dev/video*")


def test_a_restarted_stream_gets_new_document_ids_and_a_replay_keeps_its_own() -> None:
    """Frame numbers restart at 0 when a camera stream restarts under the same id: its new pages
    must not be taken for replays of the old ones (the sink drops replays), while the same page
    bytes again (a replayed record, the same file published twice) keep their id."""
    from ocrstream.records import frame_document_id
    from producers.video import VideoStats

    texts = page_texts(2, seed=4)
    stats = VideoStats()
    first_run = VideoProducer(Settings(), "cam-desk", "acme", publish=False)
    yesterday = first_run.record_for(text_page(texts[0]), 12, 1_000, 0, stats)
    replayed = first_run.record_for(text_page(texts[0]), 12, 1_000, 0, stats)
    restarted = VideoProducer(Settings(), "cam-desk", "acme", publish=False)
    today = restarted.record_for(text_page(texts[1]), 12, 90_000_000, 0, stats)
    assert frame_document_id(yesterday) == frame_document_id(replayed)
    assert frame_document_id(today) != frame_document_id(yesterday)
    assert frame_document_id(today).startswith("cam-desk:12:")
