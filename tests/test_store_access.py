"""Stores this process cannot write (an archived copy, a read-only mount, an immutable file),
empty files, and the busy-timeout setting: reading commands read what they can, writing ones
say why they cannot, and nothing is created or changed behind the user's back.

Root ignores permission bits, so the tests make files unwritable the ways that bind root too:
the immutable attribute (`chattr +i`) and a read-only bind mount."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import DEMO_AS_OF, Result


def _chattr(flag: str, *paths: Path) -> None:
    subprocess.run(["chattr", flag, *map(str, paths)], check=True, capture_output=True)


@contextmanager
def immutable(*paths: Path) -> Iterator[None]:
    """The paths made immutable (even root cannot write them), then restored."""
    try:
        _chattr("+i", *paths)
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot set the immutable attribute here: {exc}")
    try:
        yield
    finally:
        _chattr("-i", *paths)


@contextmanager
def read_only_mount(source: Path, target: Path) -> Iterator[Path]:
    target.mkdir()
    try:
        subprocess.run(["mount", "--bind", str(source), str(target)], check=True,
                       capture_output=True)  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"cannot bind-mount here: {exc}")
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(target)], check=True,
                       capture_output=True)  # fmt: skip
        yield target
    finally:
        subprocess.run(["umount", str(target)], check=True, capture_output=True)


@pytest.fixture
def archived(demo_db: Path, tmp_path: Path) -> Path:
    """A copy of the demo store in its own directory, with no -wal or -shm beside it."""
    folder = tmp_path / "archive"
    folder.mkdir()
    target = folder / "demo.db"
    shutil.copy(demo_db, target)
    return target


def _reads(cli: Callable[..., Result], db: Path) -> None:
    """The reading commands answer from a store they cannot write."""
    matrix = cli("matrix", "--db", str(db), "--as-of", DEMO_AS_OF, "--format", "json")
    assert matrix.code in (0, 1), matrix.err
    assert '"schema": "cutover.matrix/1"' in matrix.out
    assert cli("summary", "--db", str(db), "--as-of", DEMO_AS_OF).code in (0, 1)
    history = cli("history", "31", "portal-closure", "--db", str(db))
    assert history.code == 0, history.err
    check = cli("db", "--db", str(db), "--check")
    assert check.code == 0, check.err
    assert "integrity: ok" in check.out


def test_an_immutable_store_is_read_and_not_written(
    cli: Callable[..., Result], archived: Path
) -> None:
    before = archived.read_bytes()
    with immutable(archived):
        _reads(cli, archived)
        # A command that writes says so, in one line, with the store's exit code.
        wrote = cli("check", "--db", str(archived), "--province", "31", "--format", "json")
        assert wrote.code == 3
        assert wrote.err_lines == [f"cutover: error: store {archived} is read-only"]
    assert archived.read_bytes() == before


def test_a_store_whose_directory_cannot_be_written_says_what_to_change(
    cli: Callable[..., Result], archived: Path
) -> None:
    """SQLite needs the -shm index beside a write-ahead-log store; where it cannot make it,
    and the file could still change (not a read-only file system), reading it without the
    index could return a half-written state: an error naming the directory, not a guess."""
    with immutable(archived, archived.parent):
        result = cli("matrix", "--db", str(archived), "--format", "json")
    assert result.code == 3
    assert result.out == ""
    assert result.err_lines == [
        f"cutover: error: cannot read store {archived}: it is read-only here, and SQLite needs "
        f"to make demo.db-shm beside it in {archived.parent}, which is not writable; let this "
        "user write that directory, or read a copy"
    ]
    assert sorted(p.name for p in archived.parent.iterdir()) == ["demo.db"]


def test_a_store_on_a_read_only_file_system_is_read_as_it_stands(
    cli: Callable[..., Result], archived: Path, tmp_path: Path
) -> None:
    with read_only_mount(archived.parent, tmp_path / "mnt") as mount:
        db = mount / archived.name
        _reads(cli, db)
        wrote = cli("mark", "31", "portal-closure", "--db", str(db), "--by", "officer",
                    "--evidence", "https://example.gov.vn/x")  # fmt: skip
        assert wrote.code == 3
        assert wrote.err_lines == [f"cutover: error: store {db} is read-only"]
    assert sorted(p.name for p in archived.parent.iterdir()) == ["demo.db"]


def test_serve_reads_a_store_on_a_read_only_file_system(archived: Path, tmp_path: Path) -> None:
    """`cutover serve` opens its store read-only: an archived copy on read-only media serves."""
    import json

    from test_serve import Server

    with read_only_mount(archived.parent, tmp_path / "mnt") as mount:
        server = Server(mount / archived.name)
        try:
            status, _, body = server.get(f"/matrix.json?as_of={DEMO_AS_OF.replace('+', '%2B')}")
            health, _, _ = server.get("/healthz")
        finally:
            said = server.stop()
    assert (status, health) == (200, 200), said
    assert len(json.loads(body)["provinces"]) == 34


def test_an_old_schema_store_opened_read_only_names_the_migration(
    cli: Callable[..., Result], archived: Path
) -> None:
    import sqlite3

    conn = sqlite3.connect(archived)
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    with immutable(archived):
        result = cli("matrix", "--db", str(archived), "--format", "json")
    assert result.code == 3
    assert result.err_lines == [
        f"cutover: error: store {archived} has schema version 3, not 5, and is opened "
        "read-only; run `cutover db init` (which migrates it) where it can be written"
    ]


@pytest.mark.parametrize("command", [["matrix"], ["summary"], ["db"], ["history", "31"]])
def test_an_empty_file_is_not_made_into_a_store_by_a_reading_command(
    cli: Callable[..., Result], tmp_path: Path, command: list[str]
) -> None:
    empty = tmp_path / "empty.db"
    empty.touch(mode=0o600)
    result = cli(*command, "--db", str(empty))
    assert result.code == 3
    assert result.err_lines == [
        f"cutover: error: store {empty} is an empty file, not a cutover store yet "
        "(run `cutover check` or `cutover db init` to make one)"
    ]
    assert empty.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "10s"])
def test_a_busy_timeout_that_is_not_a_number_is_refused(
    cli: Callable[..., Result], demo_copy: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CUTOVER_BUSY_TIMEOUT_MS", value)
    result = cli("db", "--db", str(demo_copy))
    assert result.code == 2
    assert result.err_lines == [
        "cutover: error: CUTOVER_BUSY_TIMEOUT_MS must be a whole number of milliseconds, "
        f"0 or more; got {value!r}"
    ]


def test_a_busy_timeout_sqlite_would_take_as_none_is_refused(
    cli: Callable[..., Result], demo_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUTOVER_BUSY_TIMEOUT_MS", "3000000000")
    result = cli("db", "--db", str(demo_copy))
    assert result.code == 2
    assert result.err_lines == [
        "cutover: error: CUTOVER_BUSY_TIMEOUT_MS must be at most 2147483647 milliseconds "
        "(24 days); got '3000000000'"
    ]


@pytest.mark.parametrize("value", ["0", " 250 ", ""])
def test_a_busy_timeout_given_as_milliseconds_is_used(
    cli: Callable[..., Result], demo_copy: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    from cutover.store.sqlite import DEFAULT_BUSY_MS, busy_timeout_ms

    monkeypatch.setenv("CUTOVER_BUSY_TIMEOUT_MS", value)
    assert cli("db", "--db", str(demo_copy)).code == 0
    assert busy_timeout_ms(dict(os.environ)) == (int(value) if value.strip() else DEFAULT_BUSY_MS)


def test_db_shows_a_stored_site_inert(cli: Callable[..., Result], demo_copy: Path) -> None:
    """A site written before sites were checked (or by an older version) is stored as it is;
    `cutover db` shows it without letting an escape sequence reach the terminal."""
    import sqlite3

    conn = sqlite3.connect(demo_copy)
    conn.execute("UPDATE runs SET site = ?", ("\x1b[2J\x1b]0;owned\x07EVIL\nforged line",))
    conn.commit()
    conn.close()
    result = cli("db", "--db", str(demo_copy))
    assert result.code == 0, result.err
    assert "\x1b" not in result.out and "\x07" not in result.out
    (last,) = [line for line in result.lines if line.startswith("last run:")]
    assert "EVIL" in last and "forged line" in last


def test_a_store_one_postgresql_only_version_behind_is_read_read_only(
    cli: Callable[..., Result], archived: Path
) -> None:
    """Version 5 changes PostgreSQL only: an archived version-4 SQLite file has the same
    tables and is read as it is, without a migration it could not write."""
    import sqlite3

    conn = sqlite3.connect(archived)
    conn.execute("PRAGMA user_version = 4")
    conn.commit()
    conn.close()
    with immutable(archived):
        _reads(cli, archived)
