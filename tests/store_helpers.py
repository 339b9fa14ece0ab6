"""Writing runs straight through the store contract, for tests on any backend."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

from cutover.engine import Result
from cutover.probes import Outcome
from cutover.store.base import RunRecord, RunStart, Store

UnitOutcomes = dict[tuple[str, str, str], str]


def record_run(
    store: Store,
    at: datetime,
    outcomes: UnitOutcomes,
    *,
    complete: bool = True,
    site: str = "site",
    scope: tuple[str, ...] | None = None,
    host: str = "h",
) -> RunRecord:
    """One run over `outcomes`' units at `at` (one second apart); an incomplete run leaves the
    last unit out.  The scope is the units' provinces and steps unless given."""
    keys = list(outcomes)
    steps = tuple(sorted({k[1] for k in keys}))
    provinces = scope or tuple(sorted({k[0] for k in keys}))
    writer = store.start_run(
        RunStart("c", "d" * 64, "s", "check", "u", host, site, at, provinces, steps, len(keys))
    )
    for i, key in enumerate(keys if complete else keys[:-1]):
        status = outcomes[key]
        reason = "" if status == "pass" else f"{status} reason"
        outcome = Outcome(status, reason, None, 1.0)  # type: ignore[arg-type]
        writer.put(Result(*key, outcome, at + timedelta(seconds=i)))
    return writer.finish(
        interrupted=not complete, finished_at=at + timedelta(seconds=30), duration_s=30.0
    )


def committed_results(db: Path) -> int:
    """Result rows committed to a SQLite store so far (0 while it does not exist yet)."""
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM results").fetchone()[0])
    except sqlite3.Error:
        return 0


def interrupted_check(
    overlay: Path, db: Path, cwd: Path, sig: int, *output: str
) -> tuple[int, str, str]:
    """`cutover check --all` of the telegram steps into `db`, as its own process, sent `sig`
    once some results are committed (polled, not a fixed sleep: CI may be slow).  The
    overlay should make some probes hang so the run is still going.  Returns the exit code,
    stdout and stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cutover", "check", "--all", "--tag", "telegram-2025-06-28",
         "--endpoints", str(overlay), "--timeout", "60", *output],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(db)},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and committed_results(db) < 1:
            time.sleep(0.2)
        assert committed_results(db) >= 1, "no result was committed before the deadline"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err
