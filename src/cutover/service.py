"""The library every front end calls (the CLI, `demo`, and later the web page): load the
files once, run checks, read the matrix at any time, the history series, and exit codes.

Nothing here prints, reads `os.environ` or the wall clock: the caller's `Environment` says.
`run_checks` is a coroutine, so a server can await it on its own loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from cutover import plan
from cutover.checklist import (
    Endpoints,
    LoadedChecklist,
    Overlay,
    Step,
    load_checklist,
    load_overlay,
)
from cutover.errors import ExitCode, UsageError
from cutover.geo import Geography, Province, load_geography
from cutover.rollup import Evidence, History, Matrix, rollup

if TYPE_CHECKING:
    from cutover.engine import Result
    from cutover.env import Environment
    from cutover.probes import Limits
    from cutover.store.base import RunRecord, Store

# Given the number of probes, returns the callback that advances a progress bar by one.
ProgressStart = Callable[[int], Callable[[], None]]
SERIES_POINTS = 60
# Results handed to the store's writer at once, and the longest a result waits for its batch
# (each batch is one transaction: a crash loses at most about the last second of results).
# Every hand-over wakes the writer thread, which then contends with the event loop for the
# interpreter; at 6,642 probes against a fast server, hand-overs every 0.2 s or 500 results
# cost about 0.08 s more CPU than one a second (median of 21, interleaved).
SAVE_BATCH = 10_000
SAVE_AFTER = 1.0


@dataclass
class Selection:
    """What to evaluate: provinces (None = all), steps, tag, and against which files."""

    provinces: list[str] | None = None
    steps: list[str] | None = None
    tag: str | None = None
    checklist: str | None = None
    endpoints: Path | None = None
    provinces_file: Path | None = None
    # Whether the command probes: only then must every endpoint a template names be known.
    probing: bool = True


@dataclass
class Context:
    """A workspace (geography, checklist, endpoints: loaded once) and the part of it chosen."""

    geo: Geography
    loaded: LoadedChecklist
    endpoints: Endpoints
    provinces: list[Province]
    steps: list[Step]
    # What the user may not expect, said on stderr by the CLI: a file in the current
    # directory replacing the packaged one, a former or partial province name.
    notes: tuple[str, ...] = ()
    overlay_given: bool = False  # an endpoint overlay is in use (--endpoints, CUTOVER_ENDPOINTS)

    @property
    def targets(self) -> list[plan.Target]:
        return plan.build(self.provinces, self.steps)

    @property
    def automated_steps(self) -> list[Step]:
        return [s for s in self.steps if not s.verify.manual]

    def narrow(
        self, provinces: list[str] | None, steps: list[str] | None, tag: str | None = None
    ) -> Context:
        """Another selection from the same loaded files."""
        chosen = plan.select_steps(self.loaded.checklist, steps, tag)
        return replace(self, provinces=self.geo.select(provinces), steps=chosen)


def prepare(
    sel: Selection,
    overlay: Overlay | None = None,
    geo: Geography | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Context:
    """Load the files of a selection.  `CUTOVER_ENDPOINTS` in `environ` names the overlay when
    the selection does not; relative paths, and the files found by name, are in `cwd` (the
    command's working directory; None, the process's)."""
    env_overlay = (environ or {}).get("CUTOVER_ENDPOINTS")
    path = sel.endpoints or (Path(env_overlay) if env_overlay else None)
    cached = None
    if geo is None and overlay is None and environ is not None:
        cached = _cached_workspace(sel, path, environ, cwd)
    if cached is not None:
        geo, loaded, overlay = cached
        given = path is not None
        endpoints = Endpoints(geo, overlay)
    else:
        geo = geo or load_geography(sel.provinces_file, cwd=cwd)
        given = overlay is not None
        if overlay is None:
            overlay = load_overlay(path, cwd)
            given = path is not None
        endpoints = Endpoints(geo, overlay)
        loaded = load_checklist(sel.checklist, geo, endpoints, probing=sel.probing, cwd=cwd)
    provinces, notes = geo.select_noting(sel.provinces)
    steps = plan.select_steps(loaded.checklist, sel.steps, sel.tag)
    notes = [*stray_files(sel, geo, loaded, cwd), *notes]
    return Context(geo, loaded, endpoints, provinces, steps, tuple(notes), given)


def _cached_workspace(
    sel: Selection, overlay_path: Path | None, environ: Mapping[str, str], cwd: Path | None
) -> tuple[Geography, LoadedChecklist, Overlay | None] | None:
    """The geography, checklist and endpoint overlay of `sel` from the private cache
    (`cutover.workspace_cache`), loaded from the very bytes hashed for the key and kept on a
    miss; None when the cache is off or a file cannot be read (the ordinary loaders then say
    why)."""
    from cutover import workspace_cache
    from cutover.checklist import load_checklist_document, resolve_checklist_path
    from cutover.env import anchored
    from cutover.geo import default_provinces_path, load_document
    from cutover.models import validate
    from cutover.safefiles import YAML_LIMIT, FileRefused, read_regular

    folder = workspace_cache.directory(environ)
    if folder is None:
        return None
    if sel.provinces_file is None:
        geo_path, geo_name = default_provinces_path(cwd)
    else:
        geo_path, geo_name = anchored(sel.provinces_file, cwd), str(sel.provinces_file)
    try:
        list_path, list_name, local = resolve_checklist_path(sel.checklist, cwd)
        geo_raw = read_regular(geo_path, what=geo_name, limit=YAML_LIMIT)
        list_raw = read_regular(list_path, what=list_name, limit=YAML_LIMIT)
        # Loaded for probing or not, a checklist is checked differently: two entries.
        files = [(geo_name, geo_raw), (f"{list_name}\0{local}\0{sel.probing}", list_raw)]
        if overlay_path is not None:
            overlay_name = str(overlay_path)
            overlay_raw = read_regular(
                anchored(overlay_path, cwd), what=overlay_name, limit=YAML_LIMIT
            )
            files.append((f"overlay\0{overlay_name}", overlay_raw))
    except (FileRefused, UsageError, OSError):
        return None
    name = workspace_cache.key(files)
    found = workspace_cache.load(folder, name)
    if found is not None:
        return found
    from cutover.yamlio import load_bytes

    # In the order of the ordinary loaders, so the first problem reported is the same.
    geo = load_document(load_bytes(geo_raw, geo_name))
    overlay = None
    if overlay_path is not None:
        overlay = validate(Overlay, load_bytes(overlay_raw, overlay_name))
    loaded = load_checklist_document(
        load_bytes(list_raw, list_name), geo, Endpoints(geo, overlay), local=local,
        probing=sel.probing,
    )  # fmt: skip
    workspace_cache.save(folder, name, geo, loaded, overlay)
    return geo, loaded, overlay


def stray_files(
    sel: Selection, geo: Geography, loaded: LoadedChecklist, cwd: Path | None = None
) -> list[str]:
    """A provinces.yaml or checklists/NAME.yaml in the current directory that was used in
    place of the packaged file of that name (and differs from it)."""
    from cutover.checklist import packaged_checklists
    from cutover.env import anchored
    from cutover.geo import PROVINCES_FILE, packaged_provinces

    found = []
    local_geo = sel.provinces_file is None and geo.source == PROVINCES_FILE
    if local_geo and _differs(anchored(Path(PROVINCES_FILE), cwd), packaged_provinces()):
        found.append(
            f"using ./{PROVINCES_FILE} from the current directory instead of the "
            "packaged one (give --provinces to choose)"
        )
    local = anchored(Path(loaded.source), cwd)
    named = loaded.source.startswith("checklists/") and (sel.checklist or "") != loaded.source
    if named and _differs(local, packaged_checklists() / local.name):
        found.append(
            f"using ./{loaded.source} from the current directory instead of the packaged "
            "checklist of that name (give --checklist PATH to choose)"
        )
    return found


def _differs(local: Path, packaged: Path) -> bool:
    try:
        return packaged.is_file() and local.read_bytes() != packaged.read_bytes()
    except OSError:
        return False


def fallback_notes(ctx: Context) -> list[str]:
    """Endpoints the overlay in use does not give, so probes go to production URLs."""
    from cutover.checklist import fallbacks

    if not ctx.overlay_given:
        return []
    return [f.describe() for f in fallbacks(ctx.endpoints, ctx.automated_steps, ctx.provinces)]


@dataclass
class Run:
    """What a run produced.  Results are kept in memory only without a store (the matrix is
    then built from them); with a store they stream to it and only counts stay here."""

    keep_results: bool = True
    # Not in the repr: asyncio.run (Python 3.11) formats its task, result included, as it
    # restores the SIGINT handler (at 50,000 results: 0.18 s and an 11 MB string each time).
    results: list[Result] = field(default_factory=list, repr=False)
    count: int = 0
    unknown: int = 0
    interrupted: bool = False
    record: RunRecord | None = None

    def add(self, result: Result) -> None:
        self.count += 1
        self.unknown += result.outcome.status == "unknown"
        if self.keep_results:
            self.results.append(result)

    @property
    def all_unknown(self) -> bool:
        return self.count > 0 and self.unknown == self.count

    def evidence(self) -> dict[tuple[str, str, str], Evidence]:
        return {
            (r.province, r.step, r.commune): Evidence(
                r.outcome.status, r.at, r.outcome.reason, r.outcome.observed, insecure=r.insecure
            )
            for r in self.results
        }


async def run_checks(
    ctx: Context,
    limits: Limits,
    env: Environment,
    *,
    store: Store | None,
    command: str,
    run: Run | None = None,
    progress: ProgressStart | None = None,
    allow_commands: bool = False,
) -> Run:
    """Probe every automated unit of the selection, streaming results to the store.

    On cancellation (Ctrl-C) the run is marked interrupted and what had finished stays
    committed; pass `run` in to read it after the cancellation propagates.  Commands run only
    when the checklist is a local file and the caller allows them."""
    import asyncio

    from cutover import engine
    from cutover.secrets import Secrets, check_references

    targets = ctx.targets  # built once: at 50,000 probes each list costs megabytes
    # A missing ${env:…} or ${file:…} is a usage error before anything is probed or stored.
    check_references(targets, ctx.endpoints, env.environ, env.cwd)
    run = run if run is not None else Run()
    run.keep_results = store is None
    automated = sum(1 for t in targets if not t.step.verify.manual)
    advance = progress(automated) if progress else None
    writer = None
    if store is not None:
        from cutover.store.base import RunStart

        loaded = ctx.loaded
        writer = store.start_run(
            RunStart(
                checklist_id=loaded.checklist.id,
                checklist_digest=loaded.digest,
                checklist_source=loaded.source,
                command=command,
                user=env.user,
                host=env.host,
                site=env.site,
                started_at=env.now(),
                scope_provinces=tuple(p.code for p in ctx.provinces),
                scope_steps=tuple(s.id for s in ctx.automated_steps),
                expected_results=automated,
            )
        )

    # Results go to the store's writer thread a batch at a time (SAVE_BATCH results, or what
    # arrived in SAVE_AFTER seconds), not one by one: each hand-over wakes that thread, which
    # then contends with the event loop for the interpreter.
    unsaved: list[Result] = []
    timer: asyncio.TimerHandle | None = None

    def save() -> None:
        nonlocal unsaved, timer
        if timer is not None:
            timer.cancel()
            timer = None
        batch, unsaved = unsaved, []  # cleared first: a second Ctrl-C must not send it twice
        if writer is not None and batch:
            writer.put_many(batch)

    loop = asyncio.get_running_loop()

    def collect(result: Result) -> None:
        nonlocal timer
        run.add(result)
        if writer is not None:
            unsaved.append(result)
            if len(unsaved) >= SAVE_BATCH:
                save()
            elif timer is None:
                timer = loop.call_later(SAVE_AFTER, save)
        if advance:
            advance()

    started = env.monotonic()
    try:
        await engine.run(
            targets,
            ctx.endpoints,
            limits,
            allow_commands=allow_commands and ctx.loaded.local,
            on_result=collect,
            clock=env.clock,
            secrets=Secrets(env.environ, env.cwd),
        )
    except asyncio.CancelledError:
        run.interrupted = True
        raise
    finally:
        if writer is not None:
            save()
            run.record = await asyncio.to_thread(
                writer.finish,
                interrupted=run.interrupted,
                finished_at=env.now(),
                duration_s=env.monotonic() - started,
            )
    return run


def matrix_of(
    ctx: Context,
    evidence: Mapping[tuple[str, str, str], Evidence],
    as_of: datetime,
    history: History | None = None,
) -> Matrix:
    return rollup(
        ctx.loaded.checklist, ctx.loaded.digest, ctx.provinces, ctx.steps, evidence, as_of, history
    )


def stored_matrix(
    ctx: Context,
    store: Store,
    as_of: datetime,
    evidence_until: datetime | None = None,
    silent_after: timedelta | None = None,
) -> Matrix:
    """The matrix from the store: evidence recorded at or before `evidence_until` (default
    `as_of`); deadlines, freshness and waivers evaluated at `as_of`.  With a heartbeat
    (`silent_after`), the provinces not heard from within it are flagged as silent."""
    from cutover.store.evidence import evidence_at

    until = evidence_until or as_of
    raw = store.raw_evidence(
        [p.code for p in ctx.provinces], [s.id for s in ctx.steps], until, until
    )
    evidence, history = evidence_at(raw, until)
    matrix = matrix_of(ctx, evidence, as_of, history)
    if silent_after is not None:
        matrix.silent_after = silent_after
        matrix.silent = silent_provinces(
            store, [p.code for p in ctx.provinces], until, silent_after
        )
    return matrix


def matrix_before_run(ctx: Context, store: Store, as_of: datetime | None) -> Matrix | None:
    """What a new run's changes are measured against: the matrix as the store's last run left
    it (None before the first run).  Its evidence is what was recorded by the time that run
    finished; its deadlines are judged at that time too, or at `as_of` when the caller fixed
    one (then both sides of the comparison use that clock)."""
    last = store.last_run()
    if last is None:
        return None
    previous = last.confirmed_at or last.started_at
    return stored_matrix(ctx, store, as_of or previous, previous)


def silent_provinces(
    store: Store, provinces: list[str], moment: datetime, after: timedelta
) -> dict[str, datetime | None]:
    """The provinces last heard from (a run covering them, an attestation about them) longer
    than `after` before `moment`, or never, with when they were last heard."""
    heard = store.last_heard(provinces, moment)
    return {p: heard.get(p) for p in provinces if p not in heard or heard[p] < moment - after}


def parse_heartbeat(value: str | None, option: str = "--silent-after") -> timedelta | None:
    """A heartbeat option such as `2h`; None or empty means no heartbeat."""
    from cutover.checklist import parse_duration

    if not value:
        return None
    try:
        found = parse_duration(value)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None
    if found <= timedelta(0):
        raise UsageError(f"{option}: must be longer than 0, got {value!r}")
    return found


def done_series(
    matrix: Matrix, store: Store, points: int = SERIES_POINTS
) -> tuple[tuple[datetime, dict[str, int]], ...]:
    """Done counts per step at each of the last `points` recorded evaluations up to the
    matrix's time (for the HTML chart): one read of the window, replayed in memory."""
    from cutover.store import series

    times = store.evaluation_times(matrix.as_of, points)
    return tuple(series.done_series(store, matrix.provinces, matrix.steps, times))


