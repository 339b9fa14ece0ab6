"""The SQLite store: migrations, history, people's input, cron behaviour, failures."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest

from cutover.store.schema import LATEST
from cutover.store.sqlite import SqliteStore


def _instants(cell: dict[str, Any]) -> dict[str, Any]:
    """A matrix JSON cell with its times read as instants, whatever their offset."""
    out = dict(cell)
    if out.get("evidence_at"):
        out["evidence_at"] = datetime.fromisoformat(out["evidence_at"])
    if out.get("waiver"):
        out["waiver"] = out["waiver"] | {"until": datetime.fromisoformat(out["waiver"]["until"])}
    return out


def open_sqlite(path: Path) -> SqliteStore:
    return SqliteStore(path, environ={})


TAG = "telegram-2025-06-28"


def test_new_store_has_latest_schema(tmp_path: Path) -> None:
    store = open_sqlite(tmp_path / "s.db")
    assert store.conn.execute("PRAGMA user_version").fetchone()[0] == LATEST == 5
    assert store.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.integrity() == []


DATA = Path(__file__).parent / "data"


def test_a_store_from_cutover_0_1_upgrades_with_nothing_lost(
    cli, tmp_path: Path, elsewhere: Path
) -> None:  # type: ignore[no-untyped-def]
    """A file written by the released 0.1 (schema 2, ISO text times, every result a row) is
    converted in place: every row is kept with its exact time, and the matrix and history it
    gave under 0.1 come out the same."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((DATA / "store-0.1.sql").read_text(encoding="utf-8"))
    conn.close()
    with sqlite3.connect(path) as conn:
        before = {
            t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
            for t in ("runs", "results", "attestations", "waivers")
        }
        first_at = conn.execute("SELECT at FROM results ORDER BY id LIMIT 1").fetchone()[0]
    conn.close()
    old = json.loads((DATA / "store-0.1.matrix.json").read_text(encoding="utf-8"))

    result = cli("matrix", "-p", "31", "-p", "01", "--as-of", old["as_of"], "--format", "json",
                 "--db", str(path))  # fmt: skip
    assert result.code == 1, result.err
    new = json.loads(result.out)
    # Every field 0.1 wrote comes out the same (later versions only add fields); times are the
    # same instants, written since 0.2 in the checklist's timezone where 0.1 wrote UTC.
    assert [_instants({k: c[k] for k in old["cells"][0]}) for c in new["cells"]] == [
        _instants(c) for c in old["cells"]
    ]
    assert new["totals"] == old["totals"]

    store = open_sqlite(path)
    assert store.describe().schema_version == LATEST
    assert {t: store.describe().counts[t] for t in before} == before
    assert store.integrity() == []
    first = store.conn.execute("SELECT at FROM results ORDER BY id LIMIT 1").fetchone()[0]
    assert datetime.fromisoformat(first_at) == datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        microseconds=first
    )
    history = cli("history", "31", "--db", str(path), "--lang", "en", "--all")
    golden = (DATA / "store-0.1.history.txt").read_text(encoding="utf-8")
    assert history.out == golden and history.err == ""
    latest = cli("history", "31", "--db", str(path), "--lang", "en", "--limit", "20")
    assert latest.lines == golden.splitlines()[-20:]
    assert latest.err == (
        "cutover: note: 103 earlier changes not shown (the latest 20 lines are); --limit N "
        "shows more, --since TIME those since a time, --all every one\n"
    )
    default = cli("history", "31", "--db", str(path), "--lang", "en")
    assert default.lines == golden.splitlines()[-50:] and "73 earlier changes" in default.err
    for wrong, message in [
        (["--all", "--limit", "5"], "give --all or --limit N, not both"),
        (["--limit", "0"], "--limit must be at least 1, got 0"),
        (["--since", "yesterday"], "--since: not an ISO 8601 time: 'yesterday'"),
    ]:
        refused = cli("history", "31", "--db", str(path), *wrong)
        assert refused.code == 2 and message in refused.err


