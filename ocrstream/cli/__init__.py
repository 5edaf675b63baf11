"""The roof: the ``ocrstream`` command line, composing every stage (see :mod:`ocrstream.cli.main`)."""

from ocrstream.cli.main import app, console, fail, state

__all__ = ["app", "console", "fail", "state"]
