"""SIGTERM (what `timeout`, systemd and cron wrappers send) stops `cutover check` the way
Ctrl-C does: the probing is cancelled, what had finished is kept, the run is closed as
interrupted in the store, and the exit code is 143 (128 + SIGTERM)."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest
from store_helpers import committed_results, interrupted_check

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


def test_sigterm_closes_the_run_as_interrupted_and_keeps_results(  # type: ignore[no-untyped-def]
    make_sim, overlay_file, tmp_path: Path
) -> None:
    from cutover.store.base import open_store

    # Commune-level probes hang; province-level ones answer, so some results finish first.
    sim = make_sim(faults=[{"path": "^/national/api/communes/", "kind": "hang"}])
    overlay = overlay_file(sim.base_url)
    db = tmp_path / "store.db"
    returncode, out, err = interrupted_check(
        overlay, db, tmp_path, signal.SIGTERM, "--format", "json"
    )

    assert returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert "interrupted: kept" in err
    line = next(x for x in err.splitlines() if "interrupted: kept" in x)
    kept_count = int(line.split("kept ")[1].split()[0])
    assert line == f"cutover: interrupted: kept {kept_count} results that had finished"
    assert kept_count > 0

    kept = json.loads(out)
    assert any(c["status"] == "done" for c in kept["cells"])  # finished results were kept

    store = open_store(db, environ={}, create=False)
    try:
        last = store.last_run()
        assert last is not None
        assert last.interrupted is True
        assert last.finished_at is not None
        assert last.duration_s is not None
        assert last.complete is False
    finally:
        store.close()
    assert committed_results(db) == kept_count


def test_sigint_still_exits_130(make_sim, overlay_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The SIGTERM handler must not change Ctrl-C: 130, and the run closed as interrupted."""
    from cutover.store.base import open_store

    sim = make_sim(faults=[{"path": "^/national/api/communes/", "kind": "hang"}])
    overlay = overlay_file(sim.base_url)
    db = tmp_path / "store.db"
    returncode, _, err = interrupted_check(overlay, db, tmp_path, signal.SIGINT, "--quiet")
    assert returncode == 130, err
    assert "interrupted: kept" in err
    store = open_store(db, environ={}, create=False)
    try:
        last = store.last_run()
        assert last is not None and last.interrupted and last.finished_at is not None
    finally:
        store.close()
