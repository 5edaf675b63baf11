"""Dashboard sign-in: a token traded for an HttpOnly session cookie (see :mod:`serving.auth`).

* ``POST /api/session`` with JSON ``{"token": "..."}`` -> 200 ``{"businesses": [...]}``
  and ``Set-Cookie: ocrstream_session=...; HttpOnly; SameSite=Strict; Path=/``
  (+ ``Secure`` over https); 401 for an unknown token. Only
  ``application/json`` bodies are accepted, which a cross-site HTML form cannot
  send (and a cross-site ``fetch`` cannot without a CORS preflight, which this
  API never grants).
* ``GET /api/session`` -> ``{"auth_required", "authenticated", "businesses"}``;
* ``DELETE /api/session`` -> the cookie is cleared.

The dashboard keeps the token only in the password field while signing in:
never in ``localStorage``/``sessionStorage`` or a readable cookie.
"""

# No `from __future__ import annotations`: FastAPI resolves the request body model at runtime.

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import BaseModel, Field

from serving.auth import SESSION_COOKIE, Authenticator


class SessionRequest(BaseModel):
    token: str = Field(min_length=1, max_length=4096)


def _secure(request: Request, mode: Literal["auto", "always", "never"]) -> bool:
    if mode != "auto":
        return mode == "always"
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def session_router(auth: Authenticator, cookie_secure: Literal["auto", "always", "never"]) -> APIRouter:
    """The session routes of one app."""
    router = APIRouter(tags=["dashboard"])

    @router.post("/api/session")
    async def sign_in(request: Request, response: Response) -> dict[str, Any]:
        """Trade a bearer token for the dashboard's HttpOnly session cookie."""
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, detail="send {\"token\": ...} as application/json")
        try:
            body = SessionRequest.model_validate(await request.json())
        except Exception:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, detail="expected {\"token\": \"...\"}") from None
        if not auth.enabled:
            return {"auth_required": False, "businesses": ["*"]}
        opened = auth.open_session(body.token)
        if opened is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="unknown token")
        value, scope = opened
        response.set_cookie(SESSION_COOKIE, value, max_age=auth.session_ttl_s, path="/", httponly=True,
                            samesite="strict", secure=_secure(request, cookie_secure))
        return {"auth_required": True, "businesses": scope.describe()}

    @router.get("/api/session")
    async def session(request: Request) -> dict[str, Any]:
        """Whether this browser is signed in, and to which businesses."""
        scope = auth.scope_for_request(request)
        return {"auth_required": auth.enabled, "authenticated": scope is not None,
                "businesses": scope.describe() if scope is not None else []}

    @router.delete("/api/session")
    async def sign_out(request: Request, response: Response) -> dict[str, Any]:
        """Forget the session cookie."""
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                               secure=_secure(request, cookie_secure))
        return {"authenticated": False}

    return router
