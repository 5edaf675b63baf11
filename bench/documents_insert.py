"""What ClickHouse's insert of the sink's ``documents`` rows costs, per row, in-process (chDB).

    .venv/bin/python bench/documents_insert.py [--rows 20000] [--rounds 5]

The sink (:class:`streams.writers.DocumentWriter`) sends each flush as one Avro object
container into ``documents_avro`` (Null engine), whose materialized view fills
``documents`` (migration 011). This bench builds such a container from ``--rows`` generated
``OcrResult`` events (the events of ``bench/aggregate.py``) in a fresh chDB directory and
times, interleaved over ``--rounds``, three inserts of the same bytes:

1. ``parse``: into a Null table of the ``documents_avro`` shape with no view (Avro parsing
   and the CHECK constraints only) — the baseline;
2. ``view``: into a Null-engine source whose copy of the view writes into a Null table
   shaped like ``documents`` (parsing + the view's casts and JSON);
3. ``full``: into ``documents_avro`` itself (parsing, view, the ``documents`` MergeTree write).

Wall time and process CPU per row (medians), and each as a ratio to the baseline. Last line:
``RESULT parse_us_per_row=.. view_us_per_row=.. full_us_per_row=.. full_cpu_us_per_row=.. full_vs_parse=..``.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from aggregate import events
    from ocrstream.avro_prefix import container
    from ocrstream.clickhouse import connect, migrate
    from ocrstream.codec import HEADER_LEN, load_schema, make_serde
    from streams.writers import DocumentWriter
    from tests.support.backends import local_settings

    settings = local_settings(Path(tempfile.mkdtemp(prefix="ocrstream-insert-bench-")))
    client = connect(settings, database="insert_bench")
    migrate(client)
    serde = make_serde("OcrResult")
    values = [serde.encode(e, "bench") for e in events(args.rows, seed=1)]
    writer = DocumentWriter(client, load_schema("OcrResult"))
    writer.add(0, [(i, memoryview(v)[HEADER_LEN:]) for i, v in enumerate(values)], set(), set())
    batch = writer.take()
    assert batch is not None
    blob = container(writer.row_schema, batch.chunks, batch.n)
    n = batch.n

    view_sql = client.command("SELECT as_select FROM system.tables WHERE database = currentDatabase() "
                              "AND name = 'documents_avro_mv'")
    client.command("CREATE TABLE parse_only AS documents_avro ENGINE = Null")
    client.command("CREATE TABLE view_source AS documents_avro ENGINE = Null")
    client.command("CREATE TABLE view_sink AS documents ENGINE = Null")
    client.command("CREATE MATERIALIZED VIEW view_mv TO view_sink AS "
                   + view_sql.replace("documents_avro", "view_source"))
    targets = {"parse": "parse_only", "view": "view_source", "full": "documents_avro"}

    def insert(table: str) -> tuple[float, float]:
        c0, t0 = cpu_s(), time.perf_counter()
        client.raw_insert(table, None, blob, fmt="Avro")
        return (time.perf_counter() - t0) / n * 1e6, (cpu_s() - c0) / n * 1e6

    for table in targets.values():  # warm-up
        insert(table)
    wall: dict[str, list[float]] = {k: [] for k in targets}
    cpu: dict[str, list[float]] = {k: [] for k in targets}
    for _ in range(args.rounds):
        for name, table in targets.items():
            w, c = insert(table)
            wall[name].append(w)
            cpu[name].append(c)
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"{n:,} rows per insert, {len(blob) / n:.0f} bytes per row, {args.rounds} rounds interleaved")
    for name in targets:
        print(f"{name:6s} wall {med[name]:5.1f} us/row  cpu {med_cpu[name]:5.1f} us/row  "
              f"x{med[name] / med['parse']:.2f} of parse   {[round(x, 1) for x in wall[name]]}")
    print(f"RESULT parse_us_per_row={med['parse']:.1f} view_us_per_row={med['view']:.1f} "
          f"full_us_per_row={med['full']:.1f} full_cpu_us_per_row={med_cpu['full']:.1f} "
          f"full_vs_parse={med['full'] / med['parse']:.2f}")


if __name__ == "__main__":
    main()
