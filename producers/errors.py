"""Expected producer failures: one-line messages that say what to do.

The CLI prints ``str(err)`` without a traceback and exits non-zero; anything
else that escapes is a bug and keeps its traceback.
"""

from __future__ import annotations


class ProducerError(RuntimeError):
    """An expected failure (bad input, unreachable service); ``str()`` is one line."""


class BrokerUnavailable(ProducerError):
    """Kafka did not answer within the bounded retries."""


class StoreUnavailable(ProducerError):
    """The object store or a bucket cannot be used."""


class SourceUnavailable(ProducerError):
    """A video source (file, camera, stream) cannot be opened."""
