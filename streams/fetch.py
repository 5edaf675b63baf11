"""Fetch stage: turn a document reference (URI) into bytes, safely.

Policy, checked before any I/O on the object (:meth:`Fetcher.check`):

* the scheme must be in ``fetch.allowed_schemes`` (default ``file``, ``s3``);
* ``s3://bucket/key``: the bucket must be in ``fetch.allowed_buckets``
  (empty = the documents bucket only);
* ``file:///abs/path``: no host (or ``localhost``), no ``..`` segment, no NUL
  or control character (also percent-encoded, ``%00``), and the fully
  resolved path (symlinks followed) must lie under ``Settings.file_root`` —
  a symlink pointing outside is refused; it must be a regular file (checked
  with ``stat`` before opening, so a FIFO, device or directory is refused at
  once and never opened), and it is opened ``O_NONBLOCK | O_NOFOLLOW`` and
  checked again with ``fstat`` (a file swapped after the check cannot block
  the worker either);
* ``http(s)://host/...``: the host must be in ``fetch.allowed_http_hosts``
  and EVERY address it resolves to must be a public unicast address (no
  loopback, private, link-local — 169.254.169.254 metadata included —,
  multicast, reserved or unspecified — also when embedded in an IPv6
  address: IPv4-mapped/-compatible, 6to4 ``2002::/16``, Teredo
  ``2001::/32``, NAT64 ``64:ff9b::/96``); the request then goes to the checked
  IP itself (Host header / SNI carry the name), so DNS rebinding between
  check and connect cannot redirect it. Redirects are not followed.

Limits before decoding: the object size (``ocr.max_object_bytes``, from the
object metadata / ``fstat`` before reading, and enforced while reading) and,
for images, the pixel count from the header (``ocr.max_pixels``, Pillow reads
only the header) — so decompression bombs never reach a decoder.

Errors: :class:`FetchRefused` (also any malformed URI) / :class:`ObjectMissing` /
``ObjectTooLarge`` / ``ImageTooLarge`` are permanent (DLQ at once, no retry);
:class:`FetchUnavailable` (store unreachable, 5xx, timeouts) is transient
(retried, offset not committed).
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

from ocrstream import media
from ocrstream.errors import ImageTooLarge, ObjectMissing, ObjectTooLarge, Permanent, Transient
from ocrstream.settings import FetchSettings, Settings
from ocrstream.uris import parse_s3_uri

Resolver = Callable[[str, int], list[str]]


class FetchRefused(Permanent):
    """The URI violates the fetch policy (scheme, bucket, host, path)."""

    stage = "fetch"


class FetchUnavailable(Transient):
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


_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def embedded_ipv4(addr: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address routes to: mapped, compatible, 6to4, Teredo, NAT64."""
    out: list[ipaddress.IPv4Address] = []
    if addr.ipv4_mapped is not None:
        out.append(addr.ipv4_mapped)
    if addr.sixtofour is not None:
        out.append(addr.sixtofour)
    if addr.teredo is not None:
        out.extend(addr.teredo)  # (server, client)
    if addr in _NAT64 or (addr in _IPV4_COMPATIBLE and int(addr) > 1):
        out.append(ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF))
    return out


