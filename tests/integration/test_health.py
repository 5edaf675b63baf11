"""/healthz reports every stage of the serving process and answers 503 when one died."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ocrstream import health
from ocrstream.clickhouse import connect
from serving import create_app

pytestmark = pytest.mark.integration


class _FakeSinkStats:
    assigned = [0, 2]
    records = 41
    documents = 40
    dead_letters = 1


class _FakeSink:
    group = "health-test-sink"
    stats = _FakeSinkStats()


def test_healthz_goes_unhealthy_when_the_sink_thread_dies(stack: Any) -> None:
    from streams.health_checks import sink_check

    stop = threading.Event()
    error: dict[str, str] = {}

    def run() -> None:
        stop.wait(30)
        error["sink"] = "ClickHouseUnavailable: store gone"

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    health.REGISTRY.register("sink", sink_check(_FakeSink(), thread, lambda: error.get("sink")))
    try:
        client = TestClient(create_app(stack.settings, connect(stack.settings)))
        ok = client.get("/healthz")
        assert ok.status_code == 200, ok.text
        sink = ok.json()["stages"]["sink"]
        assert sink["ok"] is True and sink["thread"] == "alive" and sink["assigned"] == [0, 2]
        assert sink["records"] == 41 and sink["group"] == "health-test-sink"
        stop.set()
        thread.join(10)
        dead = client.get("/healthz")
        assert dead.status_code == 503, dead.text
        body = dead.json()
        assert body["status"] == "unhealthy" and body["clickhouse"] == "ok"
        assert body["stages"]["sink"]["ok"] is False and body["stages"]["sink"]["thread"] == "dead"
        assert "store gone" in body["stages"]["sink"]["reason"]
    finally:
        health.REGISTRY.unregister("sink")


def test_worker_health_endpoint_and_remote_check() -> None:
    """A worker's own /healthz (serve_metrics) and the demo's view of it (remote_check)."""
    from ocrstream.metrics import serve_metrics
    from streams.health_checks import remote_check

    registry_name = "worker"
    state = {"ok": True}
    health.REGISTRY.register(registry_name, lambda: health.StageHealth(
        state["ok"], {"assigned": ["t.documents[0]"], "lag": {"t.documents[0]": 3}},
        reason=None if state["ok"] else "agents stopped"))
    server = serve_metrics(0, host="127.0.0.1")
    url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            report = json.loads(resp.read())
        assert report["ok"] is True and report["stages"]["worker"]["assigned"] == ["t.documents[0]"]
        alive = {"v": True}
        check = remote_check(url, lambda: alive["v"], "worker")
        got = check()
        assert got.ok and got.detail["lag"] == {"t.documents[0]": 3} and got.detail["process"] == "running"
        state["ok"] = False
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url, timeout=5)
        assert err.value.code == 503
        got = check()
        assert not got.ok and got.reason == "agents stopped"
        alive["v"] = False
        got = check()
        assert not got.ok and got.reason == "the worker process exited"
    finally:
        server.shutdown()
        health.REGISTRY.unregister(registry_name)
