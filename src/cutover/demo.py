"""`cutover demo`: the simulator on a free loopback port, `check --all` against it, the matrix."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from cutover import checking, engine
from cutover.checklist import Overlay
from cutover.geo import load_geography
from cutover.probes import Limits
from cutover.rollup import Matrix
from cutover.sim.scenario import load_scenario

DEMO_LIMITS = Limits(jobs=64, per_host=64, timeout=10.0)


def run_demo(
    scenario_name: str | None,
    tag: str | None,
    as_of: str | None,
    progress: Callable[[int], Callable[[], None]] | None = None,
) -> tuple[Matrix, checking.Run]:
    from cutover.sim.app import overlay_for
    from cutover.sim.server import serve

    scenario = load_scenario(scenario_name)
    geo = load_geography()
    moment = checking.parse_time(as_of or scenario.as_of)
    run = checking.Run()

    async def go() -> checking.Context:
        async with serve(scenario, geo) as base:
            overlay = Overlay.model_validate(overlay_for(base))
            ctx = checking.prepare(checking.Selection(tag=tag), overlay)
            targets = ctx.targets
            advance = progress(len(targets)) if progress else None

            def collect(result: engine.Result) -> None:
                run.results.append(result)
                if advance:
                    advance()

            # Evidence is stamped with the scenario's clock so deadlines read as they did then.
            await engine.run(
                targets,
                ctx.endpoints,
                DEMO_LIMITS,
                allow_commands=False,
                on_result=collect,
                clock=lambda: moment,
            )
            return ctx

    try:
        ctx = asyncio.run(go())
    except KeyboardInterrupt:
        run.interrupted = True
        ctx = checking.prepare(checking.Selection(tag=tag), Overlay())
    return checking.matrix_of(ctx, run.evidence(), moment), run


__all__ = ["datetime", "run_demo"]
