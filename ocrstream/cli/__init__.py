"""The roof: the ``ocrstream`` command line, which composes every stage (see :mod:`ocrstream.cli.main`)."""

from ocrstream.cli.main import app

__all__ = ["app"]
