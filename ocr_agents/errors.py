"""Errors of the OCR engines (the errors of reading a document are :mod:`ocrstream.errors`')."""

from __future__ import annotations

from ocrstream.errors import Transient


class UnknownEngine(ValueError):
    """An engine name that is not one of the registered engines.

    A caller bug, neither permanent nor transient for the input: the stream
    retries it like any unknown error, then dead-letters it.
    """


class EngineUnavailable(Transient, RuntimeError):
    """An engine's library or model files are missing on this machine (ops problem, retryable)."""


__all__ = ["UnknownEngine", "EngineUnavailable"]
