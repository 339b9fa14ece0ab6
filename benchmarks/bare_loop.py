"""The baseline for `bench_check.py`: the least a Python program can do to GET every URL in a
file with aiohttp, 64 in flight, reading each body.  Nothing is checked or stored.

    python benchmarks/bare_loop.py URLS.txt
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
    done = asyncio.run(main(targets))
    sys.exit(0 if done == len(targets) else 1)
