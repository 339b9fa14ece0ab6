"""`cutover serve` over a large store: page load and refresh time in Chromium, and
requests/s for `/matrix.json` with 50 concurrent clients against a baseline.

    python benchmarks/bench_serve.py [--store PATH] [--clients 50] [--seconds 10] [--repeat 5]

`--store` defaults to the 1,000,000-row store of `benchmarks/bench_history.py`
(/tmp/bench/history-1000000-1.0.db; build it with `python benchmarks/bench_history.py --rows
1000000 --cache /tmp/bench`).  The store is copied first: the refresh measurement writes.

- Throughput: `--clients` aiohttp clients in this process ask for `/matrix.json` as fast as
  they can for `--seconds`, without compression (the same bytes as the baseline) and again
  accepting gzip, as browsers do.  The baseline, measured in the same run and interleaved, is a bare
  aiohttp.web app (its own process) answering the same bytes from memory.  Printed: median
  requests/s of each and the ratio.  Also the first `/matrix.json` after a write (the matrix
  computed from the store, nothing cached).
- Page load: Debian's chromium (Playwright) opens `/` right after a write (nothing cached) and
  again (cached); the Navigation Timing API gives time to first byte and to `load`.
- Refresh: with the page open, `cutover mark` writes an attestation; the time from the command
  returning to the page showing the new version, without a reload (the server checks every
  `--refresh` seconds, so about half of that is waiting for the check).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BASELINE = """
import sys
from aiohttp import web

body = open(sys.argv[2], "rb").read()

async def matrix(request):
    return web.Response(body=body, content_type="application/json")

app = web.Application()
app.router.add_get("/matrix.json", matrix)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None,
            backlog=1024)
