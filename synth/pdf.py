"""A tiny PDF writer for tests and benchmarks (no dependencies).

Writes pages that carry a text layer (Helvetica, real extractable text), a
full-page JPEG scan, or both. With ``password_protected=True`` the file gets a
standard security handler whose user password is not empty, so readers ask
for a password (the content itself is not encrypted: only for testing how an
encrypted PDF is rejected).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass
class PdfPageSpec:
    """One page: size in points (1/72 in), text lines and/or a JPEG scan.

    ``lines`` are ``(x_pt, y_pt_from_top, font_size_pt, text)``; text must be
    Latin-1. ``jpeg`` is drawn over the whole page, below the text.
    """

    width_pt: float = 595.0
    height_pt: float = 842.0
    lines: list[tuple[float, float, float, str]] = field(default_factory=list)
    jpeg: bytes | None = None
    jpeg_size: tuple[int, int] = (0, 0)  # pixels (width, height)
    rotate: int = 0  # the page's /Rotate (clockwise degrees when shown)


def _escape(text: str) -> bytes:
    raw = text.encode("latin-1", "replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def write_pdf(pages: list[PdfPageSpec], *, password_protected: bool = False) -> bytes:
    """Serialise ``pages`` as a PDF 1.4 file with a correct xref table."""
    objects: list[bytes] = []  # index i holds object number i + 1

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(dict_entries: bytes, data: bytes) -> bytes:
        return b"<< " + dict_entries + b" /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"

    catalog = add(b"")  # placeholder, filled below
    pages_obj = add(b"")
    font = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for spec in pages:
        content = []
        resources = b"/Font << /F1 %d 0 R >>" % font
        if spec.jpeg is not None:
            w, h = spec.jpeg_size
            img = add(
                stream(
                    b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceRGB "
                    b"/BitsPerComponent 8 /Filter /DCTDecode" % (w, h),
                    spec.jpeg,
                )
            )
            resources += b" /XObject << /Im1 %d 0 R >>" % img
            content.append(b"q %.2f 0 0 %.2f 0 0 cm /Im1 Do Q" % (spec.width_pt, spec.height_pt))
        for x, y, size, text in spec.lines:
            baseline = spec.height_pt - y - size
            content.append(b"BT /F1 %.2f Tf %.2f %.2f Td (%s) Tj ET" % (size, x, baseline, _escape(text)))
        contents = add(stream(b"", b"\n".join(content)))
        kids.append(
            add(
                b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.2f %.2f] /Rotate %d /Resources << %s >> /Contents %d 0 R >>"
                % (pages_obj, spec.width_pt, spec.height_pt, spec.rotate, resources, contents)
            )
        )
    objects[catalog - 1] = b"<< /Type /Catalog /Pages %d 0 R >>" % pages_obj
    objects[pages_obj - 1] = b"<< /Type /Pages /Kids [%s] /Count %d >>" % (
        b" ".join(b"%d 0 R" % k for k in kids),
        len(kids),
    )
    file_id = hashlib.md5(b"ocrstream-pdfwrite").hexdigest().encode()
    encrypt_ref = b""
    if password_protected:
        # RC4-40 standard handler (R2) whose /U does not match the empty
        # password: any reader must ask for a password.
        enc = add(
            b"<< /Filter /Standard /V 1 /R 2 /O <%s> /U <%s> /P -44 >>"
            % (hashlib.sha256(b"owner").hexdigest().encode(), hashlib.sha256(b"user").hexdigest().encode())
        )
        encrypt_ref = b" /Encrypt %d 0 R" % enc

    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for off in offsets:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root %d 0 R /ID [<%s> <%s>]%s >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        catalog,
        file_id,
        file_id,
        encrypt_ref,
        xref,
    )
    return bytes(out)
