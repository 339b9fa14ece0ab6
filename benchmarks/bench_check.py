"""`cutover check` at commune scale against a bare aiohttp loop, both as whole processes.

    python benchmarks/bench_check.py [--steps 2] [--repeat 3] [--big-steps 15] [--before SRC]

A fast local HTTP server (aiohttp, its own process) answers every commune's URL.  A checklist
with `--steps` commune-level http steps gives 3,321 × steps probes (2 steps: 6,642).  The
baseline is `benchmarks/bare_loop.py`: one aiohttp session fetching the same URLs with 64 in
flight, nothing else.  Both are timed as whole processes (start-up included), `--repeat`
times, interleaved (`check` as the console command `cutover`, as people and cron run it); the
script prints median probes/s, CPU seconds (user + system of the process), the ratio
cutover/bare (by wall time, and by CPU seconds, which moves less with other load on the
machine), the median of the same ratio taken within each round (each run against the bare
loops on either side of it, the last round's against its own: the speed of this shared
machine drifts between rounds) with a 95% interval of that median, and each process's peak
RSS.
`check` with the store is timed twice: into an empty store (a first run: every result is a
new row) and into a store that already holds one run over the same URLs (the steady state of
cron: results identical to a unit's latest row are not written, the run confirms them).
`--big-steps 15` (49,815 probes) measures µs per probe and peak memory at national scale.
`--before SRC` also times another version's `check` (`git archive main src | tar -x -C
/tmp/main`, then `--before /tmp/main/src`) in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from precompile import compile_sources

HERE = Path(__file__).parent

SERVER = """
import sys
from aiohttp import web

async def commune(request):
    return web.json_response({"code": request.match_info["code"], "filings": 1})

app = web.Application()
app.router.add_get("/c/{code}", commune)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
            backlog=1024)
"""


@contextlib.contextmanager
def fast_server() -> Iterator[str]:
    """The fast local HTTP server (`SERVER`) in a process of its own, once it accepts
    connections: its base URL."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def checklist(steps: int) -> str:
    body = [
        "id: bench", "title: {vi: bench, en: bench}", "timezone: Asia/Ho_Chi_Minh", "steps:"
    ]  # fmt: skip
    for i in range(steps):
        body += [
            f"  - id: filing-{i}",
            f"    title: {{vi: filing {i}, en: filing {i}}}",
            "    due: 2025-06-30T17:00:00+07:00",
            "    level: commune",
            "    verify:",
            "      kind: http",
            "      url: '{endpoint.fast}/c/{commune.code}'",
            "      expect: {status: 200}",
        ]
    return "\n".join(body) + "\n"


