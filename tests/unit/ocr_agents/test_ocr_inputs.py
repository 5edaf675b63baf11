"""Input handling: every bad input gives its typed, one-line error; good inputs decode.

No OCR engine runs here (fast): only ``ocr_agents.io``, preprocessing helpers and
the pipeline's validation/blank path.
"""

from __future__ import annotations

import io
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from ocr_agents.io import Limits, is_usable_text, open_document, sniff_media_type
from ocr_agents.pipeline import DocumentProcessor
from ocrstream import errors
from ocrstream.settings import OcrSettings
from synth.pdf import PdfPageSpec, write_pdf
from tests.support.media import jpeg_bytes, jpeg_with_size, png_bytes






def text_image(text: str = "TOTAL 12.50", size: tuple[int, int] = (400, 200)) -> Image.Image:
    from PIL import ImageDraw, ImageFont

    img = Image.new("RGB", size, "white")
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 28)
    ImageDraw.Draw(img).text((20, 20), text, font=font, fill="black")
    return img


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims ``width x height`` followed by a tiny (wrong) IDAT."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")




def expect(exc_type: type[errors.OcrInputError], data: bytes, **kw) -> errors.OcrInputError:
    with pytest.raises(exc_type) as info:
        with open_document(data, **kw) as doc:
            list(doc.pages())
    err = info.value
    assert isinstance(err, errors.OcrInputError)
    assert err.reason and "\n" not in err.reason
    assert err.error_class == exc_type.__name__
    return err


# --------------------------------------------------------------------------- bad input


def test_zero_bytes_is_empty_input():
    expect(errors.EmptyInput, b"")
    expect(errors.EmptyInput, b"  \n ")


def test_object_over_the_byte_limit():
    expect(errors.ObjectTooLarge, png_bytes(text_image()), limits=Limits(max_object_bytes=100))


def test_non_image_bytes_with_an_image_name():
    err = expect(errors.UnsupportedMedia, b"hello, this is plain text\n" * 10, filename="scan.png", media_type="image/png")
    assert "scan.png" in err.reason


