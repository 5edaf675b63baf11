"""The one error model of every stage: :class:`Permanent` or :class:`Transient`.

* :class:`Permanent`: this input can never succeed, however often it is
  retried (bad Avro, a refused or missing object, an unknown business, a
  corrupt/oversized/encrypted document, an invalid event time, a record the
  broker refuses). The stream dead-letters it at once and goes on.
* :class:`Transient`: a dependency is unavailable (S3, ClickHouse, Kafka, the
  OCR pool, an engine's files); retry the same input later.

Every stage's error classes derive from one of the two, so
:func:`classify_error` is two ``isinstance`` checks; anything else is
``unknown`` (a bug for one input: retried a bounded number of times, then
dead-lettered). A class that is both (:class:`ocrstream.kafka.DeliveryRefused`
is a ``DeliveryFailed`` that the broker will never accept) counts as
permanent. The standard library's and botocore's timeouts and connection
errors count as transient.

The errors of reading a document (:class:`OcrInputError` and its subclasses)
live here too: producers, the worker's fetch and the OCR stage raise them.
Their class names are the stable ``error_class`` labels of dead letters: do
not rename them.
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from typing import Literal

from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.exceptions import ReadTimeoutError

ErrorKind = Literal["permanent", "transient", "unknown"]


class Permanent(Exception):
    """The input can never succeed. ``reason`` (= ``str()``) is one line.

    ``stage`` names where it failed when the error knows (a class default or
    ``stage=``); ``None`` leaves it to the stage that caught it.
    """

    stage: str | None = None

    def __init__(self, message: str = "", *, stage: str | None = None) -> None:
        reason = " ".join(str(message).split()) or type(self).__name__
        super().__init__(reason)
        self.reason = reason
        if stage is not None:
            self.stage = stage

    @property
    def error_class(self) -> str:
        """Stable label for dead-letter records (the class name)."""
        return type(self).__name__


class Transient(Exception):
    """A dependency is unavailable; retry the same input later."""


#: Errors of the standard library and of botocore that mean "unreachable, try again".
FOREIGN_TRANSIENT: tuple[type[BaseException], ...] = (TimeoutError, ConnectionError, BrokenProcessPool,
                                                      BotoConnectionError, ReadTimeoutError)


def classify_error(exc: BaseException) -> ErrorKind:
    """``permanent`` (dead-letter now), ``transient`` (retry forever) or ``unknown`` (retry, then dead-letter)."""
    if isinstance(exc, Permanent):
        return "permanent"
    if isinstance(exc, (Transient, *FOREIGN_TRANSIENT)):
        return "transient"
    return "unknown"


class InvalidRecord(Permanent):
    """A decoded record violates the contract (empty id, bad event time, ...)."""

    stage = "validate"


class UnknownBusiness(Permanent):
    """``business_id`` is not in ``worker.known_businesses``."""

    stage = "validate"


class ObjectMissing(Permanent, LookupError):
    """The object (S3 bucket/key, file, URL) does not exist."""

    stage = "fetch"


class OcrInputError(Permanent):
    """The document cannot be read. ``reason`` is one line."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


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
