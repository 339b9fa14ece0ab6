"""Run probes concurrently: one aiohttp session, a global and a per-host limit, a timeout per
probe, and each result handed to a callback as soon as it is known (so Ctrl-C loses nothing
that finished).  The engine never renders.

One bad endpoint costs one cell: any exception while a probe is prepared or run becomes an
`unknown` outcome naming it, with the traceback logged on `cutover.engine`.  A probe's clock
starts once it holds its place under both limits, so queueing is never counted as its time.
Every reason and observed value is redacted of secrets where the Result is built.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import ValidationError

from cutover import templates
from cutover.checklist import Endpoints
from cutover.geo import Province
from cutover.plan import Target
from cutover.probes import Limits, Outcome, ProbeContext, ProbeSpec
from cutover.probes.base import timed
from cutover.secrets import MissingSecret, Secrets

log = logging.getLogger("cutover.engine")
# A library does not print: the application decides where tracebacks go (without a handler,
# Python's last resort would write each one to stderr in the middle of the output).
log.addHandler(logging.NullHandler())
REASON_CAP = 300  # an exception message is evidence, not a dump


@dataclass(frozen=True)
class Result:
    province: str
    step: str
    commune: str  # "" for province-level steps
    outcome: Outcome
    at: datetime
    insecure: bool = False


OnResult = Callable[[Result], None]


def render_spec(
    spec: ProbeSpec, values: Mapping[str, str | None], secrets: Secrets | None = None
) -> ProbeSpec:
    """The spec with placeholders substituted (escaped inside regular expressions) and,
    when `secrets` is given, secret references resolved."""
    resolve = secrets.resolve if secrets else None
    return type(spec).model_validate(templates.render_model(spec, values, resolve))


class HostSlots:
    """The per-host limit.  A probe takes a slot of its host before it waits for the global
    limit (so probes queued for a busy host do not hold places other hosts could use), and
    gives it back when it finishes or `grace` seconds after it `started()`."""

    def __init__(self, per_host: int, grace: float) -> None:
        self._per_host = per_host
        self._grace = grace
        self._slots: dict[str, asyncio.Semaphore] = {}

    @asynccontextmanager
    async def hold(self, host: str | None) -> AsyncIterator[Callable[[], None]]:
        if host is None:
            yield lambda: None
            return
        slot = self._slots.setdefault(host.lower(), asyncio.Semaphore(self._per_host))
        await slot.acquire()
        held, timer = True, None

        def release() -> None:
            nonlocal held
            if held:
                held = False
                slot.release()

        def started() -> None:
            nonlocal timer
            timer = asyncio.get_running_loop().call_later(self._grace, release)

        try:
            yield started
        finally:
            if timer is not None:
                timer.cancel()
            release()


async def _measure(spec: ProbeSpec, ctx: ProbeContext) -> Outcome:
    timeout = ctx.limits.timeout
    try:
        async with asyncio.timeout(timeout) as clock:
            return await timed(lambda: spec.run(ctx))
    except TimeoutError:
        if not clock.expired():
            raise  # a TimeoutError of the probe's own making is a probe error
        return Outcome.unknown(f"timed out after {timeout:g} s")


class _Prober:
    """What the probes of one run share: the context, both limits, rendered endpoints."""

    def __init__(self, ctx: ProbeContext, endpoints: Endpoints, secrets: Secrets) -> None:
        self.ctx, self.endpoints, self.secrets = ctx, endpoints, secrets
        self.gate = asyncio.Semaphore(ctx.limits.jobs)
        self.slots = HostSlots(ctx.limits.per_host, ctx.limits.grace)
        self._endpoint_values: dict[str, dict[str, str]] = {}

    async def outcome(self, target: Target) -> Outcome:
        try:
            concrete = self._render(target)
            if isinstance(concrete, Outcome):
                return concrete
            async with self.slots.hold(concrete.host_key()) as started, self.gate:
                started()  # the probe's clock and its host grace start now, not before
                return await _measure(concrete, self.ctx)
        except Exception as exc:
            return _crashed(target, exc)

    def _render(self, target: Target) -> ProbeSpec | Outcome:
        try:
            values = target.values(self._endpoints_of(target.province))
            return render_spec(target.step.verify, values, self.secrets)
        except templates.MissingValue as exc:
            return Outcome.unknown(f"not configured: {exc}")
        except MissingSecret as exc:
            return Outcome.unknown(str(exc))
        except ValidationError as exc:
            return Outcome.unknown(f"probe invalid once rendered: {exc.errors()[0]['msg']}")

    def _endpoints_of(self, province: Province) -> dict[str, str]:
        """Rendered when a target needs them, inside its error handling: an overlay pattern
        that cannot be rendered for one province costs that province's cells only."""
        if province.code not in self._endpoint_values:
            self._endpoint_values[province.code] = self.endpoints.for_province(province)
        return self._endpoint_values[province.code]


def _crashed(target: Target, exc: Exception) -> Outcome:
    province, step, commune = target.key
    where = f"{province} {step}" + (f" {commune}" if commune else "")
    log.error("probe %s raised %s", where, type(exc).__name__, exc_info=exc)
    message = str(exc).strip().splitlines()[0][:REASON_CAP] if str(exc).strip() else ""
    return Outcome.unknown(f"probe error: {type(exc).__name__}" + (f": {message}" * bool(message)))


class _Redact(logging.Filter):
    """Removes a run's secrets from messages and tracebacks logged on `cutover.engine`."""

    def __init__(self, secrets: Secrets) -> None:
        super().__init__()
        self._secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = self._secrets.redact(record.getMessage()), None
        if record.exc_info:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self._secrets.redact(record.exc_text)
        return True


def _redacted(outcome: Outcome, secrets: Secrets) -> Outcome:
    observed = None if outcome.observed is None else secrets.redact(outcome.observed)
    return Outcome(outcome.status, secrets.redact(outcome.reason), observed, outcome.duration_ms)


async def run(
    targets: list[Target],
    endpoints: Endpoints,
    limits: Limits,
    *,
    allow_commands: bool,
    on_result: OnResult,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    env: Mapping[str, str] | None = None,
    secrets: Secrets | None = None,
) -> None:
    """Evaluate every automated target; manual ones are left to attestations.

    Secret references resolve against `secrets`, else against `env` (default: the process
    environment) with relative file paths under the current directory."""
    import aiohttp

    if secrets is None:
        secrets = Secrets(os.environ if env is None else env, Path.cwd())
    automated = [t for t in targets if not t.step.verify.manual]
    # No pool limit: the engine's own limits bound connections (each probe holds at most one
    # at a time), and a pool queue would count against the probe's clock.
    connector = aiohttp.TCPConnector(limit=0, limit_per_host=0, ttl_dns_cache=300)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=limits.timeout)
    redact = _Redact(secrets)
    log.addFilter(redact)
    try:
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, headers={"User-Agent": "cutover"}
        ) as session:
            ctx = ProbeContext(session, limits, allow_commands=allow_commands)
            prober = _Prober(ctx, endpoints, secrets)

            async def one(target: Target) -> None:
                outcome = _redacted(await prober.outcome(target), secrets)
                p, s, c = target.key
                on_result(Result(p, s, c, outcome, clock(), target.step.verify.insecure))

            await asyncio.gather(*(one(t) for t in automated))
    finally:
        log.removeFilter(redact)
