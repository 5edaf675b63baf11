"""Fetch stage: turn a document reference (URI) into bytes, safely.

Policy, checked before any I/O on the object (:meth:`Fetcher.check`):

* the scheme must be in ``stream.allowed_schemes`` (default ``file``, ``s3``);
* ``s3://bucket/key``: the bucket must be in ``stream.allowed_buckets``
  (empty = the documents bucket only);
* ``file:///abs/path``: no host (or ``localhost``), no ``..`` segment, no NUL,
  and the fully resolved path (symlinks followed) must lie under
  ``settings.file_root`` — a symlink pointing outside is refused;
* ``http(s)://host/...``: the host must be in ``stream.allowed_http_hosts``
  and EVERY address it resolves to must be a public unicast address (no
  loopback, private, link-local — 169.254.169.254 metadata included —,
  multicast, reserved or unspecified); the request then goes to the checked
  IP itself (Host header / SNI carry the name), so DNS rebinding between
  check and connect cannot redirect it. Redirects are not followed.

Limits before decoding: the object size (``ocr.max_object_bytes``, from the
object metadata / ``fstat`` before reading, and enforced while reading) and,
for images, the pixel count from the header (``ocr.max_pixels``, Pillow reads
only the header) — so decompression bombs never reach a decoder.

Errors: :class:`FetchRefused` / :class:`ObjectMissing` / ``ObjectTooLarge`` /
``ImageTooLarge`` are permanent (DLQ); :class:`FetchUnavailable` (store
unreachable, 5xx, timeouts) is transient (retried, offset not committed).
"""

from __future__ import annotations

import io
import ipaddress
import os
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ocrstream.settings import Settings
from streams.dlq import PermanentError, TransientError

Resolver = Callable[[str, int], list[str]]


class FetchRefused(PermanentError):
    """The URI violates the fetch policy (scheme, bucket, host, path)."""

    stage = "fetch"


class ObjectMissing(PermanentError):
    """The object does not exist."""

    stage = "fetch"


class FetchUnavailable(TransientError):
    """The store could not be reached; retry."""


@dataclass(frozen=True)
class Fetched:
    data: bytes
    uri: str
    fetch_s: float


def default_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchUnavailable(f"cannot resolve {host}: {exc}") from exc
    return sorted({info[4][0] for info in infos})


def is_public_ip(ip: str) -> bool:
    """True for a global unicast address (the only kind an http fetch may reach)."""
    addr = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return not (
        addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_multicast
        or addr.is_reserved or addr.is_unspecified or not addr.is_global
    )  # fmt: skip


