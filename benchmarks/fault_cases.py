"""Outcome, time and peak memory of one probe against each hostile server case.

    python benchmarks/fault_cases.py [--timeout 2]

The cases are those of tests/test_hostile_network.py, served by tests/fault_server.py in this
process.  Each probe runs in a fresh child process so its peak resident memory (VmHWM, Linux)
is its own; "over baseline" subtracts the peak of a child that probes a healthy endpoint, i.e. the
cost of the interpreter, aiohttp and cutover themselves.  Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

# The child reads its peak from VmHWM: unlike ru_maxrss, it is not carried over from the
# parent across fork + exec.
CHILD = """
import json, sys, time
sys.path.insert(0, {tests!r})
from probe_helpers import probe
from cutover.probes import Limits
spec, timeout = json.loads(sys.argv[1]), float(sys.argv[2])
start = time.perf_counter()
out = probe(spec, limits=Limits(timeout=timeout, retries=2, backoff=0.01))
seconds = time.perf_counter() - start
status = open("/proc/self/status").read()
peak = int(status.split("VmHWM:")[1].split()[0])  # KiB
print(json.dumps({{"status": out.status, "reason": out.reason, "s": seconds, "kib": peak}}))
"""


def child(spec: dict[str, object], timeout: float) -> dict[str, object]:
    code = CHILD.format(tests=str(ROOT / "tests"))
    run = subprocess.run(
        [sys.executable, "-c", code, json.dumps(spec), str(timeout)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, object] = json.loads(run.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args()

    from fault_server import FaultServer
    from test_hostile_network import CASES

    with tempfile.TemporaryDirectory() as tmp, FaultServer(Path(tmp)) as server:
        baseline = child({"kind": "http", "url": server.url("/ok")}, args.timeout)
        base_mib = int(str(baseline["kib"])) / 1024
        print(f"baseline (healthy probe): peak RSS {base_mib:.0f} MiB\n")
        print("| case | outcome | reason | time | peak RSS | over baseline |")
        print("|---|---|---|---:|---:|---:|")
        for name, (spec, _, _, _) in CASES.items():
            got = child(spec(server), args.timeout)
            mib = int(str(got["kib"])) / 1024
            reason = str(got["reason"]).replace(server.url(""), "").replace("|", "\\|")
            reason = reason if len(reason) <= 70 else reason[:67] + "..."
            print(
                f"| {name} | {got['status']} | {reason} | {float(str(got['s'])):.2f} s "
                f"| {mib:.0f} MiB | {mib - base_mib:+.1f} MiB |"
            )


if __name__ == "__main__":
    main()
