"""`cutover serve`: the live national readiness page over the store (read-only)."""

from __future__ import annotations

from typing import Annotated

import typer

from cutover.cli.app import app
from cutover.cli.common import (
    ChecklistOpt,
    DbOpt,
    LangOpt,
    Output,
    ProvincesOpt,
    env_of,
    language,
    positive_seconds,
    prepare,
)
from cutover.cli.views import SilentAfterOpt, heartbeat
from cutover.errors import OptionError


@app.command()
def serve(
    ctx: typer.Context,
    db: DbOpt = None,
    host: Annotated[
        str,
        typer.Option(
            "--host",
            metavar="ADDRESS",
            help="Address to listen on (default: loopback only; the page has no login, so "
            "publish it through a reverse proxy that authenticates).",
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", metavar="PORT", help="Port (0: any free port).")
    ] = 8000,
    lang: LangOpt = None,
    refresh: Annotated[
        float,
        typer.Option(
            "--refresh",
            metavar="SECONDS",
            help="How often the server checks the store for changes; open pages update "
            "within this time.",
        ),
    ] = 5.0,
    request_timeout: Annotated[
        float,
        typer.Option(
            "--request-timeout",
            metavar="SECONDS",
            help="Answer 503 to a request that takes longer; a store query is stopped a "
            "little before.",
        ),
    ] = 10.0,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request on stderr.")
    ] = False,
    checklist: ChecklistOpt = None,
    provinces_file: ProvincesOpt = None,
    silent_after: SilentAfterOpt = None,
) -> int:
    """Serve the live readiness page: matrix, provinces, communes, /matrix.json, /metrics."""
    import asyncio
    import logging
    import signal

    from cutover import service
    from cutover.store.base import store_location
    from cutover.web import app as web_app
    from cutover.web.pages import Workspace

    env = env_of(ctx)
    io = Output(env)
    if not 0 <= port <= 65535:
        raise OptionError(f"--port must be between 0 and 65535, got {port}")
    positive_seconds("--refresh", refresh)
    positive_seconds("--request-timeout", request_timeout)
    location = store_location(db, env.environ)  # an unknown URL scheme fails here, not per page
    workspace = Workspace(
        prepare(
            env, service.Selection(None, None, None, checklist, None, provinces_file, probing=False)
        ),
        language(env, lang),
        heartbeat(env, silent_after),
        refresh,
    )
    settings = web_app.Settings(
        location=location,
        environ=env.environ,
        clock=env.clock,
        monotonic=env.monotonic,
        request_timeout=request_timeout,
        query_timeout=max(request_timeout * 0.8, 0.1),
    )
    handler = logging.StreamHandler(env.stderr)
    handler.setFormatter(web_app.InertRecords())
    logging.basicConfig(handlers=[handler], level=logging.INFO if access_log else logging.WARNING)
    if not _loopback(host):
        io.err(
            f"note: listening on {host}: anyone who reaches it can read the table (the page "
            "has no login); put an authenticating reverse proxy in front (README, "
            "The live page: `cutover serve`)"
        )

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)

        def ready(url: str) -> None:
            io.err(f"serving {url} (read-only; Ctrl-C stops)")
            env.stderr.flush()

        site = web_app.Site(workspace, settings)
        await web_app.serve(site, host, port, stop=stop, ready=ready, access_log=access_log)

    asyncio.run(run())
    io.err("stopped")
    return 0


def _loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
