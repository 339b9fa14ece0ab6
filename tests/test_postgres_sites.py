"""The national table from 34 sites: 34 concurrent `cutover check --province P` processes,
each as its own province role, write into one PostgreSQL database; the national reader's
matrix is the union of what they wrote, cell for cell, and the matrix of one SQLite
`check --all` over the same scenario."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pg_server import Database

from cutover.store import admin
from cutover.store.base import open_store

AS_OF = "2025-06-28T13:00"
Cells = dict[tuple[str, str], tuple[str, str, Any]]


def _cells(document: dict[str, Any]) -> Cells:
    """What a cell says, without when its evidence was gathered (each run has its own)."""
    return {
        (c["province"], c["step"]): (c["status"], c["reason"], c["communes"])
        for c in document["cells"]
    }


def _cutover(*args: str, db: str, site: str | None = None, cwd: Path) -> subprocess.Popen[str]:
    """A `cutover` process at a lower priority than the simulator (in this process) and the
    database server, so 34 of them on two cores cannot starve the servers into timeouts."""
    env = {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": db}
    env.pop("CUTOVER_SITE", None)
    if site is not None:
        env["CUTOVER_SITE"] = site
    return subprocess.Popen(
        [sys.executable, "-m", "cutover", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        preexec_fn=lambda: os.nice(10),
    )


def _json(
    proc: subprocess.Popen[str], codes: tuple[int, ...] = (0, 1), *, forecast: bool = False
) -> dict[str, Any]:
    out, err = proc.communicate(timeout=300)
    assert proc.returncode in codes, err
    # A time ahead of now is a forecast, and the command says so (and nothing else).
    lines = err.splitlines()
    if forecast:
        assert len(lines) == 1 and "is after now: this table is a forecast" in lines[0], err
    else:
        assert err == "", err
    return json.loads(out)  # type: ignore[no-any-return]


def test_34_sites_at_once_make_the_national_table(
    pg_db: Database, telegram_sim, geo, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    from cutover.sim.app import overlay_for
    from cutover.yamlio import dump

    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(dump(overlay_for(telegram_sim.base_url)), encoding="utf-8")
    codes = [p.code for p in geo.provinces]
    assert len(codes) == 34
    admin.init(pg_db.url, {})
    urls = {}
    for code in codes:
        role, password = pg_db.role(f"p{code}"), f"pw-{code}-{pg_db.name}"
        admin.grant(pg_db.url, {}, role, code, password)
        urls[code] = pg_db.role_url(role, password)
    admin.grant(pg_db.url, {}, pg_db.role("gov"), None, "pw-gov")
    reader = pg_db.role_url(pg_db.role("gov"), "pw-gov")
    check = ("check", "--endpoints", str(overlay), "--as-of", AS_OF, "--format", "json")

    # Every province checks itself at once, as its own role, every step of the checklist.
    sites = {
        code: _cutover(*check, "--province", code, db=urls[code], site=code, cwd=tmp_path)
        for code in codes
    }
    written = {code: _cells(_json(proc)) for code, proc in sites.items()}
    union: Cells = {}
    for code, cells in written.items():
        assert {p for p, _ in cells} == {code}
        union |= cells
    # One national SQLite run over the same scenario says the same, cell for cell.
    sqlite = str(tmp_path / "national.db")
    national = _cells(_json(_cutover(*check, "--all", db=sqlite, cwd=tmp_path)))
    assert len(union) == 34 * 17
    assert union == national

    # The national reader's view of the database: the same again.
    from cutover import service
    from cutover.render.json import as_dict

    now = datetime.now(UTC)
    ctx = service.prepare(service.Selection(endpoints=overlay))
    store = open_store(reader, environ={})
    as_of = service.parse_time(AS_OF, now)
    assert _cells(as_dict(service.stored_matrix(ctx, store, as_of, now), "vi")) == union
    assert store.describe().counts == {
        "runs": 34,
        "units": 3560,
        "results": 3560,
        "attestations": 0,
        "waivers": 0,
    }
    runs = store.runs(50)
    assert sorted((r.site, r.scope_provinces, r.complete) for r in runs) == [
        (code, (code,), True) for code in sorted(codes)
    ]
    assert store.last_heard(codes, now).keys() == set(codes)
    store.close()

    # `cutover matrix` as the reader and on the SQLite file, at the same moment, agree too.
    later = (now + timedelta(seconds=1)).isoformat()
    view = ("matrix", "--format", "json", "--as-of", later, "--silent-after", "2h")
    from_pg = _json(_cutover(*view, db=reader, cwd=tmp_path))
    from_sqlite = _json(_cutover(*view, db=sqlite, cwd=tmp_path))
    assert _cells(from_pg) == _cells(from_sqlite)
    assert from_pg["totals"] == from_sqlite["totals"]
    assert from_pg["silent"] == {"after_seconds": 7200, "provinces": []}
    # Three hours without news, and every site is silent.
    quiet = (now + timedelta(hours=3)).isoformat()
    silent = _json(
        _cutover("matrix", "--format", "json", "--as-of", quiet, "--silent-after", "2h",
                 db=reader, cwd=tmp_path),
        forecast=True,
    )  # fmt: skip
    assert [s["code"] for s in silent["silent"]["provinces"]] == codes

    # A province role reading the whole country sees its own rows only.
    own = _json(_cutover(*view, db=urls["31"], cwd=tmp_path))
    for (province, step), cell in _cells(own).items():
        if province == "31":
            assert cell == _cells(from_pg)[(province, step)]
    seen = {c["province"] for c in own["cells"] if c["evidence_at"] is not None}
    assert seen == {"31"}
