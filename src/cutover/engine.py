"""Run probes concurrently: one aiohttp session, a global and a per-host limit, a timeout per
probe, and each result handed to a callback as soon as it is known (so Ctrl-C loses nothing
that finished).  The engine never renders.

The probes are run by a fixed pool of `jobs` workers (a worker is a place under the global
limit), not by a task per probe: a worker takes a probe of a host that has room, and parks the
probes of a busy host in that host's queue, so they hold no place another host could use.  A
probe's clock starts once a worker runs it, so queueing is never counted as its time; after
`host_grace` it stops counting against its host.  Timeouts and host graces are two queues in
start order, each with at most one timer, not a timer per probe.

One bad endpoint costs one cell: any exception while a probe is prepared or run becomes an
`unknown` outcome naming it, with the traceback logged on `cutover.engine`.  Every reason and
observed value is redacted of secrets where the Result is built.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from itertools import islice

from pydantic import BaseModel, ValidationError

from cutover import plan, templates
from cutover.checklist import Endpoints
from cutover.geo import Province
from cutover.plan import Target
from cutover.probes import Limits, Outcome, ProbeContext, ProbeSpec, lookup
from cutover.probes.base import timed
from cutover.records import quick_init
from cutover.secrets import MissingSecret, Secrets

log = logging.getLogger("cutover.engine")
# A library does not print: the application decides where tracebacks go (without a handler,
# Python's last resort would write each one to stderr in the middle of the output).
log.addHandler(logging.NullHandler())
REASON_CAP = 300  # an exception message is evidence, not a dump
# Probes parked for a busy host keep their rendered spec up to this many (about 1.4 kB each);
# past it they keep only their target and are rendered again when they run.
PARKED_RENDERED = 4096
# Targets a worker looks at in a row before it lets the event loop run (when their hosts are
# full, it parks them and looks further).
SCAN_BATCH = 32
# Targets rendered in a row, ahead of the workers that run them.  Rendering a batch in a tight
# loop costs about a third of rendering each target between network events, as each worker
# used to (measured at 6,642 probes: about 0.1 s less CPU); the batch holds ~200 kB.
RENDER_AHEAD = 128
# A timer of an _Alarm fires at most this often: a deadline may be late by this much.
ALARM_GRAIN = 0.005


@quick_init
@dataclass(frozen=True, slots=True)
class Result:
    """What one probe of one unit found, and when."""

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


def _templated(value: object) -> bool:
    """Whether rendering could change `value`: only a string with a `{` can (a placeholder
    or a secret reference); dictionary keys are never rendered."""
    if isinstance(value, str):
        return "{" in value
    if isinstance(value, BaseModel):
        return any(_templated(getattr(value, name)) for name in value.model_fields_set)
    if isinstance(value, list):
        return any(_templated(v) for v in value)
    if isinstance(value, dict):
        return any(_templated(v) for v in value.values())
    return False


class _Template:
    """A step's spec prepared once for rendering it per target, with the same result as
    `render_spec`: the fields that hold no placeholder or secret reference are passed to
    validation as they are (nested models are not validated again), and only the others are
    rendered.  A spec with nothing to render is used as it is."""

    __slots__ = ("dynamic", "spec", "static", "validate")

    def __init__(self, spec: ProbeSpec) -> None:
        fields = type(spec).model_fields
        given = spec.model_fields_set
        names = {name for name in given if _templated(getattr(spec, name))}
        self.spec = spec
        self.static = {(fields[n].alias or n): getattr(spec, n) for n in given - names}
        # The spec with only its templated fields marked as set: what render_model would
        # render.  Which of them are regular expressions or URLs depends on the spec only, so
        # each field's key, value and escaping are worked out here, once.
        shell = type(spec).model_construct(names, **{n: getattr(spec, n) for n in fields})
        syntaxes = templates.field_syntaxes(shell)
        self.dynamic = [
            (fields[n].alias or n, getattr(spec, n), syntaxes.get(n, "text"))
            for n in fields
            if n in names
        ]
        self.validate = type(spec).model_validate

    def render(self, values: Mapping[str, str | None], resolve: templates.Resolve) -> ProbeSpec:
        if not self.dynamic:
            return self.spec
        rendered = dict(self.static)
        for key, value, syntax in self.dynamic:
            rendered[key] = templates.render_value(value, values, syntax, resolve)
        return self.validate(rendered)


class _Host:
    """One host's count of probes that count against its limit, and its parked probes."""

    __slots__ = ("busy", "name", "queued", "waiting")

    def __init__(self, name: str) -> None:
        self.name = name
        self.busy = 0
        self.waiting: deque[_Job] = deque()
        self.queued = False  # in the pool's rotation of hosts with room and waiting probes


