"""Option values and output a reviewer found wanting: a full disk on standard output, numbers
that are not numbers, store URLs of another kind, messages in the one-line error form, the
command's help named, and two outputs to one file."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
FULL = Path("/dev/full")
needs_full = pytest.mark.skipif(not FULL.exists(), reason="no /dev/full on this system")
NO_SPACE = "cutover: error: cannot write the output: No space left on device\n"


def _to_full(args: list[str], *, buffered: bool, cwd: Path | None = None) -> Any:
    """`args` run as a real process with /dev/full as standard output."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80"}
    env.pop("PYTHONUNBUFFERED", None)
    if not buffered:
        env["PYTHONUNBUFFERED"] = "1"
    with FULL.open("w") as full:
        return subprocess.run(
            args, stdout=full, stderr=subprocess.PIPE, text=True, env=env, cwd=cwd, check=False
        )


# --- 1. a full disk on standard output ----------------------------------------------------


@needs_full
@pytest.mark.parametrize("buffered", [True, False])
@pytest.mark.parametrize(
    "args",
    [
        ["matrix", "--format", "json"],
        ["matrix", "--format", "xlsx"],
        ["summary"],
        ["history", "--all"],
        ["db"],
        ["provinces"],
        ["--version"],
        ["matrix", "-h"],
    ],
)
def test_a_full_disk_on_stdout_is_one_error_line(
    args: list[str], buffered: bool, demo_db: Path
) -> None:
    """The same exit code (2) as `--format csv:/dev/full`, never an internal error."""
    db = [] if args[0] in ("provinces", "--version") or "-h" in args else ["--db", str(demo_db)]
    done = _to_full([sys.executable, "-m", "cutover", *args, *db], buffered=buffered)
    assert (done.returncode, done.stderr) == (2, NO_SPACE)
    to_file = _to_full(
        [sys.executable, "-m", "cutover", "matrix", "--db", str(demo_db), "--format",
         "csv:/dev/full"], buffered=buffered,
    )  # fmt: skip
    assert to_file.returncode == 2 and to_file.stderr.startswith("cutover: error: cannot write")


@needs_full
@pytest.mark.parametrize("buffered", [True, False])
@pytest.mark.parametrize(
    ("args", "kept"),
    [
        (
            ["mark", "31", "commune-plans", "--by", "x", "--evidence", "https://e.gov.vn/x"],
            "the attestation is recorded: do not mark it again",
        ),
        (
            ["waive", "31", "commune-plans", "--reason", "r", "--approver", "a",
             "--until", "2030-01-01T00:00+07:00"],
            "the waiver is recorded: do not waive it again",
        ),
    ],
)  # fmt: skip
def test_a_record_kept_says_so_when_its_receipt_cannot_be_written(
    args: list[str], kept: str, buffered: bool, tmp_path: Path
) -> None:
    """Exit 2 for the output, as always; the line says the record is kept, so a script that
    retries on failure does not record it twice."""
    db = tmp_path / "own.db"
    done = _to_full([sys.executable, "-m", "cutover", *args, "--db", str(db)], buffered=buffered)
    assert (done.returncode, done.stderr) == (2, NO_SPACE.rstrip("\n") + f"; {kept}\n")
    table = "attestations" if args[0] == "mark" else "waivers"
    with sqlite3.connect(db) as connection:
        assert connection.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)


@needs_full
def test_check_without_a_store_to_a_full_disk(tmp_path: Path, overlay_file: Any) -> None:
    overlay = overlay_file(f"http://127.0.0.1:{_closed_port()}")
    args = ["check", "-p", "31", "--step", "portal-closure", "--no-store", "--timeout", "1",
            "--endpoints", str(overlay), "--format", "json"]  # fmt: skip
    done = _to_full([sys.executable, "-m", "cutover", *args], buffered=True, cwd=tmp_path)
    assert done.returncode == 2 and done.stderr.endswith(NO_SPACE), done.stderr