class Fetcher:
    """Policy-checked reads from S3, the local file root, or allow-listed http(s) hosts."""

    def __init__(self, settings: Settings, store: Any | None = None, resolver: Resolver = default_resolver) -> None:
        self.settings = settings
        s = settings.stream
        self.schemes = {x.lower() for x in s.allowed_schemes}
        self.buckets = set(s.allowed_buckets) or {settings.s3.documents_bucket}
        self.http_hosts = {h.lower() for h in s.allowed_http_hosts}
        self.root = settings.file_root
        self.max_bytes = settings.ocr.max_object_bytes
        self.max_pixels = settings.ocr.max_pixels
        self._store = store
        self.resolver = resolver

    @property
    def store(self) -> Any:
        if self._store is None:
            from ocrstream.objectstore import ObjectStore

            self._store = ObjectStore(self.settings)
        return self._store

    # ------------------------------------------------------------------ policy
    def check(self, uri: str) -> tuple[str, Any]:
        """Validate ``uri``; returns ``(scheme, target)`` or raises :class:`FetchRefused`."""
        if not uri or "\x00" in uri or any(ord(c) < 32 for c in uri):
            raise FetchRefused(f"invalid URI {uri!r}")
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            raise FetchRefused(f"scheme {scheme or '(none)'!r} is not allowed (allowed: {sorted(self.schemes)})")
        if scheme == "s3":
            bucket, key = parts.netloc, unquote(parts.path.lstrip("/"))
            if bucket not in self.buckets:
                raise FetchRefused(f"bucket {bucket!r} is not allowed (allowed: {sorted(self.buckets)})")
            if not key or any(seg in ("..", ".") for seg in key.split("/")):
                raise FetchRefused(f"invalid object key {key!r}")
            return scheme, (bucket, key)
        if scheme == "file":
            return scheme, self._check_file(parts.netloc, parts.path)
        if scheme in ("http", "https"):
            return scheme, self._check_http(parts)
        raise FetchRefused(f"scheme {scheme!r} has no fetcher")

    def _check_file(self, netloc: str, raw_path: str) -> Path:
        if netloc not in ("", "localhost"):
            raise FetchRefused(f"file URI with host {netloc!r} is not allowed")
        path = unquote(raw_path)
        if not path.startswith("/"):
            raise FetchRefused(f"file path must be absolute: {path!r}")
        if any(seg == ".." for seg in path.split("/")):
            raise FetchRefused(f"path traversal ('..') in {path!r}")
        root = self.root
        candidate = Path(path)
        if not candidate.is_relative_to(root):
            raise FetchRefused(f"{path} is outside the file root {root}")
        try:
            resolved = candidate.resolve(strict=True)
        except FileNotFoundError as exc:
            raise ObjectMissing(f"file {path} does not exist") from exc
        except (OSError, RuntimeError) as exc:  # symlink loop, permission
            raise FetchRefused(f"cannot resolve {path}: {exc}") from exc
        if not resolved.is_relative_to(root):
            raise FetchRefused(f"{path} resolves to {resolved}, outside the file root {root} (symlink escape)")
        return resolved

    def _check_http(self, parts: Any) -> tuple[str, str, int, str, list[str]]:
        host = (parts.hostname or "").lower()
        if not host:
            raise FetchRefused("http URI without host")
        if parts.username or parts.password:
            raise FetchRefused("credentials in http URIs are not allowed")
        if host not in self.http_hosts:
            raise FetchRefused(f"http host {host!r} is not allow-listed")
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        ips = self.resolver(host, port)
        bad = [ip for ip in ips if not is_public_ip(ip)]
        if not ips or bad:
            raise FetchRefused(f"{host} resolves to non-public address(es) {bad or ips} (SSRF guard)")
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return host, path, port, parts.scheme.lower(), ips

    # ------------------------------------------------------------------ I/O
    def fetch(self, uri: str) -> Fetched:
        """Bytes of ``uri`` after :meth:`check` and the size/pixel limits."""
        t0 = time.perf_counter()
        scheme, target = self.check(uri)
        if scheme == "s3":
            data = self._get_s3(*target)
        elif scheme == "file":
            data = self._read_file(target)
        else:
            data = self._get_http(*target)
        self.check_pixels(data, uri)
        return Fetched(data=data, uri=uri, fetch_s=time.perf_counter() - t0)

    def _too_large(self, uri: str, size: int) -> Exception:
        from ocr_agents.errors import ObjectTooLarge

        return ObjectTooLarge(f"{uri} is {size} bytes > limit {self.max_bytes}")

    def _get_s3(self, bucket: str, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        from ocrstream.objectstore import ObjectNotFound

        try:
            data = self.store.get(bucket, key, max_bytes=self.max_bytes)
        except ObjectNotFound as exc:
            raise ObjectMissing(str(exc)) from exc
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in ("AccessDenied", "InvalidObjectState", "InvalidBucketName", "KeyTooLongError"):
                raise FetchRefused(f"s3://{bucket}/{key}: {code}") from exc
            if status >= 500 or code in ("SlowDown", "RequestTimeout", "ServiceUnavailable", "InternalError"):
                raise FetchUnavailable(f"s3://{bucket}/{key}: {code or status}") from exc
            raise FetchUnavailable(f"s3://{bucket}/{key}: {code or exc}") from exc
        except BotoCoreError as exc:  # endpoint unreachable, timeouts
            raise FetchUnavailable(f"s3://{bucket}/{key}: {exc}") from exc
        if len(data) > self.max_bytes:
            raise self._too_large(f"s3://{bucket}/{key}", len(data))
        return data

    def _read_file(self, path: Path) -> bytes:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError as exc:
            raise ObjectMissing(f"file {path} does not exist") from exc
        except OSError as exc:  # ELOOP: swapped for a symlink after the check
            raise FetchRefused(f"cannot open {path}: {exc.strerror}") from exc
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise FetchRefused(f"{path} is not a regular file")
            if st.st_size > self.max_bytes:
                raise self._too_large(f"file://{path}", st.st_size)
            data = fh.read(self.max_bytes + 1)
        if len(data) > self.max_bytes:
            raise self._too_large(f"file://{path}", len(data))
        return data

    def _get_http(self, host: str, path: str, port: int, scheme: str, ips: list[str]) -> bytes:
        import httpx

        ip = ips[0]
        netloc = f"[{ip}]" if ":" in ip else ip
        url = f"{scheme}://{netloc}:{port}{path}"
        headers = {"Host": host if port in (80, 443) else f"{host}:{port}"}
        extensions = {"sni_hostname": host} if scheme == "https" else {}
        try:
            with httpx.Client(follow_redirects=False, timeout=10.0, trust_env=False) as client:
                with client.stream("GET", url, headers=headers, extensions=extensions) as resp:
                    if resp.is_redirect:
                        raise FetchRefused(f"{scheme}://{host}{path}: redirect not followed")
                    if resp.status_code == 404:
                        raise ObjectMissing(f"{scheme}://{host}{path}: 404")
                    if resp.status_code >= 500:
                        raise FetchUnavailable(f"{scheme}://{host}{path}: HTTP {resp.status_code}")
                    if resp.status_code >= 400:
                        raise FetchRefused(f"{scheme}://{host}{path}: HTTP {resp.status_code}")
                    declared = int(resp.headers.get("content-length") or 0)
                    if declared > self.max_bytes:
                        raise self._too_large(f"{scheme}://{host}{path}", declared)
                    buf = bytearray()
                    for chunk in resp.iter_bytes():
                        buf += chunk
                        if len(buf) > self.max_bytes:
                            raise self._too_large(f"{scheme}://{host}{path}", len(buf))
                    return bytes(buf)
        except httpx.HTTPError as exc:
            raise FetchUnavailable(f"{scheme}://{host}{path}: {exc}") from exc

    def check_pixels(self, data: bytes, uri: str) -> None:
        """Refuse images whose header declares more than ``max_pixels`` (no pixel is decoded)."""
        if data[:5] == b"%PDF-" or not data:
            return
        from PIL import Image

        from ocr_agents.errors import ImageTooLarge

        try:
            with Image.open(io.BytesIO(data)) as im:  # lazy: parses the header only
                w, h = im.size
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(f"{uri}: {exc}") from exc
        except Exception:  # noqa: BLE001 - not an image Pillow knows; the OCR stage decides
            return
        if w * h > self.max_pixels:
            raise ImageTooLarge(f"{uri}: image is {w}x{h} = {w * h} pixels > limit {self.max_pixels}")
