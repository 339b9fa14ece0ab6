"""The baseline for `bench_check.py`: the least a Python program can do to GET every URL in a
file with aiohttp, 64 in flight, reading each body.  Nothing is checked or stored.

    python benchmarks/bare_loop.py URLS.txt [--uvloop]

`--uvloop` runs the same loop on uvloop's event loop, the one `cutover check` uses: a second
reference, so that `check`'s ratio is not read as a gain the baseline could not have.
"""

from __future__ import annotations

import asyncio
import sys

import aiohttp


async def main(urls: list[str]) -> int:
    gate = asyncio.Semaphore(64)
    ok = 0
    connector = aiohttp.TCPConnector(limit=64, limit_per_host=64)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(url: str) -> None:
            nonlocal ok
            async with gate, session.get(url) as response:
                await response.read()
                ok += response.status == 200

        await asyncio.gather(*(one(u) for u in urls))
    return ok


if __name__ == "__main__":
    with open(sys.argv[1], encoding="utf-8") as handle:
        targets = [line.strip() for line in handle if line.strip()]
    factory = None
    if sys.argv[2:] == ["--uvloop"]:
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        done = runner.run(main(targets))
    sys.exit(0 if done == len(targets) else 1)