def run(cmd: list[str], env: dict[str, str], fresh: Path | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system) and peak RSS (KB) of one whole process;
    `fresh`, a store file, is removed first."""
    if fresh is not None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{fresh}{suffix}").unlink(missing_ok=True)
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def urls(base: str) -> list[str]:
    from cutover.geo import load_geography

    geo = load_geography()
    return [f"{base}/c/{c.code}" for p in geo.provinces for c in p.communes]


def measure(steps: int, repeat: int, base: str, folder: Path, before: Path | None) -> None:
    path = folder / f"bench-{steps}.yaml"
    path.write_text(checklist(steps), encoding="utf-8")
    overlay = folder / "overlay.yaml"
    overlay.write_text(f"endpoints: {{fast: '{base}'}}\n", encoding="utf-8")
    listing = folder / f"urls-{steps}.txt"
    listing.write_text("\n".join(urls(base) * steps) + "\n", encoding="utf-8")
    probes = len(urls(base)) * steps
    env = {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(folder / f"steady-{steps}.db")}
    first_db = folder / f"first-{steps}.db"
    bare = [sys.executable, str(HERE / "bare_loop.py"), str(listing)]
    common = ["check", "--all", "--checklist", str(path), "--endpoints", str(overlay),
              "--format", "json", "--jobs", "64", "--per-host", "64"]  # fmt: skip
    # The console command, as people and cron run it (`python -m` adds runpy's few ms).
    script = Path(sys.executable).with_name("cutover")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "cutover"]
    tool = [*command, *common, "--no-store"]
    stored = [*command, *common]
    commands = {
        "bare aiohttp loop": bare,
        "check --no-store": tool,
        "check, empty store": stored,
        "check, store has a run": stored,
    }
    envs = dict.fromkeys(commands, env)
    envs["check, empty store"] = {**env, "CUTOVER_DB": str(first_db)}
    fresh = {"check, empty store": first_db}
    run(stored, env)  # untimed: the steady-state store's previous run
    if before is not None:  # another version's source tree, run by the same interpreter
        old = {**env, "PYTHONPATH": str(before), "CUTOVER_DB": str(folder / f"b-{steps}.db")}
        commands["before: --no-store"] = tool
        commands["before: empty store"] = stored
        commands["before: store has a run"] = stored
        envs["before: --no-store"] = envs["before: store has a run"] = old
        envs["before: empty store"] = {**old, "CUTOVER_DB": str(folder / f"b-first-{steps}.db")}
        fresh["before: empty store"] = folder / f"b-first-{steps}.db"
        run(stored, old)
    # Interleaved (bare, tool, stored, bare, …) so that load from elsewhere on the machine
    # falls on every command alike; the medians are compared.
    samples: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
    for _ in range(repeat):
        for name, cmd in commands.items():
            samples[name].append(run(cmd, envs[name], fresh.get(name)))
    rows, cpus = {}, {}
    for name, runs in samples.items():
        wall = statistics.median(s[0] for s in runs)
        cpu = statistics.median(s[1] for s in runs)
        rows[name], cpus[name] = wall, cpu
        peak = max(s[2] for s in runs) / 1024
        rate, each = probes / wall, wall / probes * 1e6
        print(f"  {name:<24} {wall:6.2f} s {rate:7,.0f} probes/s {each:4.0f} µs/probe"
              f"  cpu {cpu:5.2f} s  peak {peak:4.0f} MB")  # fmt: skip
    # The ratio by CPU seconds moves less with the load from elsewhere than the one by wall time.
    base_wall, base_cpu = rows["bare aiohttp loop"], cpus["bare aiohttp loop"]
    bare_runs = samples["bare aiohttp loop"]
    for name in (n for n in commands if n != "bare aiohttp loop"):
        print(f"  {name} / bare loop (probes/s): {base_wall / rows[name]:.2f}x"
              f"  (by CPU seconds: {base_cpu / cpus[name]:.2f}x)")  # fmt: skip
        if repeat >= 3:
            # The same ratio taken within each round, then the median of those: the
            # machine's speed drifts by more than the difference measured.  Each run is
            # compared with the bare loops on either side of it (its round's, which opens
            # the round, and the next round's; the last round has its own only), so a
            # command late in a round is not always compared with an earlier moment.
            paired = [
                statistics.mean(s[0] for s in bare_runs[i : i + 2]) / timed[0]
                for i, timed in enumerate(samples[name])
            ]
            middle = statistics.median(paired)
            if repeat >= 5:
                low, _, high = statistics.quantiles(paired, n=4)
                spread = f"quartiles {low:.2f}-{high:.2f}x"
            else:
                spread = f"range {min(paired):.2f}-{max(paired):.2f}x"
            interval = median_interval(paired)
            shown = (
                f"; 95% interval of the median {interval[0]:.2f}-{interval[1]:.2f}x"
                if interval
                else ""
            )
            print(f"    within each round: median {middle:.2f}x ({spread}{shown})")


def median_interval(values: list[float]) -> tuple[float, float] | None:
    """A distribution-free 95% confidence interval for the median of `values`: the order
    statistics k and n + 1 - k, k from the binomial(n, 1/2) by its normal approximation (None
    below 9 values, where it would be the whole range).  Neighbouring rounds share a bare loop
    and the machine's speed drifts slowly, so the values are not quite independent: read the
    interval as a little too narrow."""
    n = len(values)
    if n < 9:
        return None
    k = max(1, int((n - 1.96 * n**0.5) / 2))
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-steps", type=int, default=0)
    parser.add_argument("--before", type=Path, help="Also time `check` from this src/ directory.")
    args = parser.parse_args()
    compile_sources(args.before)  # as pip install does: see precompile.py
    with fast_server() as base, tempfile.TemporaryDirectory() as folder:
        print(f"{args.steps} commune-level steps ({3321 * args.steps:,} probes), "
              f"median of {args.repeat}:")  # fmt: skip
        measure(args.steps, args.repeat, base, Path(folder), args.before)
        if args.big_steps:
            print(f"\n{args.big_steps} steps ({3321 * args.big_steps:,} probes), 1 run:")
            measure(args.big_steps, 1, base, Path(folder), args.before)


if __name__ == "__main__":
    main()
