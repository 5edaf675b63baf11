"""Running ClickHouse queries from async request handlers.

clickhouse-connect clients are blocking. :class:`Database` runs every query
in its own small thread pool so the event loop never blocks and the server's
default thread pool is not flooded:

* chDB (embedded): one thread. clickhouse-connect's chDB backend already
  serializes calls on a handle with a lock (a query issued while another is
  streaming would silently return nothing), and one ClickHouse query already
  uses every core, so more threads only add contention. The sink living in the
  same process shares the client (``ocrstream.clickhouse.connect``) and the
  same handle lock.
* ClickHouse server (HTTP): several threads, provided the client has no
  session id (a session admits one query at a time); otherwise one.

Only parameterized SQL (``{name:Type}`` placeholders, bound server-side) goes
through here: values never become SQL text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from clickhouse_connect.driver.client import Client

T = TypeVar("T")
log = logging.getLogger(__name__)

def is_chdb(client: Client) -> bool:
    """True for clickhouse-connect's in-process chDB client."""
    return "chdb" in type(client).__module__.lower() or "chdb" in type(client).__name__.lower()


def has_session(client: Client) -> bool:
    try:
        return bool(client.get_client_setting("session_id"))
    except Exception:
        return False


class Database:
    """A client plus the executor its queries run in; see module docstring."""

    def __init__(self, client: Client, threads: int = 0) -> None:
        self.client = client
        self.embedded = is_chdb(client)
        if threads <= 0:
            threads = 1 if (self.embedded or has_session(client)) else 8
        self.threads = threads
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="ocrstream-ch")

    async def run(self, fn: Callable[[], T]) -> T:
        """Run a blocking call in the query pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn)

    async def rows(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple]:
        """Result rows (Python values) of a parameterized query."""
        return await self.run(lambda: self.client.query(sql, parameters=params or {}).result_rows)

    async def named_rows(self, sql: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """Result rows as dicts keyed by column name."""
        def go() -> list[dict[str, Any]]:
            result = self.client.query(sql, parameters=params or {})
            names = result.column_names
            return [dict(zip(names, row)) for row in result.result_rows]

        return await self.run(go)

    async def raw(self, sql: str, params: dict[str, Any] | None = None, fmt: str = "JSONEachRow") -> bytes:
        """The query's result serialized by ClickHouse in format ``fmt`` (e.g. ``JSONColumns``).

        Serialization happens inside ClickHouse, not in Python: the API passes
        these bytes through, which is what keeps large aggregate responses cheap.
        Put output settings in the SQL's ``SETTINGS`` clause (``queries.JSON_SETTINGS``):
        per-call settings cost the chDB backend SET/restore round trips.
        """
        return await self.run(lambda: self.client.raw_query(sql, parameters=params or {}, fmt=fmt))

    async def ping(self) -> float:
        """Seconds for ``SELECT 1`` (raises when the store is unreachable)."""
        t0 = time.perf_counter()
        await self.rows("SELECT 1")
        return time.perf_counter() - t0

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class SingleFlightCache:
    """Coalesce identical concurrent queries; reuse results; refresh stale ones in the background.

    ``get(key, produce)``:

    * a result younger than ``ttl_s`` is returned as is;
    * a result older than ``ttl_s`` but younger than ``stale_s`` is returned
      at once while ONE background refresh runs (stale-while-revalidate), so a
      hot dashboard query never waits for ClickHouse: what it shows is at most
      ``ttl_s`` plus one query time old;
    * otherwise the caller runs ``produce`` - and every concurrent caller of
      the same key awaits that same run (single flight).

    ``ttl_s = 0`` keeps nothing (concurrent callers still share one run).
    Bounded at ``max_entries`` (oldest dropped). Event-loop confined: no locks.
    """

    def __init__(self, ttl_s: float, stale_s: float = 0.0, max_entries: int = 2048) -> None:
        self.ttl_s = ttl_s
        self.stale_s = max(stale_s, ttl_s) if ttl_s > 0 else 0.0
        self.max_entries = max_entries
        self._done: dict[Any, tuple[float, Any]] = {}
        self._inflight: dict[Any, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self.hits = 0
        self.stale_hits = 0
        self.misses = 0

    async def get(self, key: Any, produce: Callable[[], Awaitable[T]]) -> T:
        entry = self._done.get(key)
        if entry is not None:
            age = time.monotonic() - entry[0]
            if age < self.ttl_s:
                self.hits += 1
                return entry[1]
            if age < self.stale_s:
                self.stale_hits += 1
                if key not in self._inflight:
                    task = asyncio.create_task(self._run(key, produce))
                    self._tasks.add(task)
                    task.add_done_callback(self._reap)
                return entry[1]
        future = self._inflight.get(key)
        if future is not None:
            self.hits += 1
            return await asyncio.shield(future)
        self.misses += 1
        return await self._run(key, produce)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background cache refresh failed: %s", task.exception())

    async def _run(self, key: Any, produce: Callable[[], Awaitable[T]]) -> T:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            value = await produce()
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(value)
            if self.ttl_s > 0:
                self._done.pop(key, None)
                if len(self._done) >= self.max_entries:
                    self._done.pop(next(iter(self._done)))
                self._done[key] = (time.monotonic(), value)
            return value
        finally:
            self._inflight.pop(key, None)

    def clear(self) -> None:
        self._done.clear()
