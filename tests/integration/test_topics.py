"""Topics are defined once and created idempotently with explicit configs."""

from __future__ import annotations

import pytest
from confluent_kafka.admin import ConfigResource

from ocrstream.codec import RegistryCodec, make_serde, CodecError
from ocrstream.kafka import admin_client, producer_config
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


def test_producers_are_idempotent_acks_all(settings=None) -> None:
    from ocrstream.settings import Settings

    cfg = producer_config(Settings())
    assert cfg["acks"] == "all" and cfg["enable.idempotence"] is True


def test_registry_url_selects_confluent_serializer() -> None:
    serde = make_serde("DocumentRef", "http://127.0.0.1:9")  # nothing listens on port 9
    assert isinstance(serde, RegistryCodec)
    with pytest.raises(CodecError, match="cannot encode DocumentRef"):
        serde.encode({"document_id": "x"}, topic="t")
