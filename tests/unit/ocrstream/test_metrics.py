"""ocrstream.metrics: the Prometheus text format and consumer lag."""

from __future__ import annotations

import pytest

from ocrstream import metrics as M


def test_metrics_registry_format() -> None:
    reg = M.Registry()
    c = reg.counter("x_total", "help", ("k",))
    c.inc(2, k='a"b')
    g = reg.gauge("y", "help")
    g.set(1.5)
    h = reg.histogram("z_seconds", "help", (), buckets=(1, 2))
    for v in (0.5, 1.5, 3):
        h.observe(v)
    text = reg.render()
    assert 'x_total{k="a\\"b"} 2' in text and "y 1.5" in text
    assert 'z_seconds_bucket{le="1"} 1' in text and 'z_seconds_bucket{le="2"} 2' in text
    assert 'z_seconds_bucket{le="+Inf"} 3' in text and "z_seconds_count 3" in text and "z_seconds_sum 5" in text
    with pytest.raises(ValueError):
        c.inc(-1, k="a")
    with pytest.raises(ValueError):
        c.inc(k="a", other="b")
    assert reg.counter("x_total", "help", ("k",)) is c


def test_update_lag_from_a_confluent_style_consumer() -> None:
    """Lag = high watermark cached from the last fetch - position; revoked partitions are dropped."""

    class TP:
        def __init__(self, topic: str, partition: int, offset: int = -1001) -> None:
            self.topic, self.partition, self.offset = topic, partition, offset

    class FakeConsumer:
        def assignment(self) -> list[TP]:
            return [TP("lag-topic", 0), TP("lag-topic", 1), TP("lag-topic", 2)]

        def position(self, tps: list[TP]) -> list[TP]:
            return [TP(t.topic, t.partition, {0: 40, 1: -1001, 2: 5}[t.partition]) for t in tps]

        def get_watermark_offsets(self, tp: TP, cached: bool = False) -> tuple[int, int]:
            assert cached, "must not ask the broker (ListOffsets is wrong on Tansu)"
            return {0: (0, 100), 1: (0, 7), 2: (-1001, -1001)}[tp.partition]

    M.update_lag_from_consumer(FakeConsumer(), "lag-group")
    assert M.CONSUMER_LAG.value(group="lag-group", topic="lag-topic", partition="0") == 60
    assert M.CONSUMER_LAG.value(group="lag-group", topic="lag-topic", partition="1") == 7  # no position yet
    assert M.CONSUMER_LAG.value(group="lag-group", topic="lag-topic", partition="2") is None  # no fetch yet
    M.forget_partition("lag-group", "lag-topic", 0)
    assert M.CONSUMER_LAG.value(group="lag-group", topic="lag-topic", partition="0") is None
