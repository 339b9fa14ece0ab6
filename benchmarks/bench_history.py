"""The store at cron scale: reading commands against stores of 100,000 / 1,000,000 /
10,000,000 result rows, and the size of 30 days of 15-minute runs.

    python benchmarks/bench_history.py [--rows 100000 1000000 10000000] [--repeat 5]
                                       [--cache DIR] [--size-days 30]

Each store is built through the store's own writer: runs of every automated unit of the June
2025 checklist (34 provinces, 17 steps, the communes of commune-level steps), one every 15
minutes from 1 June 2025, where a share of units changes state each run (`--churn`; every
changed unit is a new row, unchanged ones are confirmed by the run).  People's attestations
and waivers are sprinkled in.  Stores are kept in `--cache` and reused.

Each reading command then runs as a whole process (`python -m cutover …`, start-up included),
`--repeat` times; the script prints the median per store size, and the ratio of the largest
store's time to the smallest's, measured in the same run: cost should follow cells, not
history.  It also prints SQLite's query plan for the per-unit read.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from precompile import compile_sources

from cutover import service
from cutover.checklist import Overlay
from cutover.engine import Result
from cutover.probes import Outcome
from cutover.store.base import AttestationRecord, RunStart, WaiverRecord, open_store

START = datetime(2025, 6, 1, tzinfo=UTC)
EVERY = timedelta(minutes=15)


@dataclass
class Unit:
    province: str
    step: str
    commune: str
    state: int = 0


def units() -> list[Unit]:
    ctx = service.prepare(service.Selection(), Overlay())
    return [Unit(*t.key) for t in ctx.targets if not t.step.verify.manual]


def outcome(state: int) -> Outcome:
    if state % 3 == 0:
        return Outcome("pass", "", "200", 3.0)
    if state % 3 == 1:
        return Outcome("fail", f"expected status 200, got 404 (change {state})", "404", 3.0)
    return Outcome("unknown", "timed out after 10 s", None, 10_000.0)


def build(path: Path, rows: int, churn: float, seed: int = 7) -> tuple[int, float]:
    """Write runs until the store holds `rows` result rows; returns (runs, seconds)."""
    rng = random.Random(seed)
    everything = units()
    cells = sorted({(u.province, u.step) for u in everything})
    store = open_store(path, environ={})
    written = store.describe().counts["results"]
    runs = 0
    began = time.perf_counter()
    moment = START
    provinces = tuple(sorted({u.province for u in everything}))
    steps = tuple(sorted({u.step for u in everything}))
    while written < rows:
        changed = everything if runs == 0 else rng.sample(everything, int(len(everything) * churn))
        for u in changed:
            u.state += 1 if runs else 0
        writer = store.start_run(
            RunStart(
                "cutover-2025-06",
                "0" * 64,
                "bench",
                "check --all",
                "cron",
                "bench",
                "office",
                moment,
                provinces,
                steps,
                len(everything),
            )
        )
        for i, u in enumerate(everything):
            at = moment + timedelta(milliseconds=i // 50)
            writer.put(Result(u.province, u.step, u.commune, outcome(u.state), at))
        record = writer.finish(interrupted=False, finished_at=moment + timedelta(seconds=90),
                               duration_s=90.0)  # fmt: skip
        assert record.complete
        if runs % 20 == 5:  # people act now and then
            p, s = rng.choice(cells)
            store.add_attestation(
                AttestationRecord(
                    p,
                    "commune-plans",
                    "",
                    "pass",
                    "officer",
                    moment,
                    "https://example.gov.vn/plan.pdf",
                )
            )
            store.add_waiver(
                WaiverRecord(p, s, "contract pending", "leader", moment + timedelta(days=2), moment)
            )
        written = store.describe().counts["results"]
        runs += 1
        moment += EVERY
    store.close()
    return runs, time.perf_counter() - began


def span(path: Path) -> tuple[datetime, datetime]:
    store = open_store(path, environ={}, create=False)
    runs = store.runs(1)
    store.close()
    return START, runs[0].started_at


def timed(args: list[str], repeat: int) -> tuple[float, float]:
    """Median wall and CPU (user + system) seconds of the whole command.  CPU time is what to
    compare on a shared machine: other load stretches the wall clock, not the CPU spent."""
    import resource

    env = {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": ""}
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "cutover", *args], capture_output=True, env=env, check=False
        )
        walls.append(time.perf_counter() - began)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(args)} failed: {done.stderr.decode()}")
    return statistics.median(walls), statistics.median(cpus)


def commands(db: Path) -> dict[str, list[str]]:
    first, last = span(db)
    mid = (first + (last - first) / 2).isoformat()
    d = ["--db", str(db)]
    return {
        "matrix --format json": ["matrix", "--format", "json", *d],
        "matrix --as-of MID --format json": ["matrix", "--as-of", mid, "--format", "json", *d],
        "summary": ["summary", *d],
        "history 31 online-filing-test": ["history", "31", "online-filing-test", *d],
        "history 31 portal-closure": ["history", "31", "portal-closure", *d],
        "matrix --format html (history chart)": ["matrix", "--format", "html", *d],
    }


def query_plan(db: Path) -> list[str]:
    """SQLite's plan for the store's own per-unit read (`SqlReader.latest_join`, the join the
    matrix's probe rows are read with), not a copy of it."""
    store = open_store(str(db), environ={}, create=False)
    try:
        join = store.latest_join("results", "r")  # type: ignore[attr-defined]
        sql = f"""EXPLAIN QUERY PLAN SELECT r.id FROM units u {join}
            WHERE u.province IN ('31') AND u.step IN ('online-filing-test')"""
        return [str(row[-1]) for row in store._rows(sql, (0,))]  # type: ignore[attr-defined]
    finally:
        store.close()


def size_experiment(folder: Path, days: int, churn: float) -> None:
    path = folder / f"cron-{days}d-{churn}.db"
    runs_needed = days * 96
    if not path.exists():
        # rows grow by ~churn * units per run; stop after the wanted number of runs
        everything = len(units())
        target = everything + int(everything * churn) * (runs_needed - 1)
        runs, seconds = build(path, target, churn)
        print(f"built {days} days of 15-minute runs ({runs} runs) in {seconds:.0f} s")
    store = open_store(path, environ={}, create=False)
    about = store.describe()
    store.close()
    print(
        f"{days} days of 15-minute check --all ({about.counts['runs']} runs, "
        f"churn {churn:.1%} of units per run): {about.counts['results']:,} result rows, "
        f"{(path.stat().st_size) / 1e6:.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--churn", type=float, default=1.0)
    parser.add_argument("--cache", type=Path, default=Path(".bench-stores"))
    parser.add_argument("--size-days", type=int, default=0)
    parser.add_argument("--size-churn", type=float, default=0.002)
    args = parser.parse_args()
    compile_sources()  # as pip install does: see precompile.py
    args.cache.mkdir(exist_ok=True)
    if args.size_days:
        size_experiment(args.cache, args.size_days, args.size_churn)
    results: dict[int, dict[str, tuple[float, float]]] = {}
    for rows in args.rows:
        db = args.cache / f"history-{rows}-{args.churn}.db"
        if not db.exists():
            runs, seconds = build(db, rows, args.churn)
            print(f"built {rows:,} rows ({runs} runs) in {seconds:.0f} s")
        results[rows] = {name: timed(cmd, args.repeat) for name, cmd in commands(db).items()}
        print(f"\n{rows:>12,} rows, {db.stat().st_size / 1e6:.0f} MB (median of {args.repeat})")
        for name, (wall, cpu) in results[rows].items():
            print(f"  {name:<40} {wall * 1000:8.0f} ms wall {cpu * 1000:8.0f} ms CPU")
    if len(results) > 1:
        small, large = min(results), max(results)
        print(f"\nratio {large:,} rows / {small:,} rows (same run):")
        for name in results[small]:
            (lw, lc), (sw, sc) = results[large][name], results[small][name]
            print(f"  {name:<40} {lw / sw:6.2f}x wall {lc / sc:6.2f}x CPU")
    print("\nquery plan, latest row per unit at T:")
    for line in query_plan(args.cache / f"history-{min(args.rows)}-{args.churn}.db"):
        print(f"  {line}")


if __name__ == "__main__":
    main()
