"""`cutover check` and `cutover demo` as library calls: load, plan, run, roll up."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cutover import plan
from cutover.checklist import (
    Endpoints,
    LoadedChecklist,
    Overlay,
    Step,
    load_checklist,
    load_overlay,
)
from cutover.engine import Result
from cutover.errors import ExitCode
from cutover.geo import Geography, Province, load_geography
from cutover.probes import Limits
from cutover.rollup import Evidence, History, Matrix, rollup

if TYPE_CHECKING:
    from cutover.store.sqlite import Store

if TYPE_CHECKING:
    from cutover.store.sqlite import Store


@dataclass
class Selection:
    """What to evaluate: provinces (None = all), steps, tag, and against which files."""

    provinces: list[str] | None = None
    steps: list[str] | None = None
    tag: str | None = None
    checklist: str | None = None
    endpoints: Path | None = None
    provinces_file: Path | None = None


@dataclass
class Context:
    geo: Geography
    loaded: LoadedChecklist
    endpoints: Endpoints
    provinces: list[Province]
    steps: list[Step]

    @property
    def targets(self) -> list[plan.Target]:
        return plan.build(self.provinces, self.steps)


def prepare(
    sel: Selection, overlay: Overlay | None = None, geo: Geography | None = None
) -> Context:
    geo = geo or load_geography(sel.provinces_file)
    if overlay is None:
        env = os.environ.get("CUTOVER_ENDPOINTS")
        overlay = load_overlay(sel.endpoints or (Path(env) if env else None))
    endpoints = Endpoints(geo, overlay)
    loaded = load_checklist(sel.checklist, geo, endpoints)
    provinces = geo.select(sel.provinces)
    steps = plan.select_steps(loaded.checklist, sel.steps, sel.tag)
    return Context(geo, loaded, endpoints, provinces, steps)


@dataclass
class Run:
    """Results as they arrive; kept even when the run is interrupted."""

    results: list[Result] = field(default_factory=list)
    interrupted: bool = False

    def evidence(self) -> dict[tuple[str, str, str], Evidence]:
        return {
            (r.province, r.step, r.commune): Evidence(
                r.outcome.status, r.at, r.outcome.reason, r.outcome.observed, insecure=r.insecure
            )
            for r in self.results
        }


def execute(
    ctx: Context,
    limits: Limits,
    *,
    store: Store | None = None,
    command: str = "check",
    progress: Callable[[int], Callable[[], None]] | None = None,
) -> Run:
    """Run every automated probe of the selection, storing results as they arrive.
    Ctrl-C stops the run and keeps (and commits) what had finished."""
    from cutover.store.sqlite import RunInfo

    if store is None:
        return _probe(ctx, limits, None, progress)
    loaded = ctx.loaded
    run_id = store.start_run(RunInfo(loaded.checklist.id, loaded.digest, loaded.source, command))
    writer = store.writer(run_id)
    try:
        run = _probe(ctx, limits, writer.put, progress)
    finally:
        writer.close()
    store.finish_run(run_id, run.interrupted)
    return run


def _probe(
    ctx: Context,
    limits: Limits,
    on_result: Callable[[Result], None] | None,
    progress: Callable[[int], Callable[[], None]] | None,
) -> Run:
    from cutover import engine

    run = Run()
    targets = ctx.targets
    advance = progress(sum(1 for t in targets if not t.step.verify.manual)) if progress else None

    def collect(result: Result) -> None:
        run.results.append(result)
        if on_result:
            on_result(result)
        if advance:
            advance()

    try:
        asyncio.run(
            engine.run(
                targets, ctx.endpoints, limits, allow_commands=ctx.loaded.local, on_result=collect
            )
        )
    except KeyboardInterrupt:
        run.interrupted = True
    return run


def matrix_of(
    ctx: Context,
    evidence: dict[tuple[str, str, str], Evidence],
    as_of: datetime,
    history: History | None = None,
) -> Matrix:
    return rollup(
        ctx.loaded.checklist, ctx.loaded.digest, ctx.provinces, ctx.steps, evidence, as_of, history
    )


def stored_matrix(
    ctx: Context, store: Store, as_of: datetime, evidence_until: datetime | None = None
) -> Matrix:
    """The matrix from the store: evidence at or before `evidence_until` (default `as_of`);
    deadlines, freshness and waivers evaluated at `as_of`."""
    until = evidence_until or as_of
    ids = [s.id for s in ctx.steps]
    return matrix_of(ctx, store.evidence(ids, until), as_of, store.history(ids, until))


def exit_code(matrix: Matrix, run: Run | None = None) -> ExitCode:
    if run is not None and run.interrupted:
        return ExitCode.INTERRUPTED
    statuses = matrix.statuses()
    if all(s in ("done", "waived", "n/a") for s in statuses):
        return ExitCode.OK
    if run is not None and run.results and all(r.outcome.status == "unknown" for r in run.results):
        return ExitCode.UNAVAILABLE
    return ExitCode.NOT_DONE


def parse_time(value: str | None, option: str = "--as-of") -> datetime:
    """A time option: ISO 8601 with an offset; a naive time is read in Asia/Ho_Chi_Minh.
    None means now."""
    from zoneinfo import ZoneInfo

    from cutover.errors import UsageError

    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"{option}: not an ISO 8601 time: {value!r} (e.g. 2025-06-28T13:00+07:00)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    return parsed


SERIES_POINTS = 60


def store_context(matrix: Matrix, store: Store) -> dict[str, Any]:
    """What history-aware renderers need, computed here so they never touch the store: the
    done count per step at each recorded evaluation (last 60) and the last run's times."""
    ids = [s.id for s in matrix.steps]
    points = [t for t in store.evaluation_times() if t <= matrix.as_of][-SERIES_POINTS:]
    series = []
    for moment in points:
        past = rollup(
            matrix.checklist,
            matrix.digest,
            matrix.provinces,
            matrix.steps,
            store.evidence(ids, moment),
            moment,
            store.history(ids, moment),
        )
        series.append((moment, {k: t.done for k, t in past.totals.items()}))
    last = store.last_run()
    return {"series": tuple(series), "last_run": (last[1], last[2]) if last else None}
