"""Fetch-stage policy (no network): schemes, buckets, file root, symlinks, SSRF, limits."""

from __future__ import annotations

import os

import pytest

from ocrstream.errors import ImageTooLarge, ObjectMissing, ObjectTooLarge, classify_error
from ocrstream.settings import Settings
from streams.fetch import Fetcher, FetchRefused, is_public_ip


@pytest.fixture
def fetcher(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "a.txt").write_bytes(b"hello")
    (tmp_path / "outside.txt").write_bytes(b"secret")
    os.symlink(tmp_path / "outside.txt", root / "escape.txt")
    os.symlink(root / "a.txt", root / "inside.txt")
    s = Settings().with_overrides(**{
        "fetch.file_root": str(root), "fetch.allowed_schemes": ["file", "s3", "https", "http"],
        "fetch.allowed_http_hosts": ["docs.example.com", "internal.example.com"],
        "ocr.max_object_bytes": 1000, "ocr.max_pixels": 10_000,
    })
    addresses = {"docs.example.com": ["93.184.216.34"], "internal.example.com": ["10.0.0.5", "93.184.216.34"]}
    return Fetcher.from_settings(s, resolver=lambda host, port: addresses[host]), root


def test_file_inside_root(fetcher):
    f, root = fetcher
    assert f.fetch(f"file://{root}/a.txt").data == b"hello"
    assert f.fetch(f"file://{root}/inside.txt").data == b"hello"  # symlink within the root is fine


@pytest.mark.parametrize("uri_tail", ["/../outside.txt", "/sub/../../outside.txt", "/%2e%2e/outside.txt"])
def test_path_traversal_refused(fetcher, uri_tail):
    f, root = fetcher
    with pytest.raises(FetchRefused):
        f.fetch(f"file://{root}{uri_tail}")


def test_symlink_escape_and_outside_refused(fetcher):
    f, root = fetcher
    with pytest.raises(FetchRefused, match="symlink escape"):
        f.fetch(f"file://{root}/escape.txt")
    with pytest.raises(FetchRefused, match="outside the file root"):
        f.fetch("file:///etc/passwd")
    with pytest.raises(FetchRefused):
        f.fetch(f"file://otherhost{root}/a.txt")


def test_missing_file_is_permanent(fetcher):
    f, root = fetcher
    with pytest.raises(ObjectMissing) as err:
        f.fetch(f"file://{root}/nope.txt")
    assert classify_error(err.value) == "permanent"


@pytest.mark.parametrize("uri", ["ftp://x/y", "gopher://x", "data:text/plain,hi", "", "file:///\x00"])
def test_scheme_refused(fetcher, uri):
    with pytest.raises(FetchRefused):
        fetcher[0].check(uri)


def test_bucket_allow_list(fetcher):
    f, _ = fetcher
    assert f.check("s3://ocrstream-documents/sha256/ab/x.png") == ("s3", ("ocrstream-documents", "sha256/ab/x.png"))
    with pytest.raises(FetchRefused, match="bucket"):
        f.check("s3://ocrstream-broker/topic-data")
    with pytest.raises(FetchRefused):
        f.check("s3://ocrstream-documents/../x")


def test_http_ssrf_guard(fetcher):
    f, _ = fetcher
    assert f.check("https://docs.example.com/a.png")[1][4] == ["93.184.216.34"]
    with pytest.raises(FetchRefused, match="allow-listed"):
        f.check("http://169.254.169.254/latest/meta-data/")
    with pytest.raises(FetchRefused, match="allow-listed"):
        f.check("http://127.0.0.1:8333/")
    with pytest.raises(FetchRefused, match="SSRF"):  # one private address is enough to refuse
        f.check("http://internal.example.com/x")
    with pytest.raises(FetchRefused, match="credentials"):
        f.check("http://user:pw@docs.example.com/x")


