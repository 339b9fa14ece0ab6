"""Run one probe spec (a dict, as in YAML) against real servers, outside the CLI."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from cutover.probes import AnyProbe, Limits, Outcome, ProbeContext
from cutover.probes.base import timed
from cutover.secrets import Secrets

_ADAPTER: TypeAdapter[Any] = TypeAdapter(AnyProbe)

RUN_AT = datetime(2025, 6, 28, 2, 0, tzinfo=UTC)


def engine_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What `engine.run` takes from its caller's `Environment`: a fixed clock, and the
    secrets of `environ` (none by default) with relative files under the working directory."""
    return {"clock": lambda: RUN_AT, "secrets": Secrets(dict(environ or {}), Path.cwd())}


def probe(
    spec: dict[str, Any],
    *,
    limits: Limits | None = None,
    allow_commands: bool = True,
    hosts: dict[str, str] | None = None,
    resolve: dict[str, list[str]] | None = None,
) -> Outcome:
    """`hosts` makes aiohttp connect those names to the given addresses (a local server
    standing in for a public host); `resolve` is what the probe believes names resolve to
    when it decides where it may follow a redirect."""
    import aiohttp

    concrete = _ADAPTER.validate_python(spec)
    limits = limits or Limits(timeout=5, retries=1, backoff=0.01)

    async def believed(host: str) -> list[str]:
        return (resolve or {}).get(host, [])

    async def go() -> Outcome:
        connector = aiohttp.TCPConnector(resolver=StaticResolver(hosts)) if hosts else None
        # No cookies kept by the session, as the engine's (a redirect chain keeps its own).
        jar = aiohttp.DummyCookieJar()
        async with aiohttp.ClientSession(connector=connector, cookie_jar=jar) as session:
            ctx = ProbeContext(session, limits, allow_commands=allow_commands)
            if resolve is not None:
                ctx.resolve = believed
            try:
                async with asyncio.timeout(limits.timeout):
                    return await timed(concrete, ctx)
            except TimeoutError:
                return Outcome.unknown(f"timed out after {limits.timeout:g} s")

    return asyncio.run(go())


class StaticResolver:
    """An aiohttp resolver with fixed answers (anything else does not resolve)."""

    def __init__(self, hosts: dict[str, str]) -> None:
        self.hosts = hosts

    async def resolve(
        self, host: str, port: int = 0, family: int = socket.AF_INET
    ) -> list[dict[str, Any]]:
        if host not in self.hosts:
            raise OSError(f"{host} does not resolve")
        address = self.hosts[host]
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        return None
