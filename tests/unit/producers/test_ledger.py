"""Media sniffing and the publish ledger (torn lines after a crash are ignored)."""

from __future__ import annotations

from pathlib import Path

from producers.ledger import PublishLedger
from producers.media import sniff_media_type


def test_media_sniffing_and_ledger(tmp_path: Path) -> None:
    assert sniff_media_type(b"\x89PNG\r\n\x1a\n....") == "image/png"
    assert sniff_media_type(b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert sniff_media_type(b"%PDF-1.7\n") == "application/pdf"
    assert sniff_media_type(b"II*\x00") == "image/tiff"
    assert sniff_media_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_media_type(b"hello") is None
    ledger = PublishLedger(tmp_path / "l.tsv")
    ledger.record("a" * 64, "s3://b/k", tmp_path / "f.png", 10, 123)
    ledger.close()
    with open(tmp_path / "l.tsv", "a") as fh:
        fh.write("torn-li")  # a crash mid-line is ignored
    again = PublishLedger(tmp_path / "l.tsv")
    assert "a" * 64 in again and len(again) == 1
    assert again.knows_file(tmp_path / "f.png", 10, 123) and not again.knows_file(tmp_path / "f.png", 11, 123)