@pytest.mark.parametrize("ip,public", [("127.0.0.1", False), ("169.254.169.254", False), ("10.1.2.3", False),
                                       ("::1", False), ("::ffff:127.0.0.1", False), ("0.0.0.0", False),
                                       ("fd00:ec2::254", False), ("93.184.216.34", True), ("2606:4700::1", True),
                                       # 6to4 / Teredo / NAT64 / IPv4-compatible forms of internal addresses
                                       ("2002:7f00:1::1", False), ("2002:a9fe:a9fe::1", False),
                                       ("2002:0a00:0001::1", False), ("2002:5db8:d822::1", True),
                                       ("2001:0:4136:e378:8000:63bf:80ff:fffe", False), ("64:ff9b::7f00:1", False),
                                       ("64:ff9b::a9fe:a9fe", False), ("::127.0.0.1", False),
                                       ("::ffff:93.184.216.34", True), ("not-an-ip", False)])
def test_is_public_ip(ip, public):
    assert is_public_ip(ip) is public


def test_size_and_pixel_limits(fetcher, tmp_path):
    f, root = fetcher
    (root / "big.bin").write_bytes(b"x" * 1001)
    with pytest.raises(ObjectTooLarge):
        f.fetch(f"file://{root}/big.bin")
    from tests.support.media import png_header_bomb

    (root / "bomb.png").write_bytes(png_header_bomb(200, 200))  # 40,000 px > 10,000
    with pytest.raises(ImageTooLarge):
        f.fetch(f"file://{root}/bomb.png")
    assert classify_error(ImageTooLarge("x")) == "permanent"


def test_http_host_resolving_to_6to4_loopback_is_refused(tmp_path):
    s = Settings().with_overrides(**{"fetch.allowed_schemes": ["http"], "fetch.allowed_http_hosts": ["cdn.example.com"]})
    f = Fetcher.from_settings(s, resolver=lambda host, port: ["2002:7f00:1::1"])
    with pytest.raises(FetchRefused, match="SSRF"):
        f.check("http://cdn.example.com/a.png")
    literal = Fetcher.from_settings(Settings().with_overrides(**{
        "fetch.allowed_schemes": ["http"], "fetch.allowed_http_hosts": ["2002:7f00:1::1"]}))
    with pytest.raises(FetchRefused, match="SSRF"):
        literal.check("http://[2002:7f00:1::1]:8333/x")


def test_fifo_directory_and_device_are_refused_at_once_without_blocking(fetcher):
    """A FIFO must not block the worker (no open before the check; O_NONBLOCK after it)."""
    import threading

    f, root = fetcher
    os.mkfifo(root / "pipe.png")
    (root / "folder.png").mkdir()
    os.symlink("/dev/zero", root / "zero.png")  # device behind a symlink: outside the root anyway
    outcome: dict[str, BaseException] = {}

    def run() -> None:
        for name in ("pipe.png", "folder.png", "zero.png"):
            try:
                f.fetch(f"file://{root}/{name}")
            except BaseException as exc:  # noqa: BLE001 - recorded for the asserts
                outcome[name] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(20)
    assert not t.is_alive(), "fetching a FIFO blocked"
    assert isinstance(outcome["pipe.png"], FetchRefused) and "FIFO" in str(outcome["pipe.png"])
    assert isinstance(outcome["folder.png"], FetchRefused) and "directory" in str(outcome["folder.png"])
    assert isinstance(outcome["zero.png"], FetchRefused)
    assert all(classify_error(e) == "permanent" for e in outcome.values())


def test_fifo_swapped_in_after_the_check_does_not_block(fetcher):
    """The race: stat() saw a regular file, open() meets a FIFO - O_NONBLOCK + fstat refuse it."""
    f, root = fetcher
    path = root / "swap.png"
    os.mkfifo(path)
    with pytest.raises(FetchRefused, match="FIFO"):
        f._read_file(path)


@pytest.mark.parametrize("uri", [
    "file://{root}/a%00.txt", "file://{root}/%0a.txt", "file://{root}/%ff%fe.txt", "s3://ocrstream-documents/a%00b",
    "http://[::1/x", "http://docs.example.com:99999/x", "http://docs.example.com:port/x",
])
def test_malformed_uris_are_permanent_at_once(fetcher, uri):
    f, root = fetcher
    with pytest.raises(FetchRefused) as err:
        f.fetch(uri.format(root=root))
    assert classify_error(err.value) == "permanent"
    assert "\n" not in str(err.value)
