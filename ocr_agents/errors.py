"""Typed, permanent input errors of the OCR stage.

Every error here means "this input will never succeed, however often it is
retried": the stream layer routes them to the dead-letter topic, using
:attr:`OcrInputError.error_class` (the class name) as a stable label. Do not
rename these classes. ``reason`` is one human-readable line.
"""

from __future__ import annotations


class OcrInputError(Exception):
    """Base class: the document cannot be read. ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        reason = " ".join(str(reason).split()) or self.__class__.__name__
        super().__init__(reason)
        self.reason = reason

    @property
    def error_class(self) -> str:
        """Stable label for dead-letter records (the class name)."""
        return type(self).__name__


class EmptyInput(OcrInputError):
    """Zero bytes (or only whitespace) were given."""


class ObjectTooLarge(OcrInputError):
    """The object is larger than ``OcrSettings.max_object_bytes``."""


class UnsupportedMedia(OcrInputError):
    """The bytes are not an image or PDF format we can read."""


class CorruptImage(OcrInputError):
    """An image format was recognised but the data is truncated or broken."""


class ImageTooLarge(OcrInputError):
    """Image dimensions exceed ``OcrSettings.max_pixels`` (decompression bomb guard).

    Raised from the header, before any pixel is decoded.
    """


class TooManyPages(OcrInputError):
    """A multi-page document has more pages than ``OcrSettings.max_pages``."""


class EncryptedPdf(OcrInputError):
    """The PDF needs a password."""


class CorruptPdf(OcrInputError):
    """The data claims to be a PDF but cannot be parsed, or has no pages."""


class UnknownEngine(ValueError):
    """An engine name that is not one of the registered engines (a caller bug)."""


class EngineUnavailable(RuntimeError):
    """An engine's library or model files are missing on this machine (ops problem, retryable)."""


__all__ = [
    "OcrInputError",
    "EmptyInput",
    "ObjectTooLarge",
    "UnsupportedMedia",
    "CorruptImage",
    "ImageTooLarge",
    "TooManyPages",
    "EncryptedPdf",
    "CorruptPdf",
    "UnknownEngine",
    "EngineUnavailable",
]
