"""Security headers on every response of the API origin.

Everything the API serves carries ``X-Content-Type-Options: nosniff`` and a
``Content-Security-Policy``:

* the dashboard and document view (``/dashboard``, ``/document``): scripts,
  styles, images and fetches only from this origin, no inline script, no
  plugins, no framing (:data:`APP_CSP`). Nothing the pipeline stored (OCR text,
  field values, ids) can run as script there: pages build the DOM with
  ``textContent``, and an injected ``<script>`` or ``on*=`` handler would be
  refused by the policy anyway;
* OpenAPI docs (``/docs``, ``/redoc``): FastAPI's pages load Swagger UI / ReDoc
  from jsDelivr and start it with an inline script (:data:`DOCS_CSP`); they show
  no stored content;
* everything else, JSON and documents' bytes included: ``default-src 'none';
  sandbox`` (:data:`DATA_CSP`), so a response opened as a page runs nothing, in
  an opaque origin. The image route sets its own variant.

Plus ``Referrer-Policy: no-referrer`` (signed links never leak through
``Referer``), ``X-Frame-Options: DENY``, ``Cross-Origin-Opener-Policy`` and
``Cross-Origin-Resource-Policy: same-origin``. A header a route set itself is
kept.
"""

from __future__ import annotations

from typing import Any

from serving.asgi import HttpMiddleware

APP_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
           "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'none'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "font-src https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com; "
            "worker-src blob:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'")
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox"
#: For document bytes (images): an image opened as a page still shows, and nothing else can happen.
OBJECT_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'; sandbox"

APP_PATHS = ("/dashboard", "/document")
DOCS_PATHS = ("/docs", "/redoc")

COMMON_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def policy_for(path: str) -> str:
    """The Content-Security-Policy for a request path (see module docstring)."""
    if path in APP_PATHS:
        return APP_CSP
    if path in DOCS_PATHS or path.startswith("/docs/"):
        return DOCS_CSP
    return DATA_CSP


class SecurityHeadersMiddleware(HttpMiddleware):
    """Pure ASGI middleware adding the headers above to every HTTP response."""

    async def http(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        csp = policy_for(scope.get("path", "")).encode()

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in ((b"content-security-policy", csp), *COMMON_HEADERS):
                    if name not in present:
                        headers.append((name, value))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_wrapper)