@needs_full
def test_the_quick_exit_reports_a_failed_last_flush(tmp_path: Path, demo_db: Path) -> None:
    """What is printed after `main` (an exit handler) meets the full disk in `run`'s last
    flush: one error line and exit 2, not a traceback.  (Unbuffered, the handler's own write
    would fail instead.)"""
    script = (
        "import atexit, sys\n"
        "atexit.register(lambda: sys.stdout.write('late\\n'))\n"
        "from cutover.cli.app import run\n"
        f"sys.argv = ['cutover', 'matrix', '--db', {str(demo_db)!r}, '--format', 'json:m.json']\n"
        "run()\n"
    )
    done = _to_full([sys.executable, "-c", script], buffered=True, cwd=tmp_path)
    assert "Traceback" not in done.stderr
    assert done.returncode == 2 and done.stderr.endswith(NO_SPACE), done.stderr


# --- 2. numbers that are not numbers ------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "-p", "31", "--timeout", "nan"],
         "--timeout must be a positive number of seconds, got nan"),
        (["check", "-p", "31", "--timeout", "inf"],
         "--timeout must be a positive number of seconds, got inf"),
        (["check", "-p", "31", "--timeout", "-1"],
         "--timeout must be a positive number of seconds, got -1"),
        (["check", "-p", "31", "--per-host", "0"], "--per-host must be at least 1, got 0"),
        (["check", "-p", "31", "--per-host", "-3"], "--per-host must be at least 1, got -3"),
        (["check", "-p", "31", "--jobs", "-1"], "--jobs must be at least 1, got -1"),
        (["serve", "--refresh", "nan"], "--refresh must be a positive number of seconds, got nan"),
        (["serve", "--refresh", "inf"], "--refresh must be a positive number of seconds, got inf"),
        (["serve", "--request-timeout", "inf"],
         "--request-timeout must be a positive number of seconds, got inf"),
    ],
)  # fmt: skip
def test_option_values_out_of_range_are_usage_errors(cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    command = f"cutover {args[0]}"
    assert (result.code, result.err_lines) == (
        2,
        [f"cutover: error: {message} (see '{command} -h')"],
    )


# --- 3. every probe unknown, with or without a change ------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("quiet", [True, False])
def test_every_probe_unknown_says_so_on_every_run(cli, overlay_file, tmp_path: Path, quiet) -> None:  # type: ignore[no-untyped-def]
    """The first run into a store changes its cells (new -> unknown), the second does not:
    both say the same line, in the error form, with exit 3."""
    overlay = overlay_file(f"http://127.0.0.1:{_closed_port()}")
    args = ["check", "-p", "31", "--step", "portal-closure", "--endpoints", str(overlay),
            "--timeout", "1", *(["--quiet"] if quiet else [])]  # fmt: skip
    store = ["--db", str(tmp_path / "s.db")]
    line = "cutover: error: could not evaluate: every probe was unknown"
    first, second = cli(*args, *store), cli(*args, *store)
    assert (first.code, first.err_lines[-1:]) == (3, [line]), first.err
    assert (second.code, second.err_lines[-1:]) == (3, [line]), second.err
    if quiet:
        assert "new -> unknown" in first.out and second.out == ""
    no_store = cli(*args, "--no-store")
    assert (no_store.code, no_store.err_lines[-1:]) == (3, [line])


# --- 4. store URLs of another kind ---------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["db"], ["db", "init"], ["matrix"], ["summary"], ["history"], ["check", "-p", "31"],
     ["serve"], ["mark", "31", "commune-plans", "--by", "x", "--evidence", "https://e.org/"]],
)  # fmt: skip
def test_a_store_url_of_another_kind_is_a_usage_error(cli, args: list[str], tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args, "--db", "mysql://user:secret@host/db")
    assert result.code == 2, result.err
    assert len(result.err_lines) == 1
    assert result.err_lines[0].startswith(
        "cutover: error: --db: unknown store URL scheme 'mysql'; give a SQLite file path, "
        "sqlite:///PATH, or a postgresql:// (or postgres://) URL"
    )
    assert "secret" not in result.err
    assert not any(tmp_path.iterdir())


