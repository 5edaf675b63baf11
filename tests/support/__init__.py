"""Test support shared by unit and integration tests (the one place for test helpers).

* :mod:`tests.support.backends` — the stack a test runs against (local or testcontainers);
* :mod:`tests.support.processes` — child processes: output readers, markers, waiting;
* :mod:`tests.support.streams` — stream settings, event generation, topic reads, reports;
* :mod:`tests.support.faults` — the fault suite's worker/sink harness;
* :mod:`tests.support.media` — crafted image bytes (size-patched JPEGs, PNG header bombs).

Paths: :data:`REPO` (the checkout), :data:`TEST_DATA` (``tests/data``), :data:`SHARED_DATA`
(``../shared/data`` beside the checkout, present on development and CI machines).
"""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TEST_DATA = REPO / "tests" / "data"
SHARED_DATA = REPO.parent / "shared" / "data"