def test_truncated_png():
    data = png_bytes(text_image())
    expect(errors.CorruptImage, data[: len(data) // 2])


def test_truncated_jpeg():
    data = jpeg_bytes(text_image())
    expect(errors.CorruptImage, data[: len(data) // 2])


def test_png_with_broken_header():
    data = bytearray(png_bytes(text_image()))
    data[20:28] = b"\xff" * 8  # IHDR fields and its CRC
    expect(errors.CorruptImage, bytes(data))


def test_decompression_bomb_png_rejected_from_header():
    data = png_header_only(30000, 30000)
    t0 = time.perf_counter()
    err = expect(errors.ImageTooLarge, data)
    assert time.perf_counter() - t0 < 1.0  # nothing was decoded
    assert "900000000 pixels" in err.reason


def test_decompression_bomb_jpeg_rejected_from_header():
    expect(errors.ImageTooLarge, jpeg_with_size(30000, 30000))


def test_image_over_configured_pixel_limit():
    expect(errors.ImageTooLarge, png_bytes(text_image()), limits=Limits(max_pixels=1000))


def test_encrypted_pdf():
    expect(errors.EncryptedPdf, write_pdf([PdfPageSpec(lines=[(72, 72, 12, "secret")])], password_protected=True))


def test_broken_pdf():
    pdf = write_pdf([PdfPageSpec(lines=[(72, 72, 12, "TOTAL 1.00")])])
    expect(errors.CorruptPdf, pdf[:200])
    expect(errors.CorruptPdf, b"%PDF-1.7\n this is not a pdf body at all")


def test_pdf_over_page_limit():
    pdf = write_pdf([PdfPageSpec(lines=[(72, 72, 12, f"page {i}")]) for i in range(3)])
    expect(errors.TooManyPages, pdf, limits=Limits(max_pages=2))


def test_error_class_names_are_stable():
    # The dead-letter topic keys on these names: renaming one is a breaking change.
    names = {cls.__name__ for cls in errors.OcrInputError.__subclasses__()}
    assert names >= {
        "EmptyInput",
        "ObjectTooLarge",
        "UnsupportedMedia",
        "CorruptImage",
        "ImageTooLarge",
        "TooManyPages",
        "EncryptedPdf",
        "CorruptPdf",
    }
    assert errors.CorruptPdf("x\ny").reason == "x y"


def test_processor_raises_typed_errors_before_any_model_runs():
    proc = DocumentProcessor(OcrSettings())
    for data, exc in [
        (b"", errors.EmptyInput),
        (b"GIF89a" + b"\x00" * 5, errors.CorruptImage),
        (png_header_only(30000, 30000), errors.ImageTooLarge),
        (b"not an image", errors.UnsupportedMedia),
    ]:
        with pytest.raises(exc):
            proc.process(data, filename="x.png")


def test_blank_page_gives_empty_blank_result():
    blank = np.full((1400, 1000, 3), 247, np.uint8)
    blank += np.random.default_rng(0).integers(0, 6, blank.shape, dtype=np.uint8)  # paper grain
    result = DocumentProcessor(OcrSettings()).process(png_bytes(Image.fromarray(blank)))
    assert result.doc_type == "blank"
    assert result.text == "" and result.lines == []
    assert [p.source for p in result.pages] == ["blank"]
    assert result.fields == {} and result.value("total") is None and result.value("date") is None


# --------------------------------------------------------------------------- good input


def test_sniffing_uses_bytes_not_names():
    assert sniff_media_type(png_bytes(text_image())) == "image/png"
    assert sniff_media_type(jpeg_bytes(text_image())) == "image/jpeg"
    assert sniff_media_type(write_pdf([PdfPageSpec()])) == "application/pdf"
    assert sniff_media_type(b"plain text") is None


def test_exif_orientation_is_applied():
    img = text_image(size=(400, 200))  # landscape pixels ...
    exif = Image.Exif()
    exif[0x0112] = 6  # ... shown rotated 90 degrees clockwise
    with open_document(jpeg_bytes(img, exif=exif.tobytes())) as doc:
        (page,) = list(doc.pages())
    assert page.image.shape[:2] == (400, 200)


def test_rgba_and_grey_images_become_bgr():
    rgba = Image.new("RGBA", (50, 40), (0, 0, 0, 0))  # fully transparent -> white
    with open_document(png_bytes(rgba)) as doc:
        (page,) = list(doc.pages())
    assert page.image.shape == (40, 50, 3) and page.image.min() == 255
    with open_document(png_bytes(Image.new("L", (30, 20), 0))) as doc:
        (page,) = list(doc.pages())
    assert page.image.shape == (20, 30, 3)


def test_multipage_tiff_gives_each_page():
    pages = [text_image(f"page {i}") for i in range(3)]
    buf = io.BytesIO()
    pages[0].save(buf, "TIFF", save_all=True, append_images=pages[1:])
    with open_document(buf.getvalue()) as doc:
        assert doc.page_count == 3
        assert [p.index for p in doc.pages()] == [0, 1, 2]


def test_pdf_text_layer_is_used_and_empty_layer_is_rendered_for_ocr():
    scan = text_image("scanned page")
    pdf = write_pdf(
        [
            PdfPageSpec(lines=[(72, 72, 14, "Corner Cafe"), (72, 100, 14, "TOTAL 12.50")]),
            PdfPageSpec(jpeg=jpeg_bytes(scan), jpeg_size=scan.size),
        ]
    )
    with open_document(pdf, limits=Limits(pdf_dpi=100)) as doc:
        first, second = list(doc.pages())
    assert [b.text for b in first.text_layer] == ["Corner Cafe", "TOTAL 12.50"]
    # 595x842 pt at 100 dpi
    h, w = first.image.shape[:2]
    assert abs(h - 842 * 100 / 72) <= 1 and abs(w - 595 * 100 / 72) <= 1
    x0, y0 = first.text_layer[1].quad.min(axis=0)
    assert 95 < x0 < 105 and 135 < y0 < 150  # 72 pt = 100 px from the left, ~100 pt from the top
    assert second.text_layer is None
    assert second.image.std() > 10  # the scan was rendered


def test_garbage_text_layer_is_not_trusted():
    assert is_usable_text("Corner Cafe TOTAL 12.50")
    assert not is_usable_text("")
    assert not is_usable_text(" \n ")
    assert not is_usable_text("\ue000\ue001\ue002\ue003\ue004 ab")
    assert not is_usable_text("\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd")
    assert not is_usable_text("!#$%&*@^~{}|<>")


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_text_layer_of_rotated_pdf_page_keeps_reading_order(rotate):
    from ocr_agents.lines import group_lines

    pdf = write_pdf([PdfPageSpec(lines=[(72, 72, 20, "Corner Cafe"), (72, 110, 20, "TOTAL 12.50")], rotate=rotate)])
    with open_document(pdf, limits=Limits(pdf_dpi=72)) as doc:
        (page,) = list(doc.pages())
    lines = group_lines(page.text_layer)
    assert [line.text for line in lines] == ["Corner Cafe", "TOTAL 12.50"]
    for line in lines:  # each box sits on the rendered glyphs
        x0, y0, x1, y1 = (int(v) for v in line.box)
        assert 0 <= x0 < x1 <= page.image.shape[1] and 0 <= y0 < y1 <= page.image.shape[0]
        assert (page.image[y0:y1, x0:x1] < 128).mean() > 0.1
