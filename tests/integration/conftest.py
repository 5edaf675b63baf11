"""Shared fixtures: the real local stack (or testcontainers), settings, clients.

Backends (``OCRSTREAM_TEST_BACKEND``):

* ``local`` (default): Tansu broker + SeaweedFS + chDB started by
  :class:`ocrstream.stack.LocalStack` on free loopback ports under a tmp
  state dir; the broker keeps its log in memory for speed (tests of
  persistence start their own S3-backed stack with ``stack_factory``).
* ``testcontainers``: Apache Kafka, ClickHouse server and MinIO containers;
  skipped with the reason when no Docker engine answers.

chDB allows one data directory per process, so the ClickHouse part of the
stack is session-wide.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.backends import BACKEND, StackHandle, local_settings, start_backend



@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StackHandle]:
    """The session's running stack; ``stack.settings`` points every client at it."""
    handle = start_backend(BACKEND, tmp_path_factory.mktemp("stack"))
    try:
        yield handle
    finally:
        handle.stop()


@pytest.fixture
def settings(stack: StackHandle) -> "object":
    """Settings for one test: the session stack, a unique topic prefix."""
    return stack.settings.with_overrides(**{"kafka.topic_prefix": f"t{uuid.uuid4().hex[:8]}."})


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[Callable[..., StackHandle]]:
    """Start extra local stacks (e.g. S3-backed, restarted); all stopped at teardown."""
    if BACKEND != "local":
        pytest.skip("stack_factory drives the embedded local stack only")
    started: list[StackHandle] = []

    def factory(name: str = "s", **kwargs: object) -> StackHandle:
        from ocrstream.stack import LocalStack

        settings = local_settings(tmp_path / name, **kwargs)  # type: ignore[arg-type]
        handle = StackHandle(settings=settings, stack=LocalStack(settings))
        started.append(handle)
        return handle

    yield factory
    for handle in started:
        handle.stop()
