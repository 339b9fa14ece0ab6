"""Start the simulator: in the current event loop, or in a background thread (tests)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from cutover.geo import Geography
from cutover.sim.scenario import Scenario


@asynccontextmanager
async def serve(
    scenario: Scenario, geo: Geography, host: str = "127.0.0.1", port: int = 0
) -> AsyncIterator[str]:
    """Run the simulator until the block ends; yields its base URL (port 0 = a free port)."""
    from aiohttp import web

    from cutover.sim.app import make_app

    runner = web.AppRunner(
        make_app(scenario, geo), access_log=None, handle_signals=False, shutdown_timeout=0.5
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        from cutover.errors import UsageError

        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    server: Any = site._server  # the only way to learn the port chosen for port 0
    bound = server.sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        await runner.cleanup()


class SimulatorThread:
    """The simulator on its own event loop in a daemon thread, for tests and benchmarks."""

    def __init__(self, scenario: Scenario, geo: Geography) -> None:
        self.scenario, self.geo = scenario, geo
        self.base_url = ""
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._main, daemon=True, name="simulator")

    def __enter__(self) -> SimulatorThread:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("simulator did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop and self._stop:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(5)

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(self.scenario, self.geo) as url:
            self.base_url = url
            self._ready.set()
            await self._stop.wait()
