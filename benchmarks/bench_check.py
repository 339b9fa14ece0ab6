"""`cutover check` at commune scale against a bare aiohttp loop, both as whole processes.

    python benchmarks/bench_check.py [--steps 2] [--repeat 3] [--big-steps 15]

A fast local HTTP server (aiohttp, its own process) answers every commune's URL.  A checklist
with `--steps` commune-level http steps gives 3,321 × steps probes (2 steps: 6,642).  The
baseline is `benchmarks/bare_loop.py`: one aiohttp session fetching the same URLs with 64 in
flight, nothing else.  Both are timed as whole processes (start-up included), `--repeat`
times; the script prints probes/s, the ratio cutover/bare, and each process's peak RSS.
`--big-steps 15` (49,815 probes) measures µs per probe and peak memory at national scale.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, int, int]:
    """Wall seconds, exit code and peak RSS (KB) of one whole process."""
    began = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, proc.returncode, usage.ru_maxrss


def urls(base: str) -> list[str]:
    from cutover.geo import load_geography

    geo = load_geography()
    return [f"{base}/c/{c.code}" for p in geo.provinces for c in p.communes]


def measure(steps: int, repeat: int, base: str, folder: Path) -> None:
    path = folder / f"bench-{steps}.yaml"
    path.write_text(checklist(steps), encoding="utf-8")
    overlay = folder / "overlay.yaml"
    overlay.write_text(f"endpoints: {{fast: '{base}'}}\n", encoding="utf-8")
    listing = folder / f"urls-{steps}.txt"
    listing.write_text("\n".join(urls(base) * steps) + "\n", encoding="utf-8")
    probes = len(urls(base)) * steps
    env = {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(folder / "bench.db")}
    bare = [sys.executable, str(HERE / "bare_loop.py"), str(listing)]
    common = ["check", "--all", "--checklist", str(path), "--endpoints", str(overlay),
              "--format", "json", "--jobs", "64", "--per-host", "64"]  # fmt: skip
    tool = [sys.executable, "-m", "cutover", *common, "--no-store"]
    stored = [sys.executable, "-m", "cutover", *common]
    rows = {}
    for name, cmd in (("bare aiohttp loop", bare), ("cutover check --no-store", tool),
                      ("cutover check (store)", stored)):  # fmt: skip
        samples = [run(cmd, env) for _ in range(repeat)]
        wall = statistics.median(s[0] for s in samples)
        rows[name] = wall
        peak = max(s[2] for s in samples) / 1024
        print(f"  {name:<28} {wall:7.2f} s  {probes / wall:8,.0f} probes/s  "
              f"{wall / probes * 1e6:6.0f} µs/probe  peak {peak:5.0f} MB")  # fmt: skip
    base_wall = rows["bare aiohttp loop"]
    for name in ("cutover check --no-store", "cutover check (store)"):
        print(f"  {name} / bare loop (probes/s): {base_wall / rows[name]:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--big-steps", type=int, default=0)
    args = parser.parse_args()
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
        base = f"http://127.0.0.1:{port}"
        with tempfile.TemporaryDirectory() as folder:
            print(f"{args.steps} commune-level steps ({3321 * args.steps:,} probes), "
                  f"median of {args.repeat}:")  # fmt: skip
            measure(args.steps, args.repeat, base, Path(folder))
            if args.big_steps:
                print(f"\n{args.big_steps} steps ({3321 * args.big_steps:,} probes), 1 run:")
                measure(args.big_steps, 1, base, Path(folder))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
