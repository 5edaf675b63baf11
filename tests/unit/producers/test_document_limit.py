"""One document size limit for the producers and the worker."""

from __future__ import annotations

from pathlib import Path

from ocrstream.settings import Settings


def test_the_producer_refuses_what_the_worker_would_dead_letter(tmp_path: Path) -> None:
    """One document size limit (ocr.max_object_bytes): the publisher refuses above it, the worker's
    fetcher and decoder use the same number."""
    from ocr_agents.pipeline import DocumentProcessor
    from producers.publish import Candidate, DocumentPublisher
    from streams.fetch import Fetcher

    s = Settings().with_overrides(**{"ocr.max_object_bytes": 1000})
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1200
    big = tmp_path / "big.png"
    big.write_bytes(png)
    prep = DocumentPublisher(s, "acme")._prepare(Candidate(name=str(big), path=big, size=len(png)))
    assert prep.error == "too large (1208 bytes > 1000)"
    assert Fetcher.from_settings(s).max_bytes == 1000
    assert DocumentProcessor(s.ocr).limits.max_object_bytes == 1000
