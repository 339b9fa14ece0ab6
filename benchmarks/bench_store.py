"""Store writes: the batched writer thread vs a one-transaction-per-result baseline.

    python benchmarks/bench_store.py [--results 3559] [--repeat 5]

Writes the same synthetic results (the size of one `check --all` of the telegram steps) into a
fresh SQLite file each way, in the same process, and prints medians and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from cutover.engine import Result
from cutover.probes import Outcome
from cutover.store import sqlite
from cutover.store.base import RunStart, open_store


def info(n: int) -> RunStart:
    return RunStart("bench", "0" * 64, "bench", "bench", "u", "h", "site", datetime.now(UTC),
                    ("31",), ("online-filing-test",), n)  # fmt: skip


def results(n: int) -> list[Result]:
    now = datetime.now(UTC)
    return [
        Result("31", "online-filing-test", f"{i:05d}", Outcome("pass", "", "1", 1.0), now)
        for i in range(n)
    ]


def write(path: Path, rows: list[Result], batch: int) -> float:
    sqlite.BATCH = batch
    store = open_store(path, environ={})
    start = time.perf_counter()
    writer = store.start_run(info(len(rows)))
    for r in rows:
        writer.put(r)
    writer.finish(interrupted=False, finished_at=datetime.now(UTC), duration_s=0.0)
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def batched(path: Path, rows: list[Result]) -> float:
    return write(path, rows, 500)


def per_row(path: Path, rows: list[Result]) -> float:
    return write(path, rows, 1)  # one transaction per result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=int, default=3559)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = results(args.results)
    medians = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, how in (
            ("one transaction per result (baseline)", per_row),
            ("batched writer", batched),
        ):
            times = [how(Path(folder) / f"{name[:3]}{i}.db", rows) for i in range(args.repeat)]
            medians[name] = statistics.median(times)
            print(
                f"{name:>38}: median {medians[name] * 1000:.0f} ms for {len(rows)} results "
                f"over {args.repeat} runs"
            )
    base, fast = medians.values()
    print(f"speed-up batched vs per-result: {base / fast:.1f}x")


if __name__ == "__main__":
    main()