"""
FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


def start_serve(db: Path, refresh: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cutover", "serve", "--db", str(db), "--port", "0",
         "--refresh", str(refresh), "--request-timeout", "60"],
        stderr=subprocess.PIPE, text=True, env={**os.environ, "CUTOVER_LANG": "en"},
    )  # fmt: skip
    assert proc.stderr is not None
    line = proc.stderr.readline()
    if not line.startswith("cutover: serving "):
        raise SystemExit(f"serve did not start: {line}{proc.stderr.read()}")
    return proc, line.split()[2].rstrip("/")


def mark(db: Path, n: int) -> None:
    """An attestation: a write every reader of the store sees."""
    status = "done" if n % 2 else "failed"
    subprocess.run(
        [sys.executable, "-m", "cutover", "mark", "31", "portal-closure", "--by", f"bench {n}",
         "--status", status, "--evidence", f"https://bench.example/{n}", "--db", str(db)],
        check=True, capture_output=True,
    )  # fmt: skip


async def hammer(
    url: str, clients: int, seconds: float, *, gzip: bool = False
) -> tuple[float, int]:
    import aiohttp

    accept = {"Accept-Encoding": "gzip" if gzip else "identity"}
    done = 0
    failed = 0
    stop = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal done, failed
            while time.monotonic() < stop:
                async with session.get(url, headers=accept) as response:
                    await response.read()
                    if response.status == 200:
                        done += 1
                    else:
                        failed += 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(clients)))
        elapsed = time.monotonic() - started
    return done / elapsed, failed


def first_json_ms(url: str, db: Path, n: int) -> float:
    """Time to the first /matrix.json after a write, once the server has seen the write."""
    import urllib.request

    def version() -> str:
        with urllib.request.urlopen(url + "/healthz") as r:
            return str(json.load(r)["version"])

    before = version()
    mark(db, n)
    deadline = time.monotonic() + 60
    while version() == before and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.perf_counter()
    with urllib.request.urlopen(url + "/matrix.json") as r:
        r.read()
    return (time.perf_counter() - started) * 1000


def browser_timings(url: str, db: Path, repeat: int, start: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"cold load": [], "cold ttfb": [], "warm load": [],
                                   "refresh": []}  # fmt: skip
    chromium = shutil.which("chromium")
    if not chromium:
        raise SystemExit("needs Debian's chromium (apt-get install chromium)")
    timing = """() => { const t = performance.getEntriesByType("navigation")[0];
                        return [t.responseStart - t.requestStart, t.loadEventEnd]; }"""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=FLAGS)
        for i in range(repeat):
            page = browser.new_page()
            first_json_ms(url, db, start + 2 * i)  # a write, seen by the server; then cold
            mark(db, start + 2 * i + 1)
            time.sleep(1.5)  # let the server see it, so the page below is computed afresh
            page.goto(url + "/", wait_until="load")
            ttfb, load = page.evaluate(timing)
            out["cold ttfb"].append(ttfb)
            out["cold load"].append(load)
            page.goto(url + "/", wait_until="load")
            out["warm load"].append(page.evaluate(timing)[1])
            before = page.evaluate("document.body.dataset.version")
            mark(db, 10_000 + start + i)
            written = time.perf_counter()
            page.wait_for_function(
                "v => document.body.dataset.version !== v && document.body.dataset.refreshed",
                arg=before, timeout=120_000,
            )  # fmt: skip
            out["refresh"].append((time.perf_counter() - written) * 1000)
            page.close()
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--store", type=Path, default=Path("/tmp/bench/history-1000000-1.0.db"))
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--refresh", type=float, default=1.0)
    args = parser.parse_args()
    if not args.store.exists():
        raise SystemExit(f"no store at {args.store}: build it with benchmarks/bench_history.py")

    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    db = work / "store.db"
    shutil.copy(args.store, db)
    proc, url = start_serve(db, args.refresh)
    baseline = None
    size = 0
    try:
        import urllib.request

        with urllib.request.urlopen(url + "/healthz") as r:
            print(f"store: {args.store} ({json.load(r)['store']})")
        cold = [first_json_ms(url, db, 100 + i) for i in range(args.repeat)]
        body = work / "matrix.json"
        with urllib.request.urlopen(url + "/matrix.json") as r:
            body.write_bytes(r.read())
        size = body.stat().st_size
        port = free_port()
        script = work / "baseline.py"
        script.write_text(BASELINE)
        baseline = subprocess.Popen([sys.executable, str(script), str(port), str(body)])
        wait_listening(port)
        ours: list[float] = []
        packed: list[float] = []
        bare: list[float] = []
        for _ in range(args.repeat):
            rate, failed = asyncio.run(hammer(url + "/matrix.json", args.clients, args.seconds))
            assert failed == 0, failed
            ours.append(rate)
            rate, failed = asyncio.run(
                hammer(url + "/matrix.json", args.clients, args.seconds, gzip=True)
            )
            assert failed == 0, failed
            packed.append(rate)
            rate, _ = asyncio.run(
                hammer(f"http://127.0.0.1:{port}/matrix.json", args.clients, args.seconds)
            )
            bare.append(rate)
        pages = browser_timings(url, db, args.repeat, 1000)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        if baseline is not None:
            baseline.terminate()
            baseline.wait()
        shutil.rmtree(work, ignore_errors=True)

    median = statistics.median
    print(f"/matrix.json ({size:,} bytes), {args.clients} clients, {args.seconds:g} s × "
          f"{args.repeat}, medians:")  # fmt: skip
    print(f"  cutover serve   {median(ours):9,.0f} req/s")
    print(f"  bare aiohttp    {median(bare):9,.0f} req/s  (same bytes from memory)")
    print(f"  ratio           {median(ours) / median(bare):9.2f}×")
    print(f"  cutover serve   {median(packed):9,.0f} req/s  (clients accepting gzip)")
    print(f"  first /matrix.json after a write: {median(cold):,.0f} ms")
    for name, values in pages.items():
        print(f"page {name:11s} {median(values):8,.0f} ms  (min {min(values):,.0f}, "
              f"max {max(values):,.0f})")  # fmt: skip
    report: dict[str, Any] = {
        "rps": ours,
        "gzip": packed,
        "bare": bare,
        "cold_json_ms": cold,
        **pages,
    }
    print(json.dumps({k: [round(v, 1) for v in vs] for k, vs in report.items()}))


if __name__ == "__main__":
    main()
