"""`cutover demo`: the simulator on a free loopback port, `check --all` against it, stored in a
SQLite file, and the matrix read back from the store."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cutover import checking, engine
from cutover.checklist import Endpoints, Overlay
from cutover.geo import load_geography
from cutover.probes import Limits
from cutover.rollup import Matrix
from cutover.sim.scenario import load_scenario
from cutover.store.sqlite import RunInfo, Store

DEMO_LIMITS = Limits(jobs=64, per_host=64, timeout=10.0)


@contextmanager
def demo_store(path: Path | None) -> Iterator[Store]:
    if path is not None:
        store = Store(path)
        try:
            yield store
        finally:
            store.close()
        return
    with tempfile.TemporaryDirectory(prefix="cutover-demo-") as folder:
        store = Store(Path(folder) / "demo.db")
        try:
            yield store
        finally:
            store.close()


def run_demo(
    scenario_name: str | None,
    tag: str | None,
    as_of: str | None,
    store: Store,
    progress: Callable[[int], Callable[[], None]] | None = None,
) -> tuple[Matrix, checking.Run]:
    from cutover.sim.app import overlay_for
    from cutover.sim.server import serve

    scenario = load_scenario(scenario_name)
    geo = load_geography()
    moment = checking.parse_time(as_of or scenario.as_of)
    run = checking.Run()
    # Loaded once; only the endpoint values change once the simulator has its port.
    ctx = checking.prepare(checking.Selection(tag=tag), Overlay(), geo)

    async def go() -> None:
        async with serve(scenario, geo) as base:
            endpoints = Endpoints(geo, Overlay.model_validate(overlay_for(base)))
            loaded = ctx.loaded
            run_id = store.start_run(
                RunInfo(
                    loaded.checklist.id,
                    loaded.digest,
                    loaded.source,
                    f"demo --scenario {scenario.id}",
                ),
                moment,
            )
            writer = store.writer(run_id)
            targets = ctx.targets
            advance = progress(len(targets)) if progress else None

            def collect(result: engine.Result) -> None:
                run.results.append(result)
                writer.put(result)
                if advance:
                    advance()

            try:
                # Evidence is stamped with the scenario's clock so deadlines read as they did then.
                await engine.run(
                    targets,
                    endpoints,
                    DEMO_LIMITS,
                    allow_commands=False,
                    on_result=collect,
                    clock=lambda: moment,
                )
            finally:
                writer.close()
                store.finish_run(run_id, run.interrupted)

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        run.interrupted = True
    return checking.stored_matrix(ctx, store, moment), run