def test_newer_schema_is_refused(tmp_path: Path, cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "new.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 9")
    conn.close()
    result = cli("matrix", "--db", str(path))
    assert result.code == 3
    assert result.err_lines == [
        f"cutover: error: store {path} has schema version 9, newer than "
        "this cutover understands (5); upgrade cutover"
    ]


def _put_scenario(sim, features: dict) -> None:  # type: ignore[no-untyped-def,type-arg]
    body = json.dumps({"id": "t", "title": "t", "features": features}).encode()
    request = urllib.request.Request(
        f"{sim.base_url}/_sim/scenario",
        body,
        method="PUT",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=5).read()


def _cells(result) -> dict[tuple[str, str], dict]:  # type: ignore[no-untyped-def,type-arg]
    return {(c["province"], c["step"]): c for c in json.loads(result.out)["cells"]}


def test_as_of_reproduces_an_earlier_matrix(cli, make_sim, overlay_file, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(features={"portal_closed": {"failing": ["31"]}})
    overlay = str(overlay_file(sim.base_url))
    first = cli("check", "-p", "31", "-p", "46", "--tag", TAG, "--endpoints", overlay)
    assert first.code == 1
    between = datetime.now(UTC).isoformat()
    earlier = cli(
        "matrix", "-p", "31", "-p", "46", "--tag", TAG, "--as-of", between, "--format", "json"
    )
    assert _cells(earlier)[("31", "portal-closure")]["status"] != "done"
    time.sleep(0.01)
    _put_scenario(sim, {})
    assert cli("check", "-p", "31", "-p", "46", "--tag", TAG, "--endpoints", overlay).code == 0
    now = cli("matrix", "-p", "31", "-p", "46", "--tag", TAG, "--format", "json")
    assert _cells(now)[("31", "portal-closure")]["status"] == "done"
    again = cli(
        "matrix", "-p", "31", "-p", "46", "--tag", TAG, "--as-of", between, "--format", "json"
    )
    assert again.out == earlier.out


def test_regressed_and_stale(cli, make_sim, overlay_file, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim()
    overlay = str(overlay_file(sim.base_url))
    assert cli("check", "-p", "31", "--step", "dossier-sync", "--endpoints", overlay).code == 0
    _put_scenario(sim, {"dossier_synced": {"failing": ["31"]}})
    result = cli(
        "check", "-p", "31", "--step", "dossier-sync", "--endpoints", overlay, "--format", "json"
    )
    cell = _cells(result)[("31", "dossier-sync")]
    assert (cell["status"], cell["reason"]) == ("regressed", "expected unsynced == 0, got 43")
    _put_scenario(sim, {})
    assert cli("check", "-p", "31", "--step", "dossier-sync", "--endpoints", overlay).code == 0
    later = (datetime.now(UTC) + timedelta(hours=25)).isoformat()
    stale = cli(
        "matrix", "-p", "31", "--step", "dossier-sync", "--as-of", later, "--format", "json"
    )
    cell = _cells(stale)[("31", "dossier-sync")]
    assert cell["status"] == "stale"
    assert cell["reason"] == "evidence is 25 h old (fresh for 24 h)"


def test_mark_supersedes_and_history_shows_both(cli, tmp_path: Path, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    proof = tmp_path / "plan.pdf"
    proof.write_bytes(b"%PDF-1.4 plan")
    first = cli(
        "mark",
        "hai phong",
        "commune-plans",
        "--by",
        "Nguyễn Văn A",
        "--evidence-file",
        str(proof),
        "--note",
        "all 114 plans received",
    )
    assert first.code == 0, first.err
    import hashlib

    digest = hashlib.sha256(b"%PDF-1.4 plan").hexdigest()
    assert first.lines == [
        f"attestation 1: 31 commune-plans done by Nguyễn Văn A (plan.pdf sha256:{digest})"
    ]
    matrix = cli("matrix", "-p", "31", "--step", "commune-plans", "--format", "json")
    assert _cells(matrix)[("31", "commune-plans")]["status"] == "done"
    second = cli(
        "mark",
        "31",
        "commune-plans",
        "--by",
        "Trần B",
        "--status",
        "failed",
        "--evidence",
        "https://haiphong.gov.vn/bc",
        "--note",
        "3 plans missing",
    )
    assert second.code == 0
    matrix = cli("matrix", "-p", "31", "--step", "commune-plans", "--format", "json")
    cell = _cells(matrix)[("31", "commune-plans")]
    assert cell["status"] == "regressed" and cell["reason"] == "3 plans missing"
    history = cli("history", "31", "commune-plans", "--lang", "en")
    assert len(history.lines) == 2
    assert history.lines[0].endswith(
        "31 commune-plans  new -> pass  all 114 plans received evidence "
        "sha256:" + hashlib.sha256(b"%PDF-1.4 plan").hexdigest() + "  (attested by Nguyễn Văn A)"
    )
    assert history.lines[1].endswith(
        "31 commune-plans  pass -> fail  3 plans missing evidence "
        "https://haiphong.gov.vn/bc  (attested by Trần B)"
    )


def test_attestation_expires(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    assert (
        cli("mark", "31", "commune-plans", "--by", "A", "--evidence", "https://x.gov.vn/a").code
        == 0
    )
    later = (datetime.now(UTC) + timedelta(days=32)).isoformat()
    cell = _cells(
        cli("matrix", "-p", "31", "--step", "commune-plans", "--as-of", later, "--format", "json")
    )[("31", "commune-plans")]
    assert cell["status"] == "overdue"
    assert cell["reason"].startswith("attestation expired 2 d ago; due ")


def test_mark_errors(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    both = cli("mark", "31", "commune-plans", "--by", "A")
    assert (both.code, both.err_lines) == (
        2,
        ["cutover: error: give exactly one of --evidence URL or --evidence-file PATH"],
    )
    commune = cli("mark", "31", "online-filing-test", "--by", "A", "--evidence", "https://x.vn")
    assert commune.err_lines == [
        "cutover: error: step online-filing-test is commune-level; name the commune with --commune"
    ]
    ok = cli(
        "mark",
        "31",
        "online-filing-test",
        "--by",
        "A",
        "--evidence",
        "https://x.vn",
        "--commune",
        "Phường Hồng Bàng",
    )
    assert ok.code == 0 and ok.lines[0].startswith(
        "attestation 1: 31/11311 online-filing-test done"
    )
    wrong = cli("mark", "hue", "hai-phong-commune-codes", "--by", "A", "--evidence", "https://x.vn")
    assert wrong.err_lines == [
        "cutover: error: step hai-phong-commune-codes does not apply to Thành phố Huế"
    ]
    missing = cli("mark", "31", "commune-plans", "--by", "A", "--evidence-file", "/nonexistent.pdf")
    assert missing.err_lines == ["cutover: error: --evidence-file /nonexistent.pdf: no such file"]


def test_waiver_counts_apart_and_expires(cli, make_sim, overlay_file, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(features={"eid_codes": {"failing": ["31"]}})
    overlay = str(overlay_file(sim.base_url))
    cli("check", "-p", "31", "-p", "46", "--step", "agency-eid-codes", "--endpoints", overlay)
    until = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    waived = cli(
        "waive",
        "31",
        "agency-eid-codes",
        "--reason",
        "registering by 29/6",
        "--approver",
        "Government Office",
        "--until",
        until,
    )
    assert waived.code == 0, waived.err
    data = json.loads(
        cli("matrix", "-p", "31", "-p", "46", "--step", "agency-eid-codes", "--format", "json").out
    )
    cell = _cells_of(data)[("31", "agency-eid-codes")]
    assert cell["status"] == "waived"
    assert cell["waiver"]["approver"] == "Government Office"
    totals = data["totals"]["agency-eid-codes"]
    assert (totals["done"], totals["total"], totals["counts"]["waived"]) == (1, 2, 1)
    later = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    expired = json.loads(
        cli(
            "matrix", "-p", "31", "--step", "agency-eid-codes", "--as-of", later, "--format", "json"
        ).out
    )
    assert _cells_of(expired)[("31", "agency-eid-codes")]["status"] == "overdue"  # due June 2025
    past = cli(
        "waive",
        "31",
        "agency-eid-codes",
        "--reason",
        "r",
        "--approver",
        "a",
        "--until",
        "2020-01-01T00:00+07:00",
    )
    assert past.code == 2 and "is not in the future" in past.err


def _cells_of(data: dict) -> dict:  # type: ignore[type-arg]
    return {(c["province"], c["step"]): c for c in data["cells"]}


def test_quiet_prints_only_changes(cli, make_sim, overlay_file, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim()
    overlay = str(overlay_file(sim.base_url))
    args = ["check", "-p", "31", "--step", "dossier-sync", "--endpoints", overlay, "--quiet"]
    first = cli(*args)
    assert first.lines == ["31 dossier-sync: new -> done"]
    assert cli(*args).out == ""
    _put_scenario(sim, {"dossier_synced": {"failing": ["31"]}})
    third = cli(*args)
    assert third.code == 1
    assert third.lines == ["31 dossier-sync: done -> regressed (expected unsynced == 0, got 43)"]
    # For programs: the same changes as JSON Lines, the webhook's fields.
    _put_scenario(sim, {})
    fourth = cli(*args, "--format", "json")
    assert [json.loads(line) for line in fourth.lines] == [
        {"province": "31", "step": "dossier-sync", "before": "regressed", "after": "done",
         "reason": "", "kind": "done"}
    ]  # fmt: skip


def test_a_first_quiet_run_does_not_report_cells_that_do_not_apply(  # type: ignore[no-untyped-def]
    cli, make_sim, overlay_file, elsewhere: Path
) -> None:
    """Hai Phong's own step is n/a for every other province: no news for cron to mail."""
    sim = make_sim()
    overlay = str(overlay_file(sim.base_url))
    first = cli(
        "check", "-p", "01", "-p", "31", "--step", "hai-phong-commune-codes",
        "--endpoints", overlay, "--quiet",
    )  # fmt: skip
    assert [line.split(":")[0] for line in first.lines] == ["31 hai-phong-commune-codes"]


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:  # type: ignore[type-arg]
    received: list[dict] = []  # type: ignore[type-arg]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            received.append(json.loads(self.rfile.read(length)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def test_notify_posts_changes_and_a_dead_webhook_does_not_fail(
    cli, make_sim, overlay_file, webhook, elsewhere: Path
) -> None:  # type: ignore[no-untyped-def]
    url, received = webhook
    sim = make_sim()
    overlay = str(overlay_file(sim.base_url))
    args = ["check", "-p", "31", "--step", "dossier-sync", "--endpoints", overlay]
    assert cli(*args, "--notify", url).code == 0
    assert [c["kind"] for c in received[0]["changes"]] == ["done"]
    assert received[0]["as_of"].endswith("+07:00")  # the checklist's zone, as JSON outputs
    _put_scenario(sim, {"dossier_synced": {"failing": ["31"]}})
    dead = cli(*args, "--notify", "http://127.0.0.1:9/hook")
    assert dead.code == 1
    assert dead.err_lines[0].startswith("cutover: warning: webhook http://127.0.0.1:9/*** failed:")


def _env(db: Path) -> dict[str, str]:
    return {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(db)}


def test_overlapping_runs_both_record(make_sim, overlay_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim()
    overlay = overlay_file(sim.base_url)
    db = tmp_path / "shared.db"
    cmd = [
        sys.executable,
        "-m",
        "cutover",
        "check",
        "--all",
        "--tag",
        TAG,
        "--endpoints",
        str(overlay),
        "--format",
        "json",
    ]
    procs = [
        subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(db), cwd=tmp_path
        )
        for _ in range(2)
    ]
    errors = [p.communicate(timeout=120)[1].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errors
    store = open_sqlite(db)
    # Whichever run committed a unit first wrote it; the other found the same and confirmed it.
    assert store.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0] == 3559
    runs = store.runs()
    assert [(r.complete, r.interrupted) for r in runs] == [(True, False), (True, False)]
    assert store.integrity() == []


def test_sigkill_keeps_committed_batches(make_sim, overlay_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(faults=[{"path": "^/national/api/communes/", "kind": "latency", "ms": 40}])
    overlay = overlay_file(sim.base_url)
    db = tmp_path / "killed.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cutover",
            "check",
            "--all",
            "--tag",
            TAG,
            "--endpoints",
            str(overlay),
            "--jobs",
            "16",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=_env(db),
        cwd=tmp_path,
    )
    deadline = time.monotonic() + 30
    committed = 0
    while time.monotonic() < deadline and committed < 600:
        time.sleep(0.2)
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as peek:
                    committed = peek.execute("SELECT COUNT(*) FROM results").fetchone()[0]
            except sqlite3.OperationalError:
                pass
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    store = open_sqlite(db)
    assert store.integrity() == []
    kept = store.conn.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    assert 600 <= kept < 3559
    assert store.conn.execute("SELECT finished_at FROM runs").fetchone()[0] is None


def test_missing_directory(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "mark",
        "31",
        "commune-plans",
        "--by",
        "A",
        "--evidence",
        "https://x.vn",
        "--db",
        "/nonexistent/dir/s.db",
    )
    assert (result.code, result.err_lines) == (
        3,
        [
            "cutover: error: cannot open store /nonexistent/dir/s.db: directory /nonexistent/dir "
            "does not exist"
        ],
    )


def test_locked_store(
    cli, tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "locked.db"
    open_sqlite(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    monkeypatch.setenv("CUTOVER_BUSY_TIMEOUT_MS", "300")
    result = cli(
        "mark", "31", "commune-plans", "--by", "A", "--evidence", "https://x.vn", "--db", str(db)
    )
    holder.execute("ROLLBACK")
    assert (result.code, result.err_lines) == (
        3,
        [f"cutover: error: store {db} is locked by another process (waited 0.3 s)"],
    )


def test_corrupt_store(cli, tmp_path: Path, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "corrupt.db"
    db.write_bytes(b"this is not sqlite" * 100)
    result = cli("matrix", "--db", str(db))
    assert result.code == 3
    assert result.err_lines[0].startswith(
        f"cutover: error: store {db} is corrupt or not a cutover database"
    )
    assert db.read_bytes() == b"this is not sqlite" * 100  # nothing overwritten


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:  # type: ignore[name-defined]
    """A real tiny filesystem (tmpfs) for full-disk and read-only tests; needs root to mount."""
    mounts: list[Path] = []

    def mount(options: str) -> Path:
        where = tmp_path / f"fs{len(mounts)}"
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount tmpfs here: {done.stderr.decode().strip()}")
        mounts.append(where)
        return where

    yield mount
    for where in mounts:
        if subprocess.run(["umount", str(where)], check=False).returncode:
            subprocess.run(["umount", "-l", str(where)], check=False)  # still busy: detach


def test_read_only_directory(cli, small_fs, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    where = small_fs("ro,size=64k")
    result = cli(
        "mark",
        "31",
        "commune-plans",
        "--by",
        "A",
        "--evidence",
        "https://x.vn",
        "--db",
        str(where / "s.db"),
    )
    assert result.code == 3
    assert len(result.err_lines) == 1
    assert result.err_lines[0].startswith(f"cutover: error: cannot open store {where}/s.db")


def test_full_disk(make_sim, overlay_file, small_fs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    where = small_fs("size=160k")
    sim = make_sim()
    db = where / "s.db"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "cutover",
            "check",
            "--all",
            "--tag",
            TAG,
            "--endpoints",
            str(overlay_file(sim.base_url)),
        ],
        capture_output=True,
        text=True,
        env=_env(db),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert run.returncode == 3, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"cutover: error: store {db}: disk is full; "
        "nothing after the last committed batch was saved"
    ]
    with sqlite3.connect(db) as store:
        assert store.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    store.close()


def test_default_directory_that_cannot_be_made(
    cli, tmp_path: Path, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should go", encoding="utf-8")
    monkeypatch.delenv("CUTOVER_DB")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    result = cli("mark", "31", "commune-plans", "--by", "A", "--evidence", "https://x.vn")
    assert result.code == 3
    assert result.err_lines == [
        f"cutover: error: cannot create the store's directory {blocker}/cutover: Not a directory"
    ]


def test_a_writer_that_cannot_read_its_scope_says_why_and_closes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's scope is read when its writer starts.  If SQLite fails there (and has rolled
    the transaction back itself, as after an I/O error), the caller gets that error, not a
    later one about the missing transaction, and the writer's connection is closed."""
    from cutover.errors import StoreError
    from cutover.store.base import RunStart
    from cutover.store.sqlite import SqliteRunWriter

    store = SqliteStore(tmp_path / "s.db", environ={})
    opened: list[sqlite3.Connection] = []
    connect = store._connect

    def spying_connect(*args, **kwargs):  # type: ignore[no-untyped-def]
        conn = connect(*args, **kwargs)
        opened.append(conn)
        return conn

    def failing_scope(self: SqliteRunWriter, conn: sqlite3.Connection) -> None:
        conn.execute("ROLLBACK")  # what SQLite does on its own after some errors
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_connect", spying_connect)
    monkeypatch.setattr(SqliteRunWriter, "_load_scope", failing_scope)
    start = RunStart("c", "d" * 64, "s", "check", "u", "h", "31", datetime.now(UTC), ("31",),
                     ("portal-closure",), 1)  # fmt: skip
    with pytest.raises(StoreError, match="disk I/O error"):
        store.start_run(start)
    with pytest.raises(sqlite3.ProgrammingError):  # closed
        opened[-1].execute("SELECT 1")


def test_stored_times_come_back_exactly() -> None:
    """`from_us` takes a float shortcut below 2096; every microsecond must still come back
    exactly, at the edges of the shortcut and beyond it."""
    import random

    from cutover.store.base import EPOCH, from_us, to_us

    def exact(value: int) -> datetime:
        return EPOCH + timedelta(microseconds=value)

    edge = 4_000_000_000_000_000
    draws = random.Random(9)
    values = [0, 1, 499_999, 500_000, 999_999, 1_000_000, edge - 1, edge, edge + 1, -1]
    values += [draws.randrange(0, edge) for _ in range(200_000)]
    values += [draws.randrange(-edge, 2**62 // 1_000) for _ in range(1_000)]
    values.append(to_us(datetime(9999, 1, 1, tzinfo=UTC)))
    for value in values:
        assert from_us(value) == exact(value), value
        assert to_us(from_us(value)) == value


def test_a_store_dropped_without_close_is_freed_and_closed(tmp_path: Path) -> None:
    """Its finalizer holds the connection; nothing the connection holds (the time limit's
    progress handler) may point back at the store, or it would live until the process ends."""
    import gc
    import weakref

    from cutover.store.sqlite import SqliteStore

    for options in ({}, {"query_timeout": 5.0}, {"read_only": True}):
        store = SqliteStore(tmp_path / "s.db", environ={}, **options)  # type: ignore[arg-type]
        conn, alive = store.conn, weakref.ref(store)
        del store
        gc.collect()
        assert alive() is None, options
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            conn.execute("SELECT 1")


def test_a_confirmation_reads_in_vietnamese(cli, make_sim, overlay_file, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    """ "last confirmed" sat inside an f-string, where the catalog's extraction missed it."""
    sim = make_sim()
    overlay = str(overlay_file(sim.base_url))
    for _ in range(2):
        cli("check", "-p", "31", "--step", "dossier-sync", "--endpoints", overlay, "--quiet")
    shown = cli("history", "31", "dossier-sync", "--lang", "vi")
    assert any(line.endswith("vẫn đạt  (xác nhận lần cuối)") for line in shown.lines), shown.out
    assert "last confirmed" not in shown.out