def test_cutover_db_of_another_kind_is_a_usage_error(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CUTOVER_DB", "mysql://x")
    result = cli("db")
    assert result.code == 2
    assert result.err_lines == [
        "cutover: error: CUTOVER_DB: unknown store URL scheme 'mysql'; give a SQLite file "
        "path, sqlite:///PATH, or a postgresql:// (or postgres://) URL"
    ]


def test_sqlite_urls_are_still_accepted(cli, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    store = tmp_path / "s.db"
    assert cli("db", "init", "--db", f"sqlite:///{store}").code == 0
    assert cli("db", "--db", f"sqlite:///{store}").code == 0
    two = cli("db", "--db", "sqlite://s.db")
    assert two.code == 2 and "a sqlite URL has three slashes" in two.err


# --- 5. validate --strict ------------------------------------------------------------------


def test_strict_says_a_warning_once_as_an_error_and_not_ok(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "c.yaml"
    bad.write_text(
        "id: x\ntitle: {vi: a, en: b}\nsteps:\n  - id: a\n    title: {vi: a, en: b}\n"
        "    due: 2025-06-28T13:00:00+07:00\n    owner: me\n    verify: {kind: manual}\n",
        encoding="utf-8",
    )
    strict = cli("validate", "--strict", str(bad))
    assert strict.code == 2 and strict.out == ""
    assert len(strict.err_lines) == 1 and strict.err_lines[0].startswith("cutover: error: ")
    relaxed = cli("validate", str(bad))
    assert relaxed.code == 0 and relaxed.lines == ["ok " + str(bad) + " (checklist x, 1 steps)"]
    assert relaxed.err_lines[0].startswith("cutover: warning: ")


# --- 6. references to the README -----------------------------------------------------------


def test_references_to_readme_sections_name_real_headings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = {line.lstrip("#").strip() for line in readme.splitlines() if line.startswith("#")}
    found = []
    for path in (ROOT / "src" / "cutover").rglob("*.py"):
        text = " ".join(path.read_text(encoding="utf-8").split())
        text = re.sub(r'"\s*"', "", text)  # implicitly joined string literals
        found += [(path.name, m) for m in re.findall(r"\(README, ([^)]+)\)", text)]
    assert ("serve.py", "The live page: `cutover serve`") in found
    assert [f for f in found if f[1] not in headings] == []


# --- 7. usage errors name the command's help -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["provinces", "--format", "xml"], "--format must be text or json, got 'xml'"),
        (["matrix", "--lang", "fr"], "--lang must be vi or en, got 'fr'"),
        (["matrix", "--format", "nope"], "unknown format 'nope'; known: table, json, csv, "
         "markdown, html, junit, prometheus, xlsx, summary"),
        (["summary", "--as-of", "x"], "--as-of: not an ISO 8601 time: 'x' (e.g. "
         "2025-06-28T13:00+07:00)"),
        (["check", "--format", "csv", "-p", "31"], "--format must be table or json, got 'csv'"),
        (["serve", "--port", "99999"], "--port must be between 0 and 65535, got 99999"),
    ],
)  # fmt: skip
def test_usage_errors_name_the_commands_help(cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    expected = f"cutover: error: {message} (see 'cutover {args[0]} -h')"
    assert (result.code, result.err_lines) == (2, [expected])


def test_an_environment_value_is_not_blamed_on_an_option(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CUTOVER_LANG", "fr")
    result = cli("provinces", "31")
    assert result.err_lines == ["cutover: error: CUTOVER_LANG must be vi or en, got 'fr'"]


# --- 8. two outputs to one file ------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second"),
    [("json:a.json", "csv:a.json"), ("json:a.json", "json:a.json"), ("csv:a.csv", "html:./a.csv")],
)
def test_two_outputs_to_one_file_are_refused(
    cli, demo_copy: Path, tmp_path: Path, monkeypatch, first: str, second: str
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = cli("matrix", "--db", str(demo_copy), "--format", first, "--format", second)
    assert result.code == 2
    assert result.err_lines == [
        f"cutover: error: --format {first} and --format {second} write the same file "
        "(see 'cutover matrix -h')"
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.db"]
    both = cli("matrix", "--db", str(demo_copy), "--format", "json:a.json", "--format", "csv:b.csv")
    assert both.code in (0, 1) and (tmp_path / "a.json").exists() and (tmp_path / "b.csv").exists()
