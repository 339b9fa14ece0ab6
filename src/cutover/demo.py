"""`cutover demo`: the simulator on a free loopback port and `check --all` against it, through
exactly the `check` code path (`service.run_checks`), stored in a SQLite file, and the matrix
read back from the store.

The only difference from `check` is the clock: the demo's environment is frozen at the
scenario's time, so evidence is stamped as it would have been then and deadlines read as they
did.  Run durations come from the monotonic clock, so they stay real.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from cutover import service
from cutover.checklist import Endpoints, Overlay
from cutover.env import Environment, fixed_clock
from cutover.geo import load_geography
from cutover.probes import Limits
from cutover.rollup import Matrix
from cutover.sim.scenario import Scenario, load_scenario
from cutover.store.base import Store, open_store

DEMO_LIMITS = Limits(jobs=64, per_host=64, timeout=10.0)


@contextmanager
def demo_store(path: Path | None, env: Environment) -> Iterator[Store]:
    """The store the demo writes: the given path, or a file in a temporary directory."""
    if path is not None:
        store = open_store(path, environ=env.environ)
        try:
            yield store
        finally:
            store.close()
        return
    with tempfile.TemporaryDirectory(prefix="cutover-demo-") as folder:
        store = open_store(Path(folder) / "demo.db", environ=env.environ)
        try:
            yield store
        finally:
            store.close()


@dataclass
class Demo:
    scenario: Scenario
    ctx: service.Context
    env: Environment  # frozen at the scenario's time


def prepare_demo(
    scenario_name: str | None, tag: str | None, as_of: str | None, env: Environment
) -> Demo:
    scenario = load_scenario(scenario_name)
    moment = service.as_of_time(as_of or scenario.as_of, env.now())
    # Loaded once; only the endpoint values change once the simulator has its port.
    geo = load_geography(cwd=env.cwd)
    ctx = service.prepare(service.Selection(tag=tag), Overlay(), geo, cwd=env.cwd)
    return Demo(scenario, ctx, replace(env, clock=fixed_clock(moment)))


@asynccontextmanager
async def simulated(demo: Demo) -> AsyncIterator[service.Context]:
    """The demo's selection pointed at a simulator running on this loop."""
    from cutover.sim.app import overlay_for
    from cutover.sim.server import serve

    async with serve(demo.scenario, demo.ctx.geo) as base:
        overlay = Overlay.model_validate(overlay_for(base))
        yield replace(demo.ctx, endpoints=Endpoints(demo.ctx.geo, overlay))


async def run_demo(
    demo: Demo,
    store: Store,
    *,
    run: service.Run | None = None,
    progress: service.ProgressStart | None = None,
) -> tuple[Matrix, service.Run]:
    async with simulated(demo) as ctx:
        done = await service.run_checks(
            ctx,
            DEMO_LIMITS,
            demo.env,
            store=store,
            command=f"demo --scenario {demo.scenario.id}",
            run=run,
            progress=progress,
        )
    return service.stored_matrix(demo.ctx, store, demo.env.now()), done
