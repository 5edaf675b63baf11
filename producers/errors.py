"""Expected producer failures: one-line messages that say what to do.

The CLI prints ``str(err)`` without a traceback and exits non-zero; anything
else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations

from ocrstream.errors import Transient


class ProducerError(RuntimeError):
    """An expected failure of a command (bad command-line input, unreachable service); ``str()`` is one line.

    Raised as such for bad command-line input (a failure of the command, not of
    a record); the unavailable services below are also :class:`~ocrstream.errors.Transient`.
    """


class BrokerUnavailable(ProducerError, Transient):
    """Kafka did not answer within the bounded retries."""


class StoreUnavailable(ProducerError, Transient):
    """The object store or a bucket cannot be used."""


class SourceUnavailable(ProducerError, Transient):
    """A video source (file, camera, stream) cannot be opened."""
