"""Run probes concurrently: one aiohttp session, a global and a per-host limit, a timeout per
probe, and each result handed to a callback as soon as it is known (so Ctrl-C loses nothing
that finished).  The engine never renders."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from cutover import templates
from cutover.checklist import Endpoints
from cutover.plan import Target
from cutover.probes import Limits, Outcome, ProbeContext, ProbeSpec
from cutover.probes.base import timed


@dataclass(frozen=True)
class Result:
    province: str
    step: str
    commune: str  # "" for province-level steps
    outcome: Outcome
    at: datetime
    insecure: bool = False


OnResult = Callable[[Result], None]


def render_spec(spec: ProbeSpec, values: dict[str, str | None]) -> ProbeSpec:
    data: dict[str, Any] = spec.model_dump(by_alias=True, exclude_defaults=True)
    data["kind"] = spec.kind
    return type(spec).model_validate(templates.render_all(data, values))


async def _one(
    target: Target, endpoints: dict[str, str], ctx: ProbeContext, gate: asyncio.Semaphore
) -> Outcome:
    spec = target.step.verify
    try:
        concrete = render_spec(spec, target.values(endpoints))
    except templates.MissingValue as exc:
        return Outcome.unknown(f"not configured: {exc}")
    except ValidationError as exc:
        return Outcome.unknown(f"probe invalid once rendered: {exc.errors()[0]['msg']}")
    async with gate:
        try:
            async with asyncio.timeout(ctx.limits.timeout):
                return await timed(lambda: concrete.run(ctx))
        except TimeoutError:
            return Outcome.unknown(
                f"timed out after {ctx.limits.timeout:g} s",
            )


async def run(
    targets: list[Target],
    endpoints: Endpoints,
    limits: Limits,
    *,
    allow_commands: bool,
    on_result: OnResult,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> None:
    """Evaluate every automated target; manual ones are left to attestations."""
    import aiohttp

    automated = [t for t in targets if not t.step.verify.manual]
    per_province = {t.province.code: endpoints.for_province(t.province) for t in automated}
    connector = aiohttp.TCPConnector(
        limit=limits.jobs, limit_per_host=limits.per_host, ttl_dns_cache=300
    )
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=limits.timeout)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers={"User-Agent": "cutover"}
    ) as session:
        ctx = ProbeContext(session, limits, allow_commands=allow_commands)
        gate = asyncio.Semaphore(limits.jobs)

        async def one(target: Target) -> None:
            outcome = await _one(target, per_province[target.province.code], ctx, gate)
            p, s, c = target.key
            on_result(Result(p, s, c, outcome, clock(), target.step.verify.insecure))

        await asyncio.gather(*(one(t) for t in automated))
