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
from cutover.store.sqlite import INSERT_RESULT, RunInfo, Store, result_row

INFO = RunInfo("bench", "0" * 64, "bench", "bench")


def results(n: int) -> list[Result]:
    now = datetime.now(UTC)
    return [
        Result("31", "online-filing-test", f"{i:05d}", Outcome("pass", "", "1", 1.0), now)
        for i in range(n)
    ]


def batched(path: Path, rows: list[Result]) -> float:
    store = Store(path)
    start = time.perf_counter()
    writer = store.writer(store.start_run(INFO))
    for r in rows:
        writer.put(r)
    writer.close()
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


def per_row(path: Path, rows: list[Result]) -> float:
    store = Store(path)
    start = time.perf_counter()
    run_id = store.start_run(INFO)
    for r in rows:  # autocommit: one transaction each
        store.conn.execute(INSERT_RESULT, result_row(run_id, r))
    elapsed = time.perf_counter() - start
    store.close()
    return elapsed


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
