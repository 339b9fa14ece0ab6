"""Fault injection: a middleware that makes matching endpoints slow, hang, reset, fail or lie."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable

from aiohttp import web

from cutover.sim.scenario import Fault

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OVERSIZED_BYTES = 8 * 1024 * 1024  # over the engine's default 2 MiB body cap


def middleware(faults: Callable[[], list[Fault]]) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def inject(request: web.Request, handler: Handler) -> web.StreamResponse:
        for fault in faults():
            if re.search(fault.path, request.path):
                response = await _apply(fault, request)
                if response is not None:
                    return response
        return await handler(request)

    return inject


async def _apply(fault: Fault, request: web.Request) -> web.StreamResponse | None:
    if fault.kind == "latency":
        await asyncio.sleep(fault.ms / 1000)
        return None
    if fault.kind == "hang":
        await asyncio.sleep(3600)
    if fault.kind == "reset":
        if request.transport is not None:
            request.transport.abort()
        raise asyncio.CancelledError
    if fault.kind == "status":
        return web.json_response({"error": "injected fault"}, status=fault.status)
    if fault.kind == "invalid_json":
        return web.Response(text='{"units": [{"code": "0', content_type="application/json")
    if fault.kind == "oversized":
        return web.Response(body=b" " * OVERSIZED_BYTES, content_type="application/json")
    # redirect_loop: two URLs that send the client to each other
    target = request.path[:-1] if request.path.endswith("/") else request.path + "/"
    raise web.HTTPFound(target)