def _is_global_unicast(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return not (
        addr.is_loopback or addr.is_private or addr.is_link_local or addr.is_multicast
        or addr.is_reserved or addr.is_unspecified or not addr.is_global
    )  # fmt: skip


def is_public_ip(ip: str) -> bool:
    """True for a global unicast address (the only kind an http fetch may reach).

    An IPv6 address that embeds an IPv4 address (:func:`embedded_ipv4`) is
    public only if the embedded address is too; Teredo is never public.
    """
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = embedded_ipv4(addr)
        if addr.teredo is not None:
            return False
        if embedded and not all(_is_global_unicast(a) for a in embedded):
            return False
        if addr.ipv4_mapped is not None:
            return True
    return _is_global_unicast(addr)


def _has_control(text: str) -> bool:
    return any(ord(c) < 32 or ord(c) == 127 for c in text)


def clip_uri(uri: str, limit: int = 300) -> str:
    return uri if len(uri) <= limit else f"{uri[:limit]}...[{len(uri)} chars]"


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


class Fetcher:
    """Policy-checked reads from S3, the local file root, or allow-listed http(s) hosts.

    ``policy`` is the ``fetch`` settings section; ``file_root`` the resolved
    root of ``file://`` URIs (:attr:`Settings.file_root`), ``documents_bucket``
    the bucket allowed when ``policy.allowed_buckets`` is empty, ``max_bytes`` /
    ``max_pixels`` the document limits (``ocr.max_object_bytes`` /
    ``ocr.max_pixels``). The object store is ``store``, or opened by
    ``open_store`` on the first ``s3://`` read. :meth:`from_settings` builds
    the worker's fetcher from the whole settings.
    """

    def __init__(self, policy: FetchSettings, *, file_root: Path, documents_bucket: str, max_bytes: int,
                 max_pixels: int, store: Any | None = None, open_store: Callable[[], Any] | None = None,
                 resolver: Resolver = default_resolver) -> None:
        self.schemes = {x.lower() for x in policy.allowed_schemes}
        self.buckets = set(policy.allowed_buckets) or {documents_bucket}
        self.http_hosts = {h.lower() for h in policy.allowed_http_hosts}
        self.root = file_root
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self._store = store
        self._open_store = open_store
        self.resolver = resolver

    @classmethod
    def from_settings(cls, settings: Settings, store: Any | None = None,
                      resolver: Resolver = default_resolver) -> "Fetcher":
        """The fetcher of ``settings``: its ``fetch`` section, file root, documents bucket and ``ocr`` limits."""

        def open_store() -> Any:
            from ocrstream.objectstore import ObjectStore

            return ObjectStore(settings)

        return cls(settings.fetch, file_root=settings.file_root, documents_bucket=settings.s3.documents_bucket,
                   max_bytes=settings.ocr.max_object_bytes, max_pixels=settings.ocr.max_pixels, store=store,
                   open_store=open_store, resolver=resolver)

    @property
    def store(self) -> Any:
        if self._store is None:
            if self._open_store is None:
                raise RuntimeError("this Fetcher has no object store")
            self._store = self._open_store()
        return self._store

    # ------------------------------------------------------------------ policy
    def check(self, uri: str) -> tuple[str, Any]:
        """Validate ``uri``; returns ``(scheme, target)`` or raises :class:`FetchRefused`.

        A URI that cannot be parsed (bad IPv6 literal, port, percent-escape to
        a control character, ...) is refused too: malformed input is permanent.
        """
        try:
            return self._check(uri)
        except (FetchRefused, ObjectMissing, FetchUnavailable):
            raise
        except (ValueError, UnicodeError) as exc:
            raise FetchRefused(f"malformed URI {clip_uri(uri)!r}: {exc}") from exc

    def _check(self, uri: str) -> tuple[str, Any]:
        if not uri or _has_control(uri):
            raise FetchRefused(f"invalid URI {clip_uri(uri)!r}")
        parts = urlsplit(uri)
        scheme = parts.scheme.lower()
        if scheme not in self.schemes:
            raise FetchRefused(f"scheme {scheme or '(none)'!r} is not allowed (allowed: {sorted(self.schemes)})")
        if scheme == "s3":
            bucket, key = parse_s3_uri(uri)
            if bucket not in self.buckets:
                raise FetchRefused(f"bucket {bucket!r} is not allowed (allowed: {sorted(self.buckets)})")
            if not key or _has_control(key) or any(seg in ("..", ".") for seg in key.split("/")):
                raise FetchRefused(f"invalid object key {clip_uri(key)!r}")
            return scheme, (bucket, key)
        if scheme == "file":
            return scheme, self._check_file(parts.netloc, parts.path)
        if scheme in ("http", "https"):
            return scheme, self._check_http(parts)
        raise FetchRefused(f"scheme {scheme!r} has no fetcher")

    def _check_file(self, netloc: str, raw_path: str) -> Path:
        if netloc not in ("", "localhost"):
            raise FetchRefused(f"file URI with host {netloc!r} is not allowed")
        path = unquote(raw_path, errors="strict")
        if _has_control(path):
            raise FetchRefused(f"file path with a NUL or control character: {clip_uri(path)!r}")
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
        try:
            mode = resolved.stat().st_mode
        except OSError as exc:
            raise FetchRefused(f"cannot stat {path}: {exc.strerror}") from exc
        if not stat.S_ISREG(mode):
            raise FetchRefused(f"{path} is not a regular file ({_file_kind(mode)})")
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
        return ObjectTooLarge(f"{uri} is {size} bytes > limit {self.max_bytes}")

    def _get_s3(self, bucket: str, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            data = self.store.get(bucket, key, max_bytes=self.max_bytes)  # ObjectMissing when it is not there
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
        # O_NONBLOCK: a FIFO or device swapped in after the stat() check must not block
        # the open (nor, below, the read: it is refused by fstat before any read).
        flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(path, flags)
        except FileNotFoundError as exc:
            raise ObjectMissing(f"file {path} does not exist") from exc
        except OSError as exc:  # ELOOP: swapped for a symlink after the check; ENXIO: FIFO without writer
            raise FetchRefused(f"cannot open {path}: {exc.strerror}") from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise FetchRefused(f"{path} is not a regular file ({_file_kind(st.st_mode)})")
            if st.st_size > self.max_bytes:
                raise self._too_large(f"file://{path}", st.st_size)
            chunks: list[bytes] = []
            size = 0
            while size <= self.max_bytes:
                chunk = os.read(fd, min(1 << 20, self.max_bytes + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:  # EISDIR, EIO: permanent for this reference
            raise FetchRefused(f"cannot read {path}: {exc.strerror}") from exc
        finally:
            os.close(fd)
        data = b"".join(chunks)
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
        if not data or media.sniff(data) == media.PDF:
            return
        from PIL import Image

        try:
            with Image.open(io.BytesIO(data)) as im:  # lazy: parses the header only
                w, h = im.size
        except Image.DecompressionBombError as exc:
            raise ImageTooLarge(f"{uri}: {exc}") from exc
        except Exception:  # noqa: BLE001 - not an image Pillow knows; the OCR stage decides
            return
        if w * h > self.max_pixels:
            raise ImageTooLarge(f"{uri}: image is {w}x{h} = {w * h} pixels > limit {self.max_pixels}")
