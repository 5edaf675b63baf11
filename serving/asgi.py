"""The base of the API's pure ASGI middlewares (no Starlette request objects on the hot path)."""

from __future__ import annotations

from typing import Any


class HttpMiddleware:
    """Wraps an ASGI app; HTTP requests go through :meth:`http`, everything else passes untouched."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """Handle one HTTP request (call ``self.app`` with a wrapped ``send`` to see the response)."""
        await self.app(scope, receive, send)
