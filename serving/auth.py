"""Bearer-token auth with per-business scopes, dashboard sessions, signed image links.

``ApiSettings.tokens`` maps a token to the business ids it may read (``"*"`` =
all). With no tokens configured, auth is disabled (local use): every request
acts with scope ``*``. A missing or unknown token is 401; a known token asking
for a business outside its scope is 403 (the message names only what the
caller asked for, and is the same whether that business exists or not). A
document outside the caller's scope is answered exactly like a missing one
(404): ids of other businesses' documents reveal nothing.

Credentials, in order: ``Authorization: Bearer <token>`` (an invalid bearer
token is 401, never silently replaced by a cookie), else the dashboard's
session cookie. ``POST /api/session`` trades a token for that cookie:
``HttpOnly`` (no script can read it), ``SameSite=Strict`` (not sent on
cross-site requests), ``Secure`` over https, value
``<token hash>.<expiry>.<HMAC>``; it dies with its expiry, with the token's
removal from the settings, or with a new ``link_secret``.

Image links (``/api/documents/{id}/image`` and ``/pages/{n}``) must work from a
plain ``<img src>`` (no header), so the API hands authorised callers links
signed with an HMAC of ``document_id`` and an expiry (``?exp=<epoch s>&sig=<hex>``).
One secret (``ApiSettings.link_secret``, random per process when empty) keys
both signatures, with a distinct purpose prefix in each signed message.
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

SESSION_COOKIE = "ocrstream_session"


@dataclass(frozen=True)
class Scope:
    """What a caller may read: every business, or the listed ones."""

    all: bool
    businesses: frozenset[str] = frozenset()
    token_id: str = "anonymous"

    def allows(self, business_id: str) -> bool:
        return self.all or business_id in self.businesses

    def check(self, business_ids: Iterable[str]) -> None:
        """Raise 403 naming the first requested business outside the scope."""
        for business_id in business_ids:
            if not self.allows(business_id):
                raise HTTPException(status.HTTP_403_FORBIDDEN,
                                    detail=f"token not allowed to read business {business_id!r}")

    def describe(self) -> list[str]:
        """``["*"]`` or the sorted business ids."""
        return ["*"] if self.all else sorted(self.businesses)


OPEN_SCOPE = Scope(all=True, token_id="auth-disabled")


def _token_hash(token: bytes) -> str:
    return hashlib.sha256(token).hexdigest()[:32]


class Signer:
    """HMAC-SHA256 over ``purpose\\nsubject\\nexpiry``; one key, one purpose per use."""

    def __init__(self, secret: str) -> None:
        self._key = (secret or secrets.token_hex(32)).encode()

    def sig(self, purpose: str, subject: str, exp: int) -> str:
        return hmac.new(self._key, f"{purpose}\n{subject}\n{exp}".encode(), hashlib.sha256).hexdigest()

    def valid(self, purpose: str, subject: str, exp: int | None, sig: str | None, now: float | None = None) -> bool:
        if exp is None or not sig or len(sig) > 128:
            return False
        if exp < (now or time.time()):
            return False
        given = sig.encode("utf-8", "replace")  # compare_digest refuses non-ASCII str
        return hmac.compare_digest(self.sig(purpose, subject, exp).encode(), given)


class LinkSigner:
    """Time-limited signatures for a document's image and page links."""

    def __init__(self, secret: str | Signer, ttl_s: int) -> None:
        self._signer = secret if isinstance(secret, Signer) else Signer(secret)
        self.ttl_s = ttl_s

    def sign(self, document_id: str, now: float | None = None) -> tuple[int, str]:
        exp = int((now or time.time()) + self.ttl_s)
        return exp, self._signer.sig("image", document_id, exp)

    def verify(self, document_id: str, exp: int | None, sig: str | None, now: float | None = None) -> bool:
        return self._signer.valid("image", document_id, exp, sig, now)


class Authenticator:
    """Resolves a request's credentials (bearer token or session cookie) to a :class:`Scope`."""

    def __init__(self, api: ApiSettings, signer: Signer | None = None) -> None:
        self.enabled = bool(api.tokens)
        self.session_ttl_s = api.session_ttl_s
        self._signer = signer or Signer(api.link_secret)
        self._tokens: list[tuple[bytes, Scope]] = []
        self._by_hash: dict[str, Scope] = {}
        for token, businesses in api.tokens.items():
            digest = _token_hash(token.encode())
            scope = Scope(all="*" in businesses, businesses=frozenset(b for b in businesses if b != "*"),
                          token_id=digest[:8])
            self._tokens.append((token.encode(), scope))
            self._by_hash[digest] = scope

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

    # ------------------------------------------------------------ sessions

    def open_session(self, token: str, now: float | None = None) -> tuple[str, Scope] | None:
        """``(cookie value, scope)`` for a valid token, else ``None``."""
        scope = self.scope_for_token(token)
        if scope is None or not self.enabled:
            return None
        digest = _token_hash(token.encode("utf-8", "replace"))
        exp = int((now or time.time()) + self.session_ttl_s)
        return f"{digest}.{exp}.{self._signer.sig('session', digest, exp)}", scope

    def scope_for_session(self, value: str | None, now: float | None = None) -> Scope | None:
        """The scope behind a session cookie value, or ``None`` (bad signature, expired, token gone)."""
        if not self.enabled:
            return OPEN_SCOPE
        if not value or len(value) > 256:
            return None
        parts = value.split(".")
        if len(parts) != 3 or not parts[1].isdigit():
            return None
        digest, exp, sig = parts[0], int(parts[1]), parts[2]
        if not self._signer.valid("session", digest, exp, sig, now):
            return None
        return self._by_hash.get(digest)

    def scope_for_request(self, request: Request) -> Scope | None:
        """Bearer token if one is sent (an invalid one is not replaced by the cookie), else the session."""
        if not self.enabled:
            return OPEN_SCOPE
        if request.headers.get("authorization"):
            return self.scope_for_token(bearer_token(request))
        return self.scope_for_session(request.cookies.get(SESSION_COOKIE))

    def __call__(self, request: Request) -> Scope:
        """FastAPI dependency: the caller's scope, or 401."""
        scope = self.scope_for_request(request)
        if scope is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="missing or invalid bearer token or session",
                                headers={"WWW-Authenticate": "Bearer"})
        return scope


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
