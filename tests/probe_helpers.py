"""Run one probe spec (a dict, as in YAML) against real servers, outside the CLI."""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import TypeAdapter

from cutover.probes import AnyProbe, Limits, Outcome, ProbeContext
from cutover.probes.base import timed

_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyProbe)


def probe(
    spec: dict[str, Any], *, limits: Limits | None = None, allow_commands: bool = True
) -> Outcome:
    import aiohttp

    concrete = _ADAPTER.validate_python(spec)
    limits = limits or Limits(timeout=5, retries=1, backoff=0.01)

    async def go() -> Outcome:
        async with aiohttp.ClientSession() as session:
            ctx = ProbeContext(session, limits, allow_commands=allow_commands)
            try:
                async with asyncio.timeout(limits.timeout):
                    return await timed(lambda: concrete.run(ctx))
            except TimeoutError:
                return Outcome.unknown(f"timed out after {limits.timeout:g} s")

    return asyncio.run(go())
