"""Serving layer: live query API, dashboard, health and Prometheus metrics.

``create_app(settings, client=None)`` builds the FastAPI app (see
:mod:`ocrstream.api.app`); ``ocrstream serve`` runs it with uvicorn.
"""

from ocrstream.api.app import create_app

__all__ = ["create_app"]
