"""``ocrstream serve``: the live query API and dashboard (uvicorn).

Embedded (``profile=local``, chDB DSN): this process opens the chDB data
directory, so it must be the only one doing so - run it instead of (not beside)
another process that owns the store, or mount :func:`serving.create_app`
in that process. Production (``http(s)://`` DSN): any number of ``serve``
replicas can run against the ClickHouse server.
"""

from __future__ import annotations

import signal
import time

import typer


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to the main CLI."""

    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: str | None = typer.Option(None, help="Listen address (default ApiSettings.host, 127.0.0.1)."),
        port: int | None = typer.Option(None, help="Listen port (default ApiSettings.port, 8080)."),
        migrate_first: bool = typer.Option(True, "--migrate/--no-migrate",
                                           help="Apply pending ClickHouse migrations before serving."),
        wait_s: float = typer.Option(60.0, help="Keep retrying a ClickHouse server this long at start-up."),
        root_path: str = typer.Option("", help="URL prefix when served behind a reverse proxy."),
    ) -> None:
        """Serve the HTTP API (/api/..., /healthz, /metrics, /docs) and the live dashboard (/dashboard)."""
        import clickhouse_connect.common
        import uvicorn

        from serving import create_app
        from ocrstream.console import console, fail, settings_of
        from ocrstream.clickhouse import ClickHouseUnavailable, connect, migrate

        settings = settings_of(ctx).with_overrides(**{"api.host": host, "api.port": port})
        embedded = settings.clickhouse_dsn.startswith("chdb://")
        if not embedded:
            # No server-side session: a session admits one query at a time, and
            # the API runs several concurrently over one HTTP client.
            clickhouse_connect.common.set_setting("autogenerate_session_id", False)
        deadline = time.monotonic() + (0 if embedded else wait_s)
        while True:
            try:
                client = connect(settings)
                if migrate_first:
                    applied = migrate(client)
                    if applied:
                        console.print(f"applied migrations: {', '.join(applied)}")
                break
            except ClickHouseUnavailable as exc:
                if time.monotonic() >= deadline:
                    fail(str(exc))
                    return
                console.print(f"waiting for ClickHouse: {exc}")
                time.sleep(2)
        if settings.api.host not in ("127.0.0.1", "localhost", "::1") and not settings.api.tokens:
            console.print("[yellow]warning:[/] listening beyond loopback with auth disabled "
                          "(set OCRSTREAM_API__TOKENS)")
        app = create_app(settings, client)
        console.print(f"[green]serving[/] http://{settings.api.host}:{settings.api.port}/dashboard "
                      f"(API docs /docs, metrics /metrics; ClickHouse {'embedded chDB' if embedded else 'server'})")
        config = uvicorn.Config(app, host=settings.api.host, port=settings.api.port,
                                log_level=settings.log_level.lower(), access_log=False, root_path=root_path,
                                proxy_headers=True)
        server = uvicorn.Server(config)
        # uvicorn stops gracefully on SIGINT/SIGTERM (open requests finish); a closed terminal
        # (SIGHUP) must stop it the same way instead of killing it mid-request.
        signal.signal(signal.SIGHUP, lambda signum, frame: server.handle_exit(signum, frame))
        server.run()
