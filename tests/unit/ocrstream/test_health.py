"""The health registry: one report of every registered stage, a raising check is an unhealthy stage."""

from __future__ import annotations

from ocrstream import health


def test_health_registry_report_and_failing_check() -> None:
    registry = health.HealthRegistry()
    assert registry.report() == {"ok": True, "stages": {}}
    registry.register("a", lambda: health.StageHealth(True, {"assigned": [0, 1]}))
    registry.register("b", lambda: 1 / 0)  # a check that raises is an unhealthy stage
    report = registry.report()
    assert report["ok"] is False and report["stages"]["a"] == {"ok": True, "assigned": [0, 1]}
    assert report["stages"]["b"]["ok"] is False and "division by zero" in report["stages"]["b"]["reason"]
    registry.unregister("b")
    assert registry.report()["ok"] is True
