"""Topics are defined once and created idempotently with explicit configs."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import ConfigResource

from ocrstream.kafka import admin_client
from ocrstream.topics import ALL_TOPICS, ensure_topics


@pytest.mark.integration
def test_ensure_topics_is_idempotent_with_explicit_configs(settings) -> None:
    created = ensure_topics(settings)
    assert sorted(created) == sorted(settings.topic(t.short_name) for t in ALL_TOPICS)
    assert ensure_topics(settings) == []
    admin = admin_client(settings)
    meta = admin.list_topics(timeout=10).topics
    for spec in ALL_TOPICS:
        name = settings.topic(spec.short_name)
        assert len(meta[name].partitions) == settings.kafka.partitions
    res = ConfigResource(ConfigResource.Type.TOPIC, settings.topic("windows"))
    configs = admin.describe_configs([res])[res].result(timeout=10)
    assert configs["cleanup.policy"].value == "compact"
    assert int(configs["retention.ms"].value) > 0
