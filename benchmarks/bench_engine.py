"""Engine throughput against the simulator on loopback: `--jobs 64` vs a `--jobs 1` baseline.

    python benchmarks/bench_engine.py [--repeat 5] [--latency-ms 20] [--probes 400]

The simulator adds `--latency-ms` to every response, standing in for a real network's round
trip (on bare loopback both runs are CPU-bound and concurrency cannot show).  Each way runs
the first `--probes` telegram-step probes several times in the same process; the script prints
medians and the speed-up ratio.  Needs only the project installed.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path

from cutover import engine, service
from cutover.checklist import Overlay
from cutover.geo import load_geography
from cutover.plan import Target
from cutover.probes import Limits
from cutover.secrets import Secrets
from cutover.sim.app import overlay_for
from cutover.sim.scenario import Fault, load_scenario
from cutover.sim.server import SimulatorThread


def once(ctx: service.Context, targets: list[Target], limits: Limits) -> tuple[float, int]:
    results: list[engine.Result] = []
    start = time.perf_counter()
    run = engine.run(
        targets,
        ctx.endpoints,
        limits,
        allow_commands=False,
        on_result=results.append,
        clock=lambda: datetime.now(UTC),
        secrets=Secrets({}, Path.cwd()),
    )
    asyncio.run(run)
    return time.perf_counter() - start, len(results)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--probes", type=int, default=400)
    args = parser.parse_args()
    geo = load_geography()
    scenario = load_scenario(None).model_copy(
        update={
            "faults": [Fault(path="^/(national|sso|edoc|p)/", kind="latency", ms=args.latency_ms)]
        }
    )
    with SimulatorThread(scenario, geo) as sim:
        overlay = Overlay.model_validate(overlay_for(sim.base_url))
        ctx = service.prepare(service.Selection(tag="telegram-2025-06-28"), overlay)
        targets = ctx.targets[: args.probes]
        runs = {
            "jobs=1 (baseline)": Limits(jobs=1, per_host=1),
            "jobs=64": Limits(jobs=64, per_host=64),
        }
        medians = {}
        for name, limits in runs.items():
            times = []
            for _ in range(args.repeat):
                seconds, count = once(ctx, targets, limits)
                times.append(seconds)
            medians[name] = statistics.median(times)
            print(
                f"{name:>18}: median {medians[name]:.2f} s for {count} probes "
                f"({count / medians[name]:,.0f} probes/s) over {args.repeat} runs"
            )
    base, fast = medians.values()
    print(f"speed-up jobs=64 vs jobs=1: {base / fast:.1f}x")


if __name__ == "__main__":
    main()
