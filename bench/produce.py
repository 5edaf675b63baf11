"""Producer benchmarks on an ephemeral local stack (Tansu in memory + SeaweedFS).

1. **Load generator, events mode**: ``publish_events(generate_events(...))`` —
   planning, Avro encoding (template fast path) and producing, until every
   delivery report is in — against a baseline in the same run: raw
   confluent-kafka ``produce`` of the *same pre-encoded bytes* with the same
   producer configuration (so the ratio is what generation + encoding cost).
2. **Video producer** on a 720p file of text pages: frames read per second
   (decode + motion/stability analysis + publishing the pages) against a
   baseline of OpenCV decoding the same file and doing nothing else.

Prints a table and ends with one line::

    RESULT events_per_s=X video_fps_in=Y

Targets: >= 50,000 events/s; >= 30 frames/s in. Usage::

    .venv/bin/python bench/produce.py [--events 300000] [--video-seconds 20]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2  # noqa: E402

from ocrstream.stack import LocalStack  # noqa: E402
from ocrstream.topics import OCR_RESULTS, TopicSpec, ensure_topics  # noqa: E402
from ocrstream.kafka import flush, produce_all  # noqa: E402
from producers.events import generator_producer_config, publish_events  # noqa: E402
from synth.events import generate_events  # noqa: E402
from producers.kafka_io import connect  # noqa: E402
from synth.video import page_texts, text_page, write_page_video  # noqa: E402
from producers.video import VideoProducer  # noqa: E402
from tests.support.backends import local_settings  # noqa: E402

START_MS = 1_714_521_600_000


def bench_events(settings, n: int, businesses: int = 10) -> tuple[float, float]:
    """(generator events/s, raw pre-encoded produce events/s)."""
    rate = 1.0
    kw = dict(rate=rate, duration_s=n / rate, start_ms=START_MS, seed=1)
    # baseline: the same bytes, pre-encoded outside the timed region
    pairs = list(generate_events(businesses, **kw).encoded())
    base_spec = TopicSpec("bench-raw", "OcrResult", key="business_id")
    ensure_topics(settings, (base_spec,))
    producer, topic = connect(settings, base_spec, **generator_producer_config(settings))
    errors = []
    cb = lambda err, msg: errors.append(err) if err else None  # noqa: E731
    t0 = time.perf_counter()
    produce_all(producer, topic, pairs, cb)
    left = flush(producer, 120)
    raw = len(pairs) / (time.perf_counter() - t0)
    assert not errors and not left, (errors[:3], left)
    del pairs
    stats = publish_events(settings, generate_events(businesses, **kw), spec=OCR_RESULTS)
    assert stats.delivered == n and not stats.failed, stats
    return stats.rate, raw


def bench_video(settings, tmp: Path, seconds: float) -> tuple[float, float, int]:
    """(producer frames/s in, decode-only frames/s, pages published) on a 720p file."""
    video = tmp / "pages-720p.mp4"
    k = max(2, int(seconds / 2))
    hold = int(30 * seconds / k) - 6
    write_page_video(video, [text_page(t) for t in page_texts(k, seed=3)], size=(1280, 720), fps=30,
                     hold_frames=hold, transition_frames=6, shake_px=2.0, seed=3)
    cap = cv2.VideoCapture(str(video))
    n = 0
    t0 = time.perf_counter()
    while True:
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    decode_fps = n / (time.perf_counter() - t0)
    cap.release()
    producer = VideoProducer(settings, "bench-cam", "bench")
    producer.open()
    stats = producer.run_file(video)
    assert stats.pages == k and not stats.failed, stats.line()
    return stats.fps_in, decode_fps, stats.pages


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--video-seconds", type=float, default=20.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-produce-") as d:
        tmp = Path(d)
        settings = local_settings(tmp / "state", **{"kafka.topic_prefix": "bench."})
        stack = LocalStack(settings)
        print(f"starting ephemeral stack (kafka {settings.kafka.bootstrap}, s3 {settings.s3.endpoint}) ...",
              flush=True)
        stack.up(ephemeral=True)
        try:
            ensure_topics(settings)
            ev, raw = bench_events(settings, args.events)
            print(f"events  generator (plan+encode+produce+acks): {ev:>10,.0f} events/s")
            print(f"events  baseline raw produce of same bytes:   {raw:>10,.0f} events/s  "
                  f"(generator/baseline = {ev / raw:.2f})")
            fps, decode, pages = bench_video(settings, tmp, args.video_seconds)
            print(f"video   producer 720p (decode+detect+publish):{fps:>10,.1f} frames/s  ({pages} pages)")
            print(f"video   baseline decode only:                 {decode:>10,.1f} frames/s  "
                  f"(producer/baseline = {fps / decode:.2f})")
        finally:
            stack.down()
    print(f"RESULT events_per_s={ev:.0f} video_fps_in={fps:.1f}")


if __name__ == "__main__":
    main()
