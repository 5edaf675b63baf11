"""Bearer-token auth with per-business scopes, and signed image links.

``ApiSettings.tokens`` maps a token to the business ids it may read (``"*"`` =
all). With no tokens configured, auth is disabled (local use): every request
acts with scope ``*``. A missing or unknown token is 401; a known token asking
for a business outside its scope is 403.

Image links (``/api/documents/{id}/image``) must work from a plain ``<a href>``
(no header), so the API hands authorised callers links signed with an HMAC of
``document_id`` and an expiry (``?exp=<epoch s>&sig=<hex>``); a valid bearer
token works on that route too.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

from ocrstream.settings import ApiSettings


@dataclass(frozen=True)
class Scope:
    """What a caller may read: every business, or the listed ones."""

    all: bool
    businesses: frozenset[str] = frozenset()
    token_id: str = "anonymous"

    def allows(self, business_id: str) -> bool:
        return self.all or business_id in self.businesses

    def check(self, business_ids: Iterable[str]) -> None:
        """Raise 403 naming the first business outside the scope."""
        for business_id in business_ids:
            if not self.allows(business_id):
                raise HTTPException(status.HTTP_403_FORBIDDEN,
                                    detail=f"token not allowed to read business {business_id!r}")


OPEN_SCOPE = Scope(all=True, token_id="auth-disabled")


class Authenticator:
    """Resolves ``Authorization: Bearer <token>`` to a :class:`Scope`."""

    def __init__(self, api: ApiSettings) -> None:
        self.enabled = bool(api.tokens)
        self._tokens: list[tuple[bytes, Scope]] = []
        for token, businesses in api.tokens.items():
            scope = Scope(all="*" in businesses, businesses=frozenset(b for b in businesses if b != "*"),
                          token_id=hashlib.sha256(token.encode()).hexdigest()[:8])
            self._tokens.append((token.encode(), scope))

    def scope_for_token(self, token: str | None) -> Scope | None:
        """The scope of ``token`` (compared in constant time), or ``None`` if unknown."""
        if not self.enabled:
            return OPEN_SCOPE
        if not token:
            return None
        given = token.encode("utf-8", "replace")
        found: Scope | None = None
        for known, scope in self._tokens:
            if hmac.compare_digest(known, given):
                found = scope
        return found

    def __call__(self, request: Request) -> Scope:
        """FastAPI dependency: the caller's scope, or 401."""
        scope = self.scope_for_token(bearer_token(request))
        if scope is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="missing or invalid bearer token",
                                headers={"WWW-Authenticate": "Bearer"})
        return scope


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class LinkSigner:
    """HMAC-SHA256 signatures for time-limited document image links."""

    def __init__(self, secret: str, ttl_s: int) -> None:
        self._key = (secret or secrets.token_hex(32)).encode()
        self.ttl_s = ttl_s

    def _sig(self, document_id: str, exp: int) -> str:
        msg = f"image\n{document_id}\n{exp}".encode()
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def sign(self, document_id: str, now: float | None = None) -> tuple[int, str]:
        exp = int((now or time.time()) + self.ttl_s)
        return exp, self._sig(document_id, exp)

    def verify(self, document_id: str, exp: int | None, sig: str | None, now: float | None = None) -> bool:
        if exp is None or not sig or len(sig) > 128:
            return False
        if exp < (now or time.time()):
            return False
        given = sig.encode("utf-8", "replace")  # compare_digest refuses non-ASCII str
        return hmac.compare_digest(self._sig(document_id, exp).encode(), given)