def last_run_times(
    store: Store, until: datetime | None = None
) -> tuple[datetime, datetime | None] | None:
    """The last run's start and end as the prometheus format reports them; the end is the
    start plus the run's monotonic duration, so a scenario clock cannot distort it.

    With `until` (the matrix's time), the last run is the newest one recorded that had
    started at or before it, and its end is known only if it had finished by then: what an
    export made at `until` reported, so a past export is reproduced exactly."""
    last = store.last_run(until)
    if last is None:
        return None
    finished = last.finished_at is not None and (until is None or last.finished_at <= until)
    if last.duration_s is None or not finished:
        return last.started_at, None
    return last.started_at, last.started_at + timedelta(seconds=last.duration_s)


def commune_steps(ctx: Context) -> Context:
    """The selection narrowed to its commune-level steps (`matrix --communes`)."""
    steps = [s for s in ctx.steps if s.level == "commune"]
    if not steps:
        raise UsageError("--communes: no commune-level step is selected")
    return replace(ctx, steps=steps)


def no_evidence_line(matrix: Matrix) -> str | None:
    """One line for stderr when the store had nothing at or before the matrix's time."""
    if not matrix.no_evidence:
        return None
    when = matrix.as_of.isoformat()
    return (
        f"the store holds no evidence at or before {when} for this selection: every cell "
        "shows what was known then (nothing); `cutover history` lists when evidence was recorded"
    )