class _Job:
    """One probe on its way through the pool."""

    __slots__ = ("cancelling", "counted", "expired", "host", "running", "spec", "target", "task")

    def __init__(self, target: Target, spec: ProbeSpec | None, host: _Host | None) -> None:
        self.target = target
        self.spec = spec  # None once run, or when parked without it (rendered again)
        self.host = host
        self.counted = False  # counts against its host's limit
        self.running = False
        self.expired = False  # its timeout cancelled its worker
        self.task: asyncio.Task[None] | None = None
        self.cancelling = 0


class _Alarm:
    """Rings for each job still running `delay` seconds after it started.  Jobs start in
    order and all wait the same delay, so their deadlines come in order: one queue and at most
    one pending timer for all of them, re-armed as it fires and never cancelled (a timer per
    probe, cancelled when it finishes, makes asyncio rebuild its heap of timers).  Jobs that
    finished leave the front of the queue as others arrive, so it holds about the running
    ones and the timer fires about once per `delay`, not once per probe."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, delay: float, ring: Callable[[_Job], None]
    ) -> None:
        self._loop, self._delay, self._ring = loop, delay, ring
        self._due: deque[float] = deque()
        self._jobs: deque[_Job] = deque()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, job: _Job, now: float) -> None:
        due, jobs = self._due, self._jobs
        while jobs and not jobs[0].running:
            due.popleft()
            jobs.popleft()
        due.append(now + self._delay)
        jobs.append(job)
        if self._timer is None:
            self._timer = self._loop.call_at(due[0], self._fire)

    def _fire(self) -> None:
        now = self._loop.time()
        due, jobs = self._due, self._jobs
        while jobs and (not jobs[0].running or due[0] <= now):
            due.popleft()
            job = jobs.popleft()
            if job.running:
                self._ring(job)
        self._timer = None
        if due:
            self._timer = self._loop.call_at(max(due[0], now + ALARM_GRAIN), self._fire)

    def close(self) -> None:
        """Stop ringing, and let go of the jobs and of `ring` (a method of the pool, which
        holds this alarm: a cycle that would keep the pool, and through the result callback
        a store writer's caches, alive until the collector's next full walk)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._due.clear()
        self._jobs.clear()
        self._ring = _ring_nothing


def _ring_nothing(job: _Job) -> None:
    """What a closed alarm would ring: nothing."""


class _Prober:
    """What the probes of one run share: the context and rendered endpoints."""

    def __init__(self, ctx: ProbeContext, endpoints: Endpoints, secrets: Secrets) -> None:
        self.ctx, self.endpoints, self.secrets = ctx, endpoints, secrets
        self._province_values: dict[str, dict[str, str | None]] = {}
        self._templates: dict[int, _Template] = {}  # by id of a step's spec (kept alive)

    def prepare(self, target: Target) -> ProbeSpec | Outcome:
        """The concrete spec, or the outcome that says why there is none."""
        try:
            return self._render(target)
        except Exception as exc:
            return _crashed(target, exc)

    def _render(self, target: Target) -> ProbeSpec | Outcome:
        try:
            values = target.values(self._values_of(target.province))
            spec = target.step.verify
            template = self._templates.get(id(spec))
            if template is None:
                template = self._templates[id(spec)] = _Template(spec)
            uses = self.secrets.uses
            rendered = template.render(values, self.secrets.resolve)
            if self.secrets.uses != uses:  # it holds secrets: what it makes of them is masked
                self.secrets.remember(rendered.derived_credentials())
            return rendered
        except templates.MissingValue as exc:
            return Outcome.unknown(f"not configured: {exc}")
        except MissingSecret as exc:
            return Outcome.unknown(str(exc))
        except ValidationError as exc:
            return Outcome.unknown(f"probe invalid once rendered: {exc.errors()[0]['msg']}")

    def _values_of(self, province: Province) -> dict[str, str | None]:
        """A province's template values, its endpoints included, worked out once.  Rendered
        when a target needs them, inside its error handling: an overlay pattern that cannot
        be rendered for one province costs that province's cells only."""
        values = self._province_values.get(province.code)
        if values is None:
            endpoints = self.endpoints.for_province(province)
            values = self._province_values[province.code] = plan.base_values(province, endpoints)
        return values


