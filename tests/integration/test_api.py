"""HTTP API: every endpoint, auth scopes, bad parameters, SQL injection, metrics, ``serve``.

Rows are inserted straight into the session chDB (``windows``/``documents``/
``dead_letters``) under business ids unique to each test; the app is driven
in-process with FastAPI's TestClient (the same shared chDB client).
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from serving.server import free_port
from fastapi.testclient import TestClient

from ocrstream import metrics as M
from ocrstream.clickhouse import connect
from serving import create_app
from serving import sample

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
INJECTIONS = [
    "' OR 1=1 --",
    "x'); DROP TABLE windows; --",
    "\\' OR '1'='1",
    "{business_id:String}",
    "1; SELECT * FROM system.tables",
    "minute' UNION SELECT name FROM system.tables --",
    "`windows`",
    "%27%20OR%201%3D1",
    "\u0000",
    "é\u202e' --",
]


def uid(prefix: str = "b") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def ch(stack: Any) -> Any:
    return connect(stack.settings)


def make_client(stack: Any, ch: Any, tokens: dict[str, list[str]] | None = None, **api: Any) -> TestClient:
    overrides = {"api.tokens": tokens or {}, "api.cache_ttl_s": 0.0, **{f"api.{k}": v for k, v in api.items()}}
    settings = stack.settings.with_overrides(**overrides)
    return TestClient(create_app(settings, ch))


@pytest.fixture
def api(stack: Any, ch: Any) -> TestClient:
    with make_client(stack, ch) as client:
        yield client


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


# ---------------------------------------------------------------- aggregates


def test_aggregates_columnar_compare_and_bounds(api: TestClient, ch: Any) -> None:
    a, b = uid(), uid()
    sample.insert_windows(ch, sample.window_rows(a, T0, 30))
    sample.insert_windows(ch, sample.window_rows(b, T0 + timedelta(minutes=5), 10))
    end = T0 + timedelta(minutes=20)  # exclusive: the window starting at 10:20 is out
    r = api.get("/api/aggregates", params={"business_id": [b, a], "start": T0.isoformat(), "end": ms(end)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["granularity"] == "minute" and body["start_ms"] == ms(T0) and body["end_ms"] == ms(end)
    assert [s["business_id"] for s in body["series"]] == [b, a]  # request order
    sb, sa = body["series"]
    assert sa["points"] == 20 and sb["points"] == 10
    assert sa["window_start"] == [ms(T0 + timedelta(minutes=i)) for i in range(20)]
    assert sa["window_end"][0] == ms(T0 + timedelta(minutes=1))
    assert sa["document_count"] == list(range(1, 21))
    assert sa["total_amount"][4] == 50.0
    assert sa["type_counts"][5] == {"receipt": 4, "invoice": 2}
    assert sa["late_events"][:4] == [0, 1, 0, 1]
    assert sa["ocr_seconds_p95"][0] == pytest.approx(0.5)
    for metric in body["metrics"]:
        assert len(sa[metric]) == 20, metric


def test_aggregates_hour_granularity_and_final_wins(api: TestClient, ch: Any) -> None:
    a = uid()
    sample.insert_windows(ch, sample.window_rows(a, T0, 3, "hour", is_final=0, version=1))
    final = sample.window_rows(a, T0, 1, "hour", is_final=1, version=2)
    final[0][4] = 99  # document_count of the final row
    sample.insert_windows(ch, final)
    r = api.get("/api/aggregates", params={"business_id": a, "start": "2024-05-01", "end": "2024-05-02",
                                           "granularity": "hour"})
    s = r.json()["series"][0]
    assert s["points"] == 3
    assert s["document_count"][0] == 99 and s["is_final"] == [1, 0, 0]
    # minute granularity of the same business: nothing
    r = api.get("/api/aggregates", params={"business_id": a, "start": "2024-05-01", "end": "2024-05-02"})
    assert r.json()["series"][0]["points"] == 0


def test_aggregates_unknown_business_gives_empty_series(api: TestClient) -> None:
    r = api.get("/api/aggregates", params={"business_id": uid()})
    assert r.status_code == 200
    (s,) = r.json()["series"]
    assert s["points"] == 0 and s["window_start"] == [] and s["document_count"] == []


def test_aggregates_cache_serves_repeats(stack: Any, ch: Any) -> None:
    a = uid()
    sample.insert_windows(ch, sample.window_rows(a, T0, 5))
    params = {"business_id": a, "start": "2024-05-01", "end": "2024-05-02"}
    with make_client(stack, ch, cache_ttl_s=60.0) as client:
        first = client.get("/api/aggregates", params=params).json()
        sample.insert_windows(ch, sample.window_rows(a, T0 + timedelta(minutes=5), 1))
        assert client.get("/api/aggregates", params=params).json() == first  # cached
        cache = client.app.state.series_cache
        assert cache.hits >= 1
        cache.clear()
        assert client.get("/api/aggregates", params=params).json()["series"][0]["points"] == 6


# ---------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"start": "2024-05-02", "end": "2024-05-01"}, "must be after start"),
        ({"start": "2024-05-01", "end": "2024-05-01"}, "must be after start"),
        ({"granularity": "day"}, "'minute' or 'hour'"),
        ({"start": "2024-01-01", "end": "2024-03-01"}, "range too large"),
        ({"start": "yesterday"}, "ISO 8601"),
        ({"end": "2024-13-45"}, "ISO 8601"),
        ({"start": "99999999999999999"}, "epoch"),
        ({"start": "0001-01-01"}, "outside 1970"),
    ],
)
def test_bad_parameters_are_422_with_message(api: TestClient, params: dict[str, str], fragment: str) -> None:
    r = api.get("/api/aggregates", params={"business_id": "x", **params})
    assert r.status_code == 422, r.text
    assert fragment in r.text


def test_more_bad_parameters(api: TestClient) -> None:
    assert api.get("/api/aggregates").status_code == 422  # business_id missing
    r = api.get("/api/aggregates", params={"business_id": ""})
    assert r.status_code == 422 and "business_id" in r.text
    r = api.get("/api/aggregates", params={"business_id": [f"b{i}" for i in range(21)]})
    assert r.status_code == 422 and "at most 20" in r.text
    r = api.get("/api/aggregates", params={"business_id": "x" * 201})
    assert r.status_code == 422
    r = api.get("/api/documents", params={"limit": 100000})
    assert r.status_code == 422 and "limit" in r.text
    assert api.get("/api/documents", params={"limit": 0}).status_code == 422
    assert api.get("/api/documents", params={"limit": "ten"}).status_code == 422
    assert api.get("/api/documents/x/image", params={"exp": "soon"}).status_code == 422


# ---------------------------------------------------------------- businesses & documents


def test_businesses_lists_hour_window_owners(api: TestClient, ch: Any) -> None:
    a = uid()
    sample.insert_windows(ch, sample.window_rows(a, T0, 2, "hour"))
    rows = {b["business_id"]: b for b in api.get("/api/businesses").json()["businesses"]}
    assert rows[a]["documents"] == 3 and rows[a]["hour_windows"] == 2
    assert rows[a]["last_window_end"] == ms(T0 + timedelta(hours=2))


def test_documents_list_filter_and_detail(api: TestClient, ch: Any) -> None:
    a = uid()
    rows = [sample.document_row(f"{a}-d{i}", a, T0 + timedelta(minutes=i), doc_type="receipt" if i % 2 else "invoice",
                                text=f"line one {i}\n" + "x" * 400, is_late=int(i == 3)) for i in range(6)]
    sample.insert_documents(ch, rows)
    r = api.get("/api/documents", params={"business_id": a, "start": "2024-05-01", "end": "2024-05-02"})
    assert r.status_code == 200, r.text
    docs = r.json()["documents"]
    assert [d["document_id"] for d in docs] == [f"{a}-d{i}" for i in range(5, -1, -1)]  # newest first
    assert docs[0]["text_chars"] > len(docs[0]["text_preview"]) == 300
    assert docs[2]["is_late"] is True and docs[0]["event_time"] == "2024-05-01T10:05:00.000Z"
    assert docs[0]["image_url"].startswith(f"/api/documents/{a}-d5/image?exp=")
    r = api.get("/api/documents", params={"business_id": a, "type": "invoice", "limit": 2,
                                          "start": "2024-05-01", "end": "2024-05-02"})
    assert [d["document_id"] for d in r.json()["documents"]] == [f"{a}-d4", f"{a}-d2"]
    # the [start, end) bound on event_time
    r = api.get("/api/documents", params={"business_id": a, "start": ms(T0 + timedelta(minutes=1)),
                                          "end": ms(T0 + timedelta(minutes=3))})
    assert [d["document_id"] for d in r.json()["documents"]] == [f"{a}-d2", f"{a}-d1"]

    detail = api.get(docs[0]["url"]).json()
    assert detail["text"].startswith("line one 5") and detail["engine"] == "onnx"
    assert detail["fields"]["total"] == 12.5 and detail["fields"]["currency"] == "EUR"
    assert detail["field_confidences"]["total"] == pytest.approx(0.95)
    assert detail["line_items"][0]["description"] == "widget"
    assert detail["lines"][0]["text"] == "line one 5"
    assert set(detail["timings_s"]) == {"fetch", "classify", "ocr", "extract"}
    assert api.get(f"/api/documents/{uid('nodoc')}").status_code == 404


def test_document_image_from_s3_and_file(stack: Any, ch: Any, tmp_path: Path) -> None:
    from ocrstream.objectstore import ObjectStore
    from ocrstream.uris import s3_uri

    a, b = uid(), uid()
    settings = stack.settings
    store = ObjectStore(settings)
    key = f"test/{a}.png"
    payload = b"\x89PNG\r\n\x1a\n" + os.urandom(300_000)
    store.put(settings.s3.documents_bucket, key, payload, "image/png")
    odd_key = f"test/{a} reçu 100%#1?.png"  # what the bridge may see: read back as the fetch stage reads it
    store.put(settings.s3.documents_bucket, odd_key, payload[:1000], "image/png")
    file_root = settings.file_root
    file_root.mkdir(parents=True, exist_ok=True)
    jpeg = b"\xff\xd8\xff\xe0" + os.urandom(64)
    (file_root / f"{a}.jpg").write_bytes(jpeg)
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    sample.insert_documents(ch, [
        sample.document_row(f"{a}-s3", a, T0, uri=f"s3://{settings.s3.documents_bucket}/{key}"),
        sample.document_row(f"{a}-file", a, T0, uri=(file_root / f"{a}.jpg").as_uri()),
        sample.document_row(f"{a}-odd", a, T0, uri=s3_uri(settings.s3.documents_bucket, odd_key)),
        sample.document_row(f"{a}-escape", a, T0, uri=f"file://{file_root}/../../{outside.relative_to('/')}"),
        sample.document_row(f"{a}-outside", a, T0, uri=outside.as_uri()),
        sample.document_row(f"{a}-bucket", a, T0, uri="s3://other-bucket/x.png"),
        sample.document_row(f"{a}-http", a, T0, uri="http://169.254.169.254/latest/meta-data"),
        sample.document_row(f"{b}-s3", b, T0, uri=f"s3://{settings.s3.documents_bucket}/{key}"),
    ])
    with make_client(stack, ch, tokens={"tok-a": [a]}) as api:
        auth = {"Authorization": "Bearer tok-a"}
        docs = {d["document_id"]: d for d in api.get("/api/documents", headers=auth, params={
            "business_id": a, "start": "2024-05-01", "end": "2024-05-02"}).json()["documents"]}
        signed = docs[f"{a}-s3"]["image_url"]
        r = api.get(signed)  # no header: the signed link is the authorisation
        assert r.status_code == 200 and r.content == payload
        assert r.headers["content-type"] == "image/png"
        assert api.get(signed.replace("sig=", "sig=0")).status_code == 401
        assert api.get(f"/api/documents/{a}-s3/image").status_code == 401
        assert api.get(f"/api/documents/{a}-s3/image", headers=auth).content == payload
        # another business's document reads exactly like a missing one
        other = api.get(f"/api/documents/{b}-s3/image", headers=auth)
        missing = api.get(f"/api/documents/{uid('nodoc')}/image", headers=auth)
        assert other.status_code == missing.status_code == 404 and other.json() == missing.json()
        r = api.get(docs[f"{a}-odd"]["image_url"])
        assert r.status_code == 200 and r.content == payload[:1000], r.text
        r = api.get(docs[f"{a}-file"]["image_url"])
        assert r.status_code == 200 and r.content == jpeg and r.headers["content-type"] == "image/jpeg"
        for name in ("escape", "outside", "bucket", "http"):
            r = api.get(docs[f"{a}-{name}"]["image_url"])
            assert r.status_code == 404, (name, r.text)
            assert "secret" not in r.text
        # a link signed for one document does not open another
        exp_sig = signed.split("?", 1)[1]
        assert api.get(f"/api/documents/{b}-s3/image?{exp_sig}").status_code == 401


HTML_PAYLOAD = b"<!doctype html><html><body><script>document.title='pwned'</script></body></html>"
SVG_PAYLOAD = (b'<svg xmlns="http://www.w3.org/2000/svg" onload="document.title=\'pwned\'">'
               b'<script>document.title="pwned"</script></svg>')


def test_image_route_types_objects_by_their_bytes_only(stack: Any, ch: Any) -> None:
    """Stored XSS: the stored ContentType and the suffix never decide what is served."""
    from ocrstream.objectstore import ObjectStore

    a = uid()
    settings = stack.settings
    store, bucket = ObjectStore(settings), settings.s3.documents_bucket
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(2000)
    pdf = b"%PDF-1.4\n" + os.urandom(2000)
    objects = {  # name -> (key, bytes, stored ContentType)
        "html": (f"x/{a}.html", HTML_PAYLOAD, "text/html"),
        "svg": (f"x/{a}.svg", SVG_PAYLOAD, "image/svg+xml"),
        "html-as-png": (f"x/{a}-h.png", HTML_PAYLOAD, "image/png"),
        "png-as-html": (f"x/{a}-p.html", png, "text/html"),
        "pdf-as-html": (f"x/{a}-d.html", pdf, "text/html"),
    }
    for key, data, content_type in objects.values():
        store.put(bucket, key, data, content_type)
    root = settings.file_root
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{a}.html").write_bytes(HTML_PAYLOAD)
    os.mkfifo(root / f"{a}-fifo.png")
    rows = [sample.document_row(f"{a}-{name}", a, T0, uri=f"s3://{bucket}/{key}")
            for name, (key, _, _) in objects.items()]
    rows.append(sample.document_row(f"{a}-file-html", a, T0, uri=(root / f"{a}.html").as_uri()))
    rows.append(sample.document_row(f"{a}-fifo", a, T0, uri=(root / f"{a}-fifo.png").as_uri()))
    sample.insert_documents(ch, rows)
    with make_client(stack, ch) as api:
        for name in ("html", "svg", "html-as-png", "file-html"):
            r = api.get(f"/api/documents/{a}-{name}/image")
            assert r.status_code == 415, (name, r.status_code, r.headers)
            assert b"script" not in r.content and "html" not in r.headers["content-type"], name
        r = api.get(f"/api/documents/{a}-png-as-html/image")
        assert r.status_code == 200 and r.content == png
        assert r.headers["content-type"] == "image/png" and r.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in r.headers["content-security-policy"]
        assert r.headers["content-disposition"].startswith("inline")
        r = api.get(f"/api/documents/{a}-pdf-as-html/image")
        assert r.status_code == 200 and r.content == pdf and r.headers["content-type"] == "application/pdf"
        assert r.headers["content-disposition"].startswith("attachment")
        # a FIFO under the file root is refused at once (opened non-blocking, not a regular file)
        assert api.get(f"/api/documents/{a}-fifo/image").status_code == 404


def test_security_headers_on_every_response(stack: Any, ch: Any) -> None:
    a = uid()
    sample.insert_documents(ch, [sample.document_row(f"{a}-1", a, T0)])
    with make_client(stack, ch, tokens={"tok": ["*"]}) as api:
        h = {"Authorization": "Bearer tok"}
        responses = {
            "dashboard": api.get("/dashboard"), "document view": api.get("/document"),
            "static": api.get("/static/dashboard.js"), "json": api.get("/api/businesses", headers=h),
            "401": api.get("/api/businesses"), "404": api.get(f"/api/documents/{a}-nope", headers=h),
            "422": api.get("/api/aggregates", headers=h), "unknown route": api.get("/nope"),
            "docs": api.get("/docs"), "openapi": api.get("/openapi.json"), "metrics": api.get("/metrics"),
            "healthz": api.get("/healthz"), "config": api.get("/api/config"),
            "redirect": api.get("/", follow_redirects=False),
        }
        for name, r in responses.items():
            assert r.headers.get("x-content-type-options") == "nosniff", name
            csp = r.headers.get("content-security-policy", "")
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp, (name, csp)
            assert r.headers.get("referrer-policy") == "no-referrer", name
        for name in ("dashboard", "document view"):
            csp = responses[name].headers["content-security-policy"]
            assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
        assert "sandbox" in responses["json"].headers["content-security-policy"]
        assert responses["static"].status_code == 200 and responses["dashboard"].status_code == 200


def test_dashboard_session_cookie(stack: Any, ch: Any) -> None:
    """The dashboard trades its token for an HttpOnly SameSite=Strict cookie; bearer tokens still work."""
    from serving.auth import SESSION_COOKIE, Authenticator

    a, b = uid(), uid()
    sample.insert_windows(ch, sample.window_rows(a, T0, 2, "hour"))
    sample.insert_windows(ch, sample.window_rows(b, T0, 2, "hour"))
    with make_client(stack, ch, tokens={"tok-a": [a]}) as api:
        assert api.get("/api/session").json() == {"auth_required": True, "authenticated": False, "businesses": []}
        # a form post (what a cross-site page could send) is refused; so is an unknown token
        assert api.post("/api/session", data={"token": "tok-a"}).status_code == 415
        assert api.post("/api/session", json={"token": "nope"}).status_code == 401
        assert SESSION_COOKIE not in api.cookies
        r = api.post("/api/session", json={"token": "tok-a"})
        assert r.status_code == 200 and r.json()["businesses"] == [a]
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=") and "tok-a" not in cookie
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/" in cookie
        # the cookie alone authorises, with the token's scope
        day = {"start": "2024-05-01", "end": "2024-05-02"}
        assert api.get("/api/aggregates", params={"business_id": a, **day}).status_code == 200
        assert api.get("/api/aggregates", params={"business_id": b, **day}).status_code == 403
        assert [x["business_id"] for x in api.get("/api/businesses").json()["businesses"]] == [a]
        assert api.get("/api/session").json()["authenticated"] is True
        # an explicit bad bearer token is not rescued by the cookie
        assert api.get("/api/businesses", headers={"Authorization": "Bearer nope"}).status_code == 401
        # a tampered cookie is nothing
        value = api.cookies[SESSION_COOKIE]
        api.cookies.clear()
        api.cookies.set(SESSION_COOKIE, value[:-1] + ("0" if value[-1] != "0" else "1"))
        assert api.get("/api/businesses").status_code == 401
        api.cookies.clear()
        api.cookies.set(SESSION_COOKIE, value)
        assert api.get("/api/businesses").status_code == 200
        r = api.delete("/api/session")
        assert r.status_code == 200 and "Max-Age=0" in r.headers["set-cookie"]
        api.cookies.clear()  # what the browser does with that Set-Cookie
        assert api.get("/api/businesses").status_code == 401
    # expiry, and a token removed from the settings ends its sessions
    settings = stack.settings.with_overrides(**{"api.tokens": {"tok-a": [a]}, "api.link_secret": "k"})
    auth = Authenticator(settings.api)
    value, _ = auth.open_session("tok-a", now=1_000_000.0)
    assert auth.scope_for_session(value, now=1_000_010.0) is not None
    assert auth.scope_for_session(value, now=1_000_000.0 + settings.api.session_ttl_s + 1) is None
    later = Authenticator(settings.with_overrides(**{"api.tokens": {"tok-b": [a]}}).api)
    assert later.scope_for_session(value, now=1_000_010.0) is None


def test_document_detail_for_the_document_view(stack: Any, ch: Any) -> None:
    """Fields with where they were read and low-confidence marks, the windows it counts in, page images."""
    import cv2
    import numpy as np

    from ocrstream.objectstore import ObjectStore
    from synth.documents import render_document

    a = uid()
    settings = stack.settings
    page, _ = render_document("receipt", 5)
    png = cv2.imencode(".png", page)[1].tobytes()
    key = f"test/{a}.png"
    ObjectStore(settings).put(settings.s3.documents_bucket, key, png, "application/octet-stream")
    text = "ACME STORE\nWidget 12.50\nSUBTOTAL 10.50\nTAX 2.00\nTOTAL 12.50\nPaid 01/05/2024"
    on_time = sample.document_row(f"{a}-doc", a, T0 + timedelta(seconds=30), text=text,
                                  uri=f"s3://{settings.s3.documents_bucket}/{key}")
    late = sample.document_row(f"{a}-late", a, T0 + timedelta(seconds=40), is_late=1)
    sample.insert_documents(ch, [on_time, late])
    sample.insert_windows(ch, sample.window_rows(a, T0, 1) + sample.window_rows(a, T0, 1, "hour"))
    with make_client(stack, ch, tokens={"tok-a": [a], "tok-b": ["someone-else"]}) as api:
        h = {"Authorization": "Bearer tok-a"}
        d = api.get(f"/api/documents/{a}-doc", headers=h).json()
        ev = {e["name"]: e for e in d["field_evidence"]}
        assert ev["total"]["value"] == 12.5 and ev["total"]["lines"] == [4] and ev["total"]["located"] == "matched"
        assert ev["subtotal"]["lines"] == [2] and ev["tax"]["lines"] == [3] and ev["vendor"]["lines"] == [0]
        assert ev["date"]["lines"] == [5]  # 2024-05-01 printed as 01/05/2024
        assert ev["total"]["boxes"] == [{"page": 0, "box": [0, 80, 200, 98]}]
        assert ev["total"]["low"] is False and ev["subtotal"]["low"] is True  # 0.95 vs no confidence
        assert ev["currency"]["located"] == "none" and d["low_confidence"] == settings.api.low_confidence
        minute, hour = d["windows"]
        assert (minute["granularity"], hour["granularity"]) == ("minute", "hour")
        assert minute["start_ms"] == ms(T0) and minute["end_ms"] == ms(T0 + timedelta(minutes=1))
        assert minute["counted_as"] == "on time" and minute["document_count"] == 1 and minute["is_final"] is True
        assert hour["start_ms"] == ms(T0) and hour["stored"] is True
        late_view = api.get(f"/api/documents/{a}-late", headers=h).json()
        assert [w["counted_as"] for w in late_view["windows"]] == ["late: not in the aggregates"] * 2
        # the page image: PNG in the boxes' pixel space, by signed link or token; scope as for the data
        assert len(d["page_images"]) == 1 and "/pages/0?exp=" in d["page_images"][0]
        r = api.get(d["page_images"][0])
        assert r.status_code == 200 and r.headers["content-type"] == "image/png"
        decoded = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == page.shape  # the source page, pixel for pixel in size
        assert (int(r.headers["x-page-width"]), int(r.headers["x-page-height"])) == (page.shape[1], page.shape[0])
        assert float(np.abs(decoded.astype(int) - page.astype(int)).mean()) < 1.0  # re-encoded losslessly
        assert api.get(f"/api/documents/{a}-doc/pages/0", headers=h).content == r.content
        assert api.get(f"/api/documents/{a}-doc/pages/1", headers=h).status_code == 404
        assert api.get(f"/api/documents/{a}-doc/pages/0").status_code == 401
        # evidence stored by the extractor wins over matching; derived values were read nowhere
        evidence = {"total": {"value": 12.5, "confidence": 0.95, "raw_text": "TOTAL 12.50", "page": 0,
                              "box": [10.0, 500.0, 300.0, 530.0]},
                    "tax": {"value": 2.0, "confidence": 0.5, "raw_text": "", "page": -1, "box": []}}
        sample.insert_documents(ch, [sample.document_row(f"{a}-ev", a, T0, text=text, evidence=evidence,
                                                         page_sizes=[{"width": 800, "height": 1200}])])
        d2 = api.get(f"/api/documents/{a}-ev", headers=h).json()
        ev2 = {e["name"]: e for e in d2["field_evidence"]}
        assert ev2["total"]["located"] == "extraction" and ev2["total"]["raw"] == "TOTAL 12.50"
        assert ev2["total"]["boxes"] == [{"page": 0, "box": [10.0, 500.0, 300.0, 530.0]}]
        assert ev2["tax"]["located"] == "derived" and ev2["tax"]["boxes"] == []
        assert ev2["subtotal"]["located"] == "matched"  # no evidence stored for it
        assert d2["page_sizes"] == [{"width": 800, "height": 1200}]
        hb = {"Authorization": "Bearer tok-b"}
        assert api.get(f"/api/documents/{a}-doc/pages/0", headers=hb).status_code == 404
        assert api.get(f"/api/documents/{a}-doc", headers=hb).status_code == 404


# ---------------------------------------------------------------- auth


def test_auth_scopes(stack: Any, ch: Any) -> None:
    a, b = uid(), uid()
    sample.insert_windows(ch, sample.window_rows(a, T0, 2, "hour"))
    sample.insert_windows(ch, sample.window_rows(b, T0, 2, "hour"))
    sample.insert_documents(ch, [sample.document_row(f"{a}-1", a, T0), sample.document_row(f"{b}-1", b, T0)])
    day = {"start": "2024-05-01", "end": "2024-05-02"}
    with make_client(stack, ch, tokens={"tok-a": [a], "tok-all": ["*"]}) as api:
        ta = {"Authorization": "Bearer tok-a"}
        tall = {"Authorization": "Bearer tok-all"}
        # no token / bad token / wrong scheme: 401 everywhere data is served
        for path in ("/api/aggregates?business_id=" + a, "/api/businesses", "/api/documents",
                     f"/api/documents/{a}-1"):
            assert api.get(path).status_code == 401, path
            assert api.get(path, headers={"Authorization": "Bearer nope"}).status_code == 401
            assert api.get(path, headers={"Authorization": "Basic tok-a"}).status_code == 401
        assert api.get("/api/aggregates", params={"business_id": a, **day}, headers=ta).status_code == 200
        r = api.get("/api/aggregates", params={"business_id": b, **day}, headers=ta)
        assert r.status_code == 403 and b in r.json()["detail"]
        assert api.get("/api/aggregates", params={"business_id": [a, b], **day}, headers=ta).status_code == 403
        assert api.get("/api/aggregates", params={"business_id": [a, b], **day}, headers=tall).status_code == 200
        assert [x["business_id"] for x in api.get("/api/businesses", headers=ta).json()["businesses"]] == [a]
        seen = {x["business_id"] for x in api.get("/api/businesses", headers=tall).json()["businesses"]}
        assert {a, b} <= seen
        # documents: default scope, explicit other business, detail of another business
        docs = api.get("/api/documents", params=day, headers=ta).json()["documents"]
        assert {d["business_id"] for d in docs} == {a}
        assert api.get("/api/documents", params={"business_id": b, **day}, headers=ta).status_code == 403
        # a document of another business: the same 404 as a missing id, nothing named
        other = api.get(f"/api/documents/{b}-1", headers=ta)
        missing = api.get(f"/api/documents/{b}-missing", headers=ta)
        assert other.status_code == missing.status_code == 404
        assert other.content == missing.content and b not in other.text
        assert api.get(f"/api/documents/{b}-1", headers=tall).status_code == 200
        # a business outside the scope: the same 403 whether it exists or not
        r_known = api.get("/api/aggregates", params={"business_id": b, **day}, headers=ta)
        r_unknown = api.get("/api/aggregates", params={"business_id": b + "-nothing", **day}, headers=ta)
        assert r_known.status_code == r_unknown.status_code == 403
        assert r_known.json()["detail"].replace(b, "X") == r_unknown.json()["detail"].replace(b + "-nothing", "X")
        # public routes
        assert api.get("/healthz").status_code == 200
        assert api.get("/metrics").status_code == 200
        cfg = api.get("/api/config").json()
        assert cfg["auth_required"] is True
    with make_client(stack, ch, tokens={"tok-a": [a], "tok-all": ["*"]}, metrics_public=False) as api:
        assert api.get("/metrics").status_code == 401
        assert api.get("/metrics", headers={"Authorization": "Bearer tok-a"}).status_code == 401
        assert api.get("/metrics", headers={"Authorization": "Bearer tok-all"}).status_code == 200


# ---------------------------------------------------------------- SQL injection


def test_sql_injection_in_every_string_parameter(stack: Any, ch: Any) -> None:
    a = uid()
    sample.insert_windows(ch, sample.window_rows(a, T0, 3))
    sample.insert_documents(ch, [sample.document_row(f"{a}-1", a, T0)])
    day = {"start": "2024-05-01", "end": "2024-05-02"}
    with make_client(stack, ch, tokens={"tok": ["*"]}) as api:
        h = {"Authorization": "Bearer tok"}
        for payload in INJECTIONS:
            in_path = quote(payload, safe="")
            requests = [
                ("/api/aggregates", {"business_id": payload, **day}),
                ("/api/aggregates", {"business_id": [a, payload], **day}),
                ("/api/aggregates", {"business_id": a, "start": payload}),
                ("/api/aggregates", {"business_id": a, "end": payload}),
                ("/api/aggregates", {"business_id": a, "granularity": payload}),
                ("/api/documents", {"business_id": payload, **day}),
                ("/api/documents", {"type": payload, **day}),
                ("/api/documents", {"start": payload}),
                ("/api/documents", {"limit": payload}),
                (f"/api/documents/{in_path}", {}),
                (f"/api/documents/{in_path}/image", {}),
                (f"/api/documents/{a}-1/image", {"exp": payload, "sig": payload}),
                (f"/api/documents/{a}-1/image", {"exp": "9999999999", "sig": payload}),
            ]
            for path, params in requests:
                r = api.get(path, params=params, headers=h)
                assert r.status_code < 500, (path, params, r.status_code, r.text)
                if r.status_code == 200 and path == "/api/aggregates":
                    series = r.json()["series"]
                    assert all(s["points"] == 0 for s in series if s["business_id"] != a), (path, params)
                    assert all(s["points"] == 3 for s in series if s["business_id"] == a)
                if r.status_code == 200 and path == "/api/documents":
                    assert r.json()["count"] == 0 or params.get("type") is None, (path, params)
        # the tables are still there and intact
        assert ch.query("SELECT count() FROM windows WHERE business_id = {b:String}",
                        parameters={"b": a}).result_rows[0][0] == 3


# ---------------------------------------------------------------- health, metrics, docs, dashboard


def test_healthz_metrics_openapi_dashboard(stack: Any, ch: Any, api: TestClient) -> None:
    r = api.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert r.json()["embedded"] is stack.settings.clickhouse_dsn.startswith("chdb://")

    stage = uid("stage")
    ch.insert("dead_letters", [["t", 0, 1, stage, "CorruptImage", "bad", 1, T0, T0, "d", "b", "r"],
                               ["t", 0, 2, stage, "CorruptImage", "bad", 1, T0, T0, "d", "b", "r"]],
              column_names=["source_topic", "source_partition", "source_offset", "stage", "error_class",
                            "error_message", "attempts", "first_failure_time", "last_failure_time", "document_id",
                            "business_id", "reference"])
    M.record_consumer_lag("g1", "ocrstream.documents", 3, high_watermark=120, position=100)
    M.EVENTS.inc(5, stage="ocr")
    M.OCR_SECONDS.observe(0.7, engine="onnx")
    M.LATE_EVENTS.inc()
    M.WINDOW_CLOSE_DELAY.observe(12.0, granularity="minute")
    text = api.get("/metrics").text
    assert 'ocrstream_consumer_lag_messages{group="g1",topic="ocrstream.documents",partition="3"} 20' in text
    assert f'ocrstream_stored_dead_letters{{stage="{stage}",error_class="CorruptImage"}} 2' in text
    for name in ("ocrstream_events_total", "ocrstream_events_per_second", "ocrstream_ocr_seconds_bucket",
                 "ocrstream_late_events_total", "ocrstream_window_close_delay_seconds_count",
                 "ocrstream_stored_late_events", "ocrstream_clickhouse_up 1", "ocrstream_api_requests_total",
                 'ocrstream_api_request_seconds_count{route="/healthz"}'):
        assert name in text, name
    assert api.get("/metrics").headers["content-type"].startswith("text/plain")

    spec = api.get("/openapi.json").json()
    for path in ("/api/aggregates", "/api/businesses", "/api/documents", "/api/documents/{document_id}",
                 "/api/documents/{document_id}/image", "/healthz", "/metrics"):
        assert path in spec["paths"], path
    r = api.get("/", follow_redirects=False)
    assert r.status_code in (302, 307) and r.headers["location"].endswith("dashboard")
    page = api.get("/dashboard")
    assert page.status_code == 200 and "uPlot.iife.min.js" in page.text
    assert api.get("/static/vendor/uplot/uPlot.iife.min.js").status_code == 200
    assert api.get("/static/dashboard.js").status_code == 200
    assert api.get("/api/config").json()["auth_required"] is False


# ---------------------------------------------------------------- the CLI command


def test_serve_command_embedded(tmp_path: Path, spawn) -> None:
    """``ocrstream serve`` in its own process owns its own chDB directory and answers."""
    port = free_port()
    env = {**os.environ, "OCRSTREAM_STATE_DIR": str(tmp_path), "OCRSTREAM_API__TOKENS": '{"t": ["*"]}'}
    env.pop("OCRSTREAM_CLICKHOUSE__DSN", None)
    serve = spawn("serve", "--port", str(port), env=env)
    deadline = time.monotonic() + 90
    while True:
        try:
            r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
            if r.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if serve.proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"serve did not come up (rc={serve.proc.poll()}): {serve.output.text(wait_end_s=5)[-2000:]}")
        time.sleep(0.3)
    assert httpx.get(f"http://127.0.0.1:{port}/api/businesses").status_code == 401
    r = httpx.get(f"http://127.0.0.1:{port}/api/businesses", headers={"Authorization": "Bearer t"})
    assert r.status_code == 200 and r.json() == {"businesses": []}
    assert (tmp_path / "clickhouse").is_dir()


def test_serve_metrics_for_processes_without_the_api() -> None:
    server = M.serve_metrics(0, host="127.0.0.1")
    try:
        M.record_consumer_lag("grp", "topic-x", 1, high_watermark=10, position=4)
        port = server.server_address[1]
        r = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert r.status_code == 200
        assert 'ocrstream_consumer_lag_messages{group="grp",topic="topic-x",partition="1"} 6' in r.text
        assert httpx.get(f"http://127.0.0.1:{port}/other", timeout=5).status_code == 404
    finally:
        server.shutdown()
        server.server_close()