def exit_code(matrix: Matrix, run: Run | None = None) -> ExitCode:
    if run is not None and run.interrupted:
        return ExitCode.INTERRUPTED
    statuses = matrix.statuses()
    if all(s in ("done", "waived", "n/a") for s in statuses):
        return ExitCode.OK
    if run is not None and run.all_unknown:
        return ExitCode.UNAVAILABLE
    return ExitCode.NOT_DONE


def parse_time(value: str | None, now: datetime, option: str = "--as-of") -> datetime:
    """A time option: ISO 8601 with an offset; a naive time is read in Asia/Ho_Chi_Minh.
    None means `now`."""
    from zoneinfo import ZoneInfo

    if value is None:
        return now
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option}: not an ISO 8601 time: {value!r} (e.g. 2025-06-28T13:00+07:00)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    return parsed


def as_of_time(value: str | None, now: datetime, option: str = "--as-of") -> datetime:
    """`--as-of` and the live page's `?as_of=`: `parse_time`, within FIRST_YEAR-LAST_YEAR (a
    time outside them is a typo, and could overflow)."""
    from cutover.models import FIRST_YEAR, LAST_YEAR, within_years

    moment = parse_time(value, now, option)
    if value is None:
        return moment
    if not within_years(moment):
        raise UsageError(f"{option}: {value!r} is outside {FIRST_YEAR}-{LAST_YEAR}")
    return moment


