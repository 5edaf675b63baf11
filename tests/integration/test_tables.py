"""The one definition of the windows/documents columns (ocrstream/tables.py) is the migrated schema."""

from __future__ import annotations

import pytest

from ocrstream.clickhouse import connect, migrate
from ocrstream.tables import DOCUMENT_COLUMNS, WINDOW_COLUMNS
from tests.support.streams import stream_settings

pytestmark = pytest.mark.integration


def test_tables_match_the_migrated_clickhouse_schema(settings):
    client = connect(stream_settings(settings))
    migrate(client)
    for table, columns in (("windows", WINDOW_COLUMNS), ("documents", DOCUMENT_COLUMNS)):
        described = [(r[0], r[1]) for r in client.query(f"DESCRIBE TABLE {table}").result_rows]
        assert described == [(c.name, c.type) for c in columns], table
    # rows written before the status column existed read as what they were
    client.command("INSERT INTO windows (business_id, granularity, window_start, window_end, is_final, version) "
                   "VALUES ('old', 'minute', 0, 60000, 1, 1), ('old', 'minute', 60000, 120000, 0, 1)")
    rows = client.query("SELECT is_final, status FROM windows FINAL WHERE business_id = 'old' ORDER BY window_start")
    assert rows.result_rows == [(1, "final"), (0, "current")]
