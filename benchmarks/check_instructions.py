"""Where a steady-state `cutover check` spends its work, phase by phase, in instructions
counted by valgrind (callgrind), next to the bare aiohttp loop.  Unlike time, the count
hardly moves with the machine's load, so a change of 1% shows: the phases before probing
and after it repeat to within 0.1%; probing moves by about 1% with how the event loop
batches responses.

    python benchmarks/check_instructions.py [--steps 2] [--src SRC]

Needs valgrind (Debian: `apt-get install valgrind`).  Each process runs about 50 times
slower under it: a minute or two for the default 6,642 probes.  The phases are marked by a
call to `os.getppid`, which callgrind is told to dump its counts before; the marks come from
wrapping the library functions that start and end each phase.  `--src` counts another
version's source tree (see bench_check.py's `--before`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_check import checklist, fast_server, urls
from precompile import compile_sources

HERE = Path(__file__).parent

# Run as `python -c MARKED check …`: the command with a mark at each phase's boundary.
MARKED = """
import os, sys
mark = os.getppid
mark()
import cutover.cli.app, cutover.cli.check as cc, cutover.engine as engine, cutover.service as svc
mark()

def marked(owner, name):
    inner = getattr(owner, name)
    if inner.__code__.co_flags & 0x80:  # a coroutine function
        async def outer(*args, **kwargs):
            mark()
            try:
                return await inner(*args, **kwargs)
            finally:
                mark()
    else:
        def outer(*args, **kwargs):
            mark()
            try:
                return inner(*args, **kwargs)
            finally:
                mark()
    setattr(owner, name, outer)

for owner, name in ((cc, "open_store_for"), (engine, "run"), (svc, "stored_matrix")):
    marked(owner, name)
sys.argv = ["cutover", *sys.argv[1:]]
sys.modules["cutover.cli.app"].run()
"""
CHECK_PHASES = [
    "interpreter start",
    "imports (typer, pydantic, cutover)",
    "arguments, workspace",
    "opening the store",
    "aiohttp, the run's start, the scope read",
    "probing (the engine)",
    "the writer's finish",
    "reading the matrix back",
    "output and exit",
]
BARE = """
import os, sys
os.getppid()
import asyncio, aiohttp
os.getppid()
sys.path.insert(0, sys.argv[2])
import bare_loop
with open(sys.argv[1], encoding="utf-8") as handle:
    targets = handle.read().split()
asyncio.run(bare_loop.main(targets))
os.getppid()
"""
BARE_PHASES = ["interpreter start", "imports (asyncio, aiohttp)", "probing", "exit"]


def counted(cmd: list[str], env: dict[str, str], out: Path) -> list[int]:
    """Instructions of each phase of one process, in order."""
    for old in out.parent.glob(out.name + "*"):
        old.unlink()
    subprocess.run(
        ["valgrind", "--tool=callgrind", "--dump-before=getppid", f"--callgrind-out-file={out}",
         *cmd],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    # Dumps are numbered in order (out.1, out.2, …); the unnumbered file is the last part.
    dumps = sorted(out.parent.glob(out.name + ".*"), key=lambda p: int(p.suffix[1:]))
    counts = []
    for dump in [*dumps, out]:
        text = dump.read_text(encoding="utf-8", errors="replace")
        found = re.search(r"^(?:summary|totals): (\d+)", text, re.M)
        counts.append(int(found[1]) if found else 0)
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--src", type=Path, help="Count `check` from this src/ directory.")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (Debian: apt-get install valgrind)")
    compile_sources(args.src)
    with fast_server() as base, tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        (folder / "bench.yaml").write_text(checklist(args.steps), encoding="utf-8")
        (folder / "overlay.yaml").write_text(f"endpoints: {{fast: '{base}'}}\n", "utf-8")
        listing = folder / "urls.txt"
        listing.write_text("\n".join(urls(base) * args.steps) + "\n", encoding="utf-8")
        env = {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(folder / "steady.db")}
        if args.src is not None:
            env["PYTHONPATH"] = str(args.src)
        check = ["check", "--all", "--checklist", str(folder / "bench.yaml"),
                 "--endpoints", str(folder / "overlay.yaml"), "--format", "json",
                 "--jobs", "64", "--per-host", "64"]  # fmt: skip
        # Uncounted: the store's previous run (the steady state), and the workspace cache.
        subprocess.run([sys.executable, "-m", "cutover", *check], env=env,
                       stdout=subprocess.DEVNULL, check=False)  # fmt: skip
        bare = counted([sys.executable, "-c", BARE, str(listing), str(HERE)], env,
                       folder / "bare.out")  # fmt: skip
        ours = counted([sys.executable, "-c", MARKED, *check], env, folder / "check.out")
    probes = 3321 * args.steps
    print(f"{probes:,} probes, instructions (millions):")
    print("  bare aiohttp loop")
    for label, n in zip(BARE_PHASES, bare, strict=True):
        print(f"    {label:<44} {n / 1e6:8.0f}")
    print(f"    {'total':<44} {sum(bare) / 1e6:8.0f}")
    print("  check, store has a run")
    for label, n in zip(CHECK_PHASES, ours, strict=True):  # a phase missed: say so
        print(f"    {label:<44} {n / 1e6:8.0f}")
    print(f"    {'total':<44} {sum(ours) / 1e6:8.0f}")
    print(f"  bare / check, by instructions: {sum(bare) / sum(ours):.2f}x")


if __name__ == "__main__":
    main()
