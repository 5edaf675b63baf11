"""Serving layer: live query API, dashboard, health and Prometheus metrics.

``create_app(settings, client=None)`` builds the FastAPI app (see
:mod:`serving.app`); ``ocrstream serve`` runs it with uvicorn.
"""

from serving.app import create_app

__all__ = ["create_app"]