class _Pool:
    """`jobs` workers and the per-host limit.  A worker runs one probe at a time: first a
    parked probe of a host that has room again (hosts take turns), else the next target, which
    it renders; a target whose host is full is parked and the worker looks further."""

    def __init__(
        self,
        targets: list[Target],
        prober: _Prober,
        deliver: Callable[[Target, Outcome], None],
    ) -> None:
        limits = prober.ctx.limits
        self._pending: Iterator[Target] = iter(targets)
        self._prepared: deque[tuple[Target, ProbeSpec | Outcome]] = deque()
        self._exhausted = False
        self._prober, self._deliver = prober, deliver
        self._per_host = max(1, limits.per_host)
        # With no more workers than a host may have probes, its limit can never bind: then no
        # probe needs its host worked out (nor a grace).
        self._hosts_bind = self._per_host < limits.jobs
        self._timeout = limits.timeout
        self._hosts: dict[str, _Host] = {}
        self._ready: deque[_Host] = deque()
        self._idle: deque[asyncio.Future[None]] = deque()
        self._parked = 0
        self._parked_rendered = 0
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._timeouts = _Alarm(loop, limits.timeout, _expire)
        self._graces = _Alarm(loop, limits.grace, self._grace_over)

    def close(self) -> None:
        self._timeouts.close()
        self._graces.close()

    async def worker(self) -> None:
        task = asyncio.current_task()
        assert task is not None
        while True:
            job = self._ready_job()
            if job is None and not self._exhausted:
                job = await self._next_target()
            if job is not None:
                await self._run(job, task)
            elif not self._parked:
                return  # nothing left to start
            else:
                # Every probe left waits for a busy host: wait until one has room.
                waiter = self._loop.create_future()
                self._idle.append(waiter)
                await waiter

    def _ready_job(self) -> _Job | None:
        ready = self._ready
        while ready:
            host = ready.popleft()
            if host.waiting and host.busy < self._per_host:
                job = host.waiting.popleft()
                self._parked -= 1
                if job.spec is not None:
                    self._parked_rendered -= 1
                host.busy += 1
                job.counted = True
                if host.waiting and host.busy < self._per_host:
                    ready.append(host)  # its next probe waits for the other hosts' turns
                else:
                    host.queued = False
                if ready:
                    self._wake()  # an idle worker takes the next turn
                elif self._exhausted and not self._parked:
                    self._wake(all_=True)  # nothing left to wait for: idle workers end
                return job
            host.queued = False
        return None

    async def _next_target(self) -> _Job | None:
        """The next target that can run now (parking those whose host is full), or None when
        no target is left."""
        prepared = self._prepared
        scanned = 0
        while prepared or self._prepare_more():
            target, spec = prepared.popleft()
            scanned += 1
            if isinstance(spec, Outcome):
                self._deliver(target, spec)
            elif (job := self._admit(target, spec)) is not None:
                return job
            if scanned % SCAN_BATCH == 0:
                await asyncio.sleep(0)  # let running probes proceed while we look ahead
                if (job := self._ready_job()) is not None:
                    return job
        self._exhausted = True
        if not self._parked:
            self._wake(all_=True)
        return None

    def _prepare_more(self) -> bool:
        """Renders the next RENDER_AHEAD targets in a row; False when none is left."""
        prepare, prepared = self._prober.prepare, self._prepared
        for target in islice(self._pending, RENDER_AHEAD):
            prepared.append((target, prepare(target)))
        return bool(prepared)

    def _admit(self, target: Target, spec: ProbeSpec) -> _Job | None:
        """A job to run now, or None when its host is full and it was parked."""
        if not self._hosts_bind:
            return _Job(target, spec, None)
        try:
            name = spec.host_key()
        except Exception as exc:
            self._deliver(target, _crashed(target, exc))
            return None
        if name is None:
            return _Job(target, spec, None)
        key = name.lower()
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(key)
        if host.busy < self._per_host and not host.waiting:
            host.busy += 1
            job = _Job(target, spec, host)
            job.counted = True
            return job
        keep = self._parked_rendered < PARKED_RENDERED
        host.waiting.append(_Job(target, spec if keep else None, host))
        self._parked += 1
        self._parked_rendered += keep
        return None

    async def _run(self, job: _Job, task: asyncio.Task[None]) -> None:
        target = job.target
        spec = job.spec if job.spec is not None else self._prober.prepare(target)
        job.spec = None
        if isinstance(spec, Outcome):  # cannot happen: it rendered once already
            self._free(job, wake=False)
            self._deliver(target, spec)
            return
        now = self._loop.time()
        job.task, job.cancelling, job.running = task, task.cancelling(), True
        self._timeouts.add(job, now)
        if job.host is not None:
            self._graces.add(job, now)
        try:
            outcome = await timed(spec, self._prober.ctx)
        except asyncio.CancelledError:
            if not job.expired:
                raise
            job.expired = False
            if task.uncancel() > job.cancelling:
                raise  # cancelled from outside as well (Ctrl-C)
            outcome = Outcome.unknown(f"timed out after {self._timeout:g} s")
        except Exception as exc:
            outcome = _crashed(target, exc)
        finally:
            job.running = False
            self._free(job, wake=False)
        if job.expired:  # the timeout's cancellation came after the probe had its answer
            task.uncancel()
        self._deliver(target, outcome)

    def _free(self, job: _Job, *, wake: bool = True) -> None:
        """The job no longer counts against its host (it finished or its grace is over): one
        of the host's parked probes may run, by an idle worker unless `wake` is False (the
        worker that finished it looks for work next)."""
        host = job.host
        if host is not None and job.counted:
            job.counted = False
            host.busy -= 1
            if host.waiting:
                if not host.queued:
                    host.queued = True
                    self._ready.append(host)
                if wake:
                    self._wake()

    def _grace_over(self, job: _Job) -> None:
        self._free(job)

    def _wake(self, *, all_: bool = False) -> None:
        idle = self._idle
        while idle:
            waiter = idle.popleft()
            if not waiter.done():
                waiter.set_result(None)
                if not all_:
                    return


