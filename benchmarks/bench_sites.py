"""34 sites at once: PostgreSQL (one role per province) against one shared SQLite file.

    python benchmarks/bench_sites.py [--repeat 3]

Each round starts 34 concurrent `cutover check --province P` processes (every step of the
checklist, 3,560 probes in all) against the simulator, first into a fresh PostgreSQL database
(each process as its own province role, CUTOVER_SITE=P), then into a fresh SQLite file (the
same 34 processes, one file, SQLite's write lock and busy timeout).  It prints, per backend, the
median wall time from the first start to the last exit, the results written per second of that
wall time, the median of the runs' own durations as the store recorded them, and the CPU time
the round cost: the 34 `cutover` processes, and the PostgreSQL server (its backends, reaped by
the postmaster); then the ratio of the wall times.  CPU time depends much less than wall time
on whatever else the machine is doing.

PostgreSQL is a throwaway server from tests/pg_server.py, with its durable defaults (fsync on,
synchronous commit); SQLite runs in WAL mode with synchronous=NORMAL, as `cutover` sets it.
The `cutover` processes run at a lower priority than the simulator and the database server,
as in the tests, so 34 of them on a small machine cannot starve the servers into timeouts.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pg_server import PgServer, find_bin

from cutover.geo import load_geography
from cutover.sim.app import overlay_for
from cutover.sim.scenario import load_scenario
from cutover.sim.server import SimulatorThread
from cutover.store import admin
from cutover.store.base import open_store
from cutover.yamlio import dump

AS_OF = "2025-06-28T13:00"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def server_cpu(server: PgServer) -> float:
    """CPU seconds of the postmaster and every backend it has reaped (/proc/PID/stat)."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def run_sites(urls: dict[str, str], overlay: Path, folder: Path) -> float:
    """Wall time of 34 concurrent province checks, each into its own URL or path."""
    started = time.perf_counter()
    procs = []
    for code, db in urls.items():
        env = {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": db, "CUTOVER_SITE": code}
        command = [sys.executable, "-m", "cutover", "check", "--province", code,
                   "--endpoints", str(overlay), "--as-of", AS_OF, "--quiet"]  # fmt: skip
        procs.append(
            subprocess.Popen(
                command,
                env=env,
                cwd=folder,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                preexec_fn=lambda: os.nice(10),
            )
        )
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"a site failed ({proc.returncode}): {err.strip()}")
    return time.perf_counter() - started


Round = tuple[float, int, float, float, float]  # wall, results, run, client CPU, server CPU


def stats(location: str) -> tuple[int, float]:
    """Results written and the median run duration the store recorded."""
    store = open_store(location, environ={})
    try:
        results = store.describe().counts["results"]
        durations = [r.duration_s or 0.0 for r in store.runs(100)]
    finally:
        store.close()
    return results, statistics.median(durations)


def postgres_round(server: PgServer, codes: list[str], overlay: Path, folder: Path) -> Round:
    db = server.new_database()
    admin.init(db.url, {})
    urls = {}
    for code in codes:
        admin.grant(db.url, {}, db.role(f"p{code}"), code, f"pw-{code}")
        urls[code] = db.role_url(db.role(f"p{code}"), f"pw-{code}")
    client, before = children_cpu(), server_cpu(server)
    wall = run_sites(urls, overlay, folder)
    client, used = children_cpu() - client, server_cpu(server) - before
    return (wall, *stats(db.url), client, used)


def sqlite_round(codes: list[str], overlay: Path, folder: Path, i: int) -> Round:
    path = str(folder / f"sites-{i}.db")
    open_store(path, environ={}).close()  # created once, before the sites start
    client = children_cpu()
    wall = run_sites(dict.fromkeys(codes, path), overlay, folder)
    return (wall, *stats(path), children_cpu() - client, 0.0)


def report(name: str, rounds: list[Round]) -> float:
    def median(i: int) -> float:
        return statistics.median(r[i] for r in rounds)

    wall, rows = median(0), rounds[0][1]
    server = f", server {median(4):.1f} s" if median(4) else ""
    print(
        f"{name:>10}: median wall {wall:.2f} s for 34 sites, {rows} results "
        f"({rows / wall:,.0f} results/s); median run {median(2):.2f} s; "
        f"CPU: cutover processes {median(3):.1f} s{server}; {len(rounds)} rounds"
    )
    return wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder_bin = find_bin()
    if folder_bin is None:
        raise SystemExit("no PostgreSQL binaries (set CUTOVER_PG_BIN)")
    geo = load_geography(None)
    codes = [p.code for p in geo.provinces]
    server = PgServer(folder_bin, durable=True)
    server.init()
    server.start()
    try:
        with (
            SimulatorThread(load_scenario(None), geo) as sim,
            tempfile.TemporaryDirectory() as tmp,
        ):
            folder = Path(tmp)
            overlay = folder / "overlay.yaml"
            overlay.write_text(dump(overlay_for(sim.base_url)), encoding="utf-8")
            pg, lite = [], []
            for i in range(args.repeat):
                pg.append(postgres_round(server, codes, overlay, folder))
                lite.append(sqlite_round(codes, overlay, folder, i))
            a = report("postgresql", pg)
            b = report("sqlite", lite)
            print(f"wall time PostgreSQL / SQLite: {a / b:.2f}")
    finally:
        server.remove()


if __name__ == "__main__":
    main()