# A time this close ahead reads as now: clocks of the machines that wrote the evidence and of
# the one reading it differ by that much, and a table a few seconds ahead forecasts nothing.
FORECAST_AFTER = timedelta(minutes=5)


def forecast_line(moment: datetime, now: datetime) -> str | None:
    """One line for stderr when `--as-of` is more than `FORECAST_AFTER` after now: the table
    is a forecast."""
    if moment <= now + FORECAST_AFTER:
        return None
    return (
        f"{moment.isoformat()} is after now: this table is a forecast (deadlines, freshness "
        "and waivers as they will read then, on the evidence recorded so far), not a record"
    )


# --- readiness gates ----------------------------------------------------------------------

GATE_OPS = (">=", "<=", "==", ">", "<")


@dataclass(frozen=True)
class Gate:
    """A readiness gate (`matrix --require 'STEP>=N'`): how many provinces must be done."""

    step: str
    op: str
    wanted: int

    @classmethod
    def parse(cls, text: str) -> Gate:
        import re

        match = re.fullmatch(r"\s*([a-z0-9-]+)\s*(>=|<=|==|>|<)\s*(\d+)\s*", text)
        if not match:
            raise UsageError(f"--require {text!r}: expected STEP>=N (or >, ==, <=, <)")
        return cls(match[1], match[2], int(match[3]))

    def met(self, done: int) -> bool:
        import operator

        ops = {">=": operator.ge, "<=": operator.le, "==": operator.eq}
        ops |= {">": operator.gt, "<": operator.lt}
        return bool(ops[self.op](done, self.wanted))

    def __str__(self) -> str:
        return f"{self.step}{self.op}{self.wanted}"


def check_gates(ctx: Context, gates: list[Gate]) -> None:
    """Refuse a gate on a step the matrix will not have, before anything is read or written
    (a gate checked only after the output would leave a file written and then fail)."""
    chosen = {s.id for s in ctx.steps}
    for gate in gates:
        if gate.step not in chosen:
            raise UsageError(f"--require {gate}: step {gate.step!r} is not in the matrix")


def unmet_gates(matrix: Matrix, gates: list[Gate]) -> list[str]:
    """The readiness gates that are not met, each described in one line."""
    totals = matrix.totals
    failed = []
    for gate in gates:
        if gate.step not in totals:
            raise UsageError(f"--require {gate}: step {gate.step!r} is not in the matrix")
        total = totals[gate.step]
        if not gate.met(total.done):
            failed.append(f"gate not met: {gate} (done {total.done}/{total.total})")
    return failed