def _expire(job: _Job) -> None:
    job.expired = True
    assert job.task is not None
    job.task.cancel()


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
    reason = secrets.redact(outcome.reason) if outcome.reason else outcome.reason
    observed = outcome.observed
    if observed:
        observed = secrets.redact(observed)
    if reason is outcome.reason and observed is outcome.observed:
        return outcome
    return Outcome(outcome.status, reason, observed, outcome.duration_ms)


async def run(
    targets: list[Target],
    endpoints: Endpoints,
    limits: Limits,
    *,
    allow_commands: bool,
    on_result: OnResult,
    clock: Callable[[], datetime],
    secrets: Secrets,
) -> None:
    """Evaluate every automated target; manual ones are left to attestations.

    Results are stamped by `clock` and secret references resolve through `secrets`, both
    the caller's (its `Environment`'s): the engine reads neither the wall clock nor the
    process environment."""
    import aiohttp

    automated = [t for t in targets if not t.step.verify.manual]
    # No pool limit: the engine's own limits bound connections (each probe holds at most one
    # at a time), and a pool queue would count against the probe's clock.
    # Each name lookup on a thread of its own (`probes.lookup`): hung DNS costs its own cells.
    connector = aiohttp.TCPConnector(
        limit=0, limit_per_host=0, ttl_dns_cache=300, resolver=lookup.resolver()
    )
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=limits.timeout)
    redact = _Redact(secrets)
    log.addFilter(redact)

    def deliver(target: Target, outcome: Outcome) -> None:
        p, s, c = target.key
        insecure = target.step.verify.insecure
        on_result(Result(p, s, c, _redacted(outcome, secrets), clock(), insecure))

    try:
        # The probes share a session but not cookies: a cookie one probe's response set is
        # never sent by another, so no cell depends on which probes ran before it (a session
        # cookie from one province's sign-on test reaching the next province's).  A probe
        # that follows a chain keeps the chain's cookies itself (`fetch`'s `cookies`).
        async with aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            headers={"User-Agent": "cutover"},
            cookie_jar=aiohttp.DummyCookieJar(),
        ) as session:
            ctx = ProbeContext(session, limits, allow_commands=allow_commands)
            pool = _Pool(automated, _Prober(ctx, endpoints, secrets), deliver)
            workers = [
                asyncio.create_task(pool.worker()) for _ in range(min(limits.jobs, len(automated)))
            ]
            try:
                await asyncio.gather(*workers)
            finally:
                for worker in workers:
                    worker.cancel()  # after a failure (the callback raised): stop the rest
                await asyncio.gather(*workers, return_exceptions=True)
                pool.close()
    finally:
        log.removeFilter(redact)
