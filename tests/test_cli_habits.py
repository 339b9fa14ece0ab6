"""Habits of the ecosystem (issue 10): help a person can read, a closed pipe that is not an
error, one-line usage errors, no binary on a terminal, one format per stream, files in the
current directory announced, and the names people use for provinces."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import typer

from cutover.cli import app, main
from cutover.env import Environment
from cutover.render import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "80", **kwargs.pop("env", {})}
    return subprocess.run(
        [sys.executable, "-m", "cutover", *args], capture_output=True, text=True, env=env,
        check=False, **kwargs,
    )  # fmt: skip


# --- help ----------------------------------------------------------------------------------


def _commands() -> list[Any]:
    """Every click command of the application, groups' subcommands included."""
    root = typer.main.get_command(app)
    found = []
    stack = [root]
    while stack:
        command = stack.pop()
        found.append(command)
        stack += list(getattr(command, "commands", {}).values())
    return found


def test_every_option_and_argument_is_described_with_a_real_metavar() -> None:
    for command in _commands():
        for param in command.params:
            assert getattr(param, "help", None), f"{command.name} {param.name}: no help"
            ctx = typer.main.get_command(app).make_context("cutover", [], resilient_parsing=True)
            shown = param.make_metavar(ctx) if hasattr(param, "make_metavar") else ""
            assert "<" not in shown and "[str]" not in shown, (command.name, param.name, shown)


def test_help_names_provinces_steps_times_and_the_formats(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("matrix", "-h")
    assert result.code == 0
    flat = " ".join(result.out.split())
    for shown in ("--province PROVINCE", "--step STEP", "--as-of TIME", "--format FORMAT[:PATH]"):
        assert shown in flat
    assert f"Output format: {', '.join(REGISTRY)};" in flat
    assert "<list[str]>" not in result.out and "<str>" not in result.out
    mark = " ".join(cli("mark", "--help").out.split())
    assert "Usage: cutover mark [OPTIONS] {PROVINCE} {STEP}" in mark  # {required}, [optional]
    history = " ".join(cli("history", "--help").out.split())
    assert "Usage: cutover history [OPTIONS] [PROVINCE] [STEP]" in history


def test_top_level_help_cuts_no_description(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("-h")
    commands = result.out.split("Commands:")[1]
    assert result.code == 0 and "..." not in commands and "…" not in commands
    flat = re.sub(r"-\s+", "-", " ".join(result.out.split()))  # "yaml-" wrapped before "language"
    for command in app.registered_commands:
        assert command.callback is not None and command.callback.__doc__
        first = " ".join(command.callback.__doc__.split("\n\n")[0].split())
        assert first in flat, first
    assert "--install-completion" in flat and "--version" in flat


def test_version_and_shell_completion() -> None:
    from importlib.metadata import version

    assert _run("--version").stdout == f"cutover {version('cutover')}\n"
    out = io.StringIO()  # in process: the version goes to the Environment's stream
    with pytest.raises(SystemExit) as stop:
        main(["--version"], replace(Environment(environ={}), stdout=out, stderr=io.StringIO()))
    assert out.getvalue() == f"cutover {version('cutover')}\n" and stop.value.code == 0
    script = _run("--show-completion", "bash")
    assert script.returncode == 0 and "_CUTOVER_COMPLETE=complete_bash" in script.stdout
    words = {"_CUTOVER_COMPLETE": "complete_bash", "COMP_CWORD": "3"}
    formats = _run(env={**words, "COMP_WORDS": "cutover matrix --format x"})
    assert formats.stdout.split() == ["xlsx"]
    province = _run(env={**words, "COMP_WORDS": "cutover matrix -p hai-p"})
    assert province.stdout.split() == ["hai-phong"]


def _collector_states(module: Any, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether the collector was on each time a command of `module` started its own work
    (it calls `env_of` first)."""
    import gc

    seen: list[bool] = []
    env_of = module.env_of

    def spy(ctx: typer.Context) -> Any:
        seen.append(gc.isenabled())
        return env_of(ctx)

    monkeypatch.setattr(module, "env_of", spy)
    return seen


def test_every_command_runs_with_the_collector_on(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`main` turns the cyclic collector off while it parses; each command's code runs with
    it on (`check` and `demo` turn it on when they start probing: see below), and `main`
    leaves it on, also after a usage error."""
    import gc

    from cutover.cli import files
    from cutover.cli.app import Command

    seen = _collector_states(files, monkeypatch)
    assert cli("provinces", "31").code == 0
    assert seen == [True] and gc.isenabled()
    assert cli("provinces", "--no-such-option").code == 2
    assert gc.isenabled()
    leaves = [c for c in _commands() if not hasattr(c, "commands")]
    assert leaves and all(isinstance(c, Command) for c in leaves)


def test_a_group_that_does_work_itself_runs_with_the_collector_on(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """`cutover db` without a subcommand is the group's own callback, not a `Command`; it too
    runs with the collector on.  And `main` gives its caller the collector as it found it."""
    import gc

    from cutover.cli import db
    from cutover.cli.app import main

    seen = _collector_states(db, monkeypatch)
    store = tmp_path / "s.db"
    assert cli("db", "init", "--db", str(store)).code == 0
    seen.clear()
    assert cli("db", "--db", str(store)).code == 0  # the group's own callback
    assert seen == [True]
    gc.disable()
    try:
        with pytest.raises(SystemExit):
            main(["provinces", "31"])
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_probing_collects_young_objects_less_often_and_reading_back_not_at_all(  # type: ignore[no-untyped-def]
    cli, make_sim, overlay_file, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`check` loads with the collector off (a `ProbingCommand`); while it probes, the
    collector is on with its first threshold raised (the results waiting for the store
    survive every young collection); while it reads the matrix back, the collector is off
    (the read makes no cycles: see below); the caller gets the collector back, on, with the
    thresholds as they were."""
    import gc

    from cutover import service
    from cutover.cli import check
    from cutover.cli.app import PROBING_THRESHOLD

    loading = _collector_states(check, monkeypatch)

    seen: dict[str, tuple[tuple[int, int, int], bool]] = {}

    def spy(name: str) -> None:
        real = getattr(service, name)

        def record(*args: Any, **kwargs: Any) -> Any:
            seen[name] = (gc.get_threshold(), gc.isenabled())
            return real(*args, **kwargs)

        monkeypatch.setattr(service, name, record)

    spy("run_checks")
    spy("stored_matrix")
    overlay = overlay_file(make_sim().base_url)
    before = gc.get_threshold()
    gc.set_threshold(500, 7, 9)
    try:
        result = cli("check", "-p", "hue", "--step", "portal-closure", "--endpoints", str(overlay))
        assert result.code == 0, result.err
        assert loading == [False]
        assert seen == {
            "run_checks": ((PROBING_THRESHOLD, 7, 9), True),
            "stored_matrix": ((500, 7, 9), False),
        }
        assert gc.get_threshold() == (500, 7, 9)
        assert gc.isenabled()
    finally:
        gc.set_threshold(*before)


def test_reading_a_matrix_back_makes_no_reference_cycles(tmp_path: Path) -> None:
    """What lets `collector_paused` turn the collector off for a read: nothing the read builds
    (rows, evidence, history, cells) is left for the collector to find, with waivers,
    attestations and a regression in the store."""
    import gc
    from datetime import UTC, datetime, timedelta

    from store_helpers import record_run

    from cutover import service
    from cutover.store.base import AttestationRecord, WaiverRecord, open_store

    ctx = service.prepare(service.Selection(["hue"], None, None, None, None, None))
    store = open_store(tmp_path / "s.db", environ={})
    t0 = datetime(2025, 6, 28, 1, tzinfo=UTC)
    units = [t.key for t in ctx.targets if not t.step.verify.manual]
    for i, outcome in enumerate(("pass", "fail")):
        record_run(store, t0 + timedelta(hours=i), dict.fromkeys(units, outcome))
    hue = ctx.provinces[0].code
    manual = next(s.id for s in ctx.steps if s.verify.manual and s.level == "province")
    store.add_attestation(AttestationRecord(hue, manual, "", "pass", "an officer", t0))
    waived = units[0][1]
    store.add_waiver(WaiverRecord(hue, waived, "why", "boss", t0 + timedelta(days=9), t0))
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        matrix = service.stored_matrix(ctx, store, t0 + timedelta(hours=3))
        found = gc.collect()
        garbage = [type(o).__qualname__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()
        store.close()
    assert {c.status for c in matrix.cells.values()} >= {"regressed", "waived", "done"}
    assert found == 0, garbage[:20]


def test_probing_leaves_automatic_collection_off_when_the_caller_turned_it_off() -> None:
    import gc

    from cutover.cli.app import collector_for_probing

    before = gc.get_threshold()
    gc.set_threshold(0, 10, 10)
    try:
        with collector_for_probing():
            assert gc.get_threshold() == (0, 10, 10)
        assert gc.get_threshold() == (0, 10, 10)
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


# --- streams and usage errors ----------------------------------------------------------------


def test_the_quick_exit_flushes_everything_and_closes_the_store(tmp_path: Path) -> None:
    """The console command skips the interpreter's teardown (`cli.app.run`): what it printed
    still arrives whole, its exit status is kept, and the store it opened is closed (SQLite
    folds its write-ahead log back into the file and removes it when the last connection
    closes)."""
    import json

    db = tmp_path / "store.db"
    marked = _run(
        "mark", "31", "commune-plans", "--by", "officer", "--evidence", "https://example.org/p",
        "--db", str(db),
    )  # fmt: skip
    assert marked.returncode == 0, marked.stderr
    table = _run("matrix", "--format", "json", "--db", str(db))
    assert table.returncode in (0, 1), table.stderr
    assert len(table.stdout) > 100_000  # more than one pipe buffer, all of it flushed
    matrix = json.loads(table.stdout)
    cell = next(c for c in matrix["cells"] if (c["province"], c["step"]) == ("31", "commune-plans"))
    assert cell["source"] == "attestation" and cell["by"] == "officer"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store.db"]  # no -wal, no -shm
    failed = _run("matrix", "--province", "99", "--db", str(db))
    assert failed.returncode == 2 and failed.stderr.startswith("cutover: error:")


@pytest.mark.parametrize(
    ("redirects", "expected"),
    [
        ("2>&- >/dev/null", 0),  # no stderr at all: Python makes sys.stderr None
        (">&- 2>/dev/null", 0),  # no stdout: what it prints reaches no one, as with a closed pipe
    ],
)
def test_a_stream_closed_from_the_start_keeps_the_exit_status(
    redirects: str, expected: int
) -> None:
    """The quick exit flushes only the streams the process has; it never turns a finished
    command into a traceback or another status."""
    shell = f"{sys.executable} -m cutover provinces {redirects}; echo $?"
    done = subprocess.run(["bash", "-c", shell], capture_output=True, text=True, check=False)
    assert done.stdout.strip().splitlines()[-1] == str(expected), done
    assert "Traceback" not in done.stderr


def test_a_closed_pipe_is_not_an_error(tmp_path: Path) -> None:
    """`cutover provinces | head -1`: the reader goes away; we stop quietly with 0."""
    for args in (["provinces"], ["provinces", "79", "--format", "json"]):
        proc = subprocess.Popen(
            [sys.executable, "-m", "cutover", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path,
        )  # fmt: skip
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()  # before the first write: every write meets a closed pipe
        err = proc.stderr.read()
        proc.stderr.close()
        assert proc.wait(timeout=60) == 0, err
        assert err == b""
    shell = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} -m cutover provinces | head -1"],
        capture_output=True, text=True, cwd=tmp_path, check=False,
    )  # fmt: skip
    assert shell.returncode == 0 and shell.stderr == ""
    assert shell.stdout.split()[0] == "mã"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "--nope"], "No such option: --nope (Possible options: --no-store) (see "
         "'cutover check -h')"),
        (["matrix", "--format"], "Option '--format' requires an argument. (see 'cutover "
         "matrix -h')"),
        (["sim", "serve", "--port", "70000"], "Invalid value for '--port': Input should be less "
         "than or equal to 65535 (see 'cutover sim serve -h')"),
        (["nope"], "No such command 'nope'. (see 'cutover -h')"),
    ],
)  # fmt: skip
def test_usage_errors_are_one_line(cli, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args)
    assert (result.code, result.err_lines) == (2, [f"cutover: error: {message}"])


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_binary_refused_on_a_terminal_and_one_format_per_stream(
    cli, monkeypatch, demo_copy: Path
) -> None:  # type: ignore[no-untyped-def]
    db = ["--db", str(demo_copy)]
    two = cli("matrix", *db, "--format", "json", "--format", "csv")
    assert two.err_lines == [
        "cutover: error: 2 formats to standard output (json, csv); give all but one a path, "
        "e.g. --format csv:FILE (see 'cutover matrix -h')"
    ]
    assert two.code == 2 and two.out == ""
    monkeypatch.setattr(sys, "stdout", Terminal())
    xlsx = cli("matrix", *db, "--format", "xlsx")
    assert xlsx.code == 2
    assert xlsx.err_lines == [
        "cutover: error: xlsx is a binary format and standard output is a terminal; give a path "
        "(--format xlsx:matrix.xlsx) or redirect to a file (see 'cutover matrix -h')"
    ]
    assert cli("demo", "--format", "xlsx").code == 2  # refused before the simulator starts


def test_a_file_in_the_current_directory_is_announced(
    cli, tmp_path: Path, monkeypatch, demo_copy: Path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CUTOVER_DB", str(demo_copy))
    ours = (ROOT / "provinces.yaml").read_text(encoding="utf-8")
    (tmp_path / "provinces.yaml").write_text(ours, encoding="utf-8")
    same = cli("matrix", "-p", "31", "--format", "json")
    assert same.err == ""  # identical to the packaged file: it replaces nothing
    changed = ours.replace("https://motcua.haiphong.gov.vn", "https://motcua.haiphong.example")
    (tmp_path / "provinces.yaml").write_text(changed, encoding="utf-8")
    (tmp_path / "checklists").mkdir()
    checklist = (ROOT / "checklists" / "cutover-2025-06.yaml").read_text(encoding="utf-8")
    (tmp_path / "checklists" / "cutover-2025-06.yaml").write_text(
        checklist.replace("vi: Ủy ban nhân dân cấp xã", "vi: Ủy ban nhân dân các xã, phường"),
        encoding="utf-8",
    )
    result = cli("matrix", "-p", "31", "--format", "json")
    assert result.err_lines == [
        "cutover: note: using ./provinces.yaml from the current directory instead of the "
        "packaged one (give --provinces to choose)",
        "cutover: note: using ./checklists/cutover-2025-06.yaml from the current directory "
        "instead of the packaged checklist of that name (give --checklist PATH to choose)",
    ]
    given = cli("matrix", "-p", "31", "--format", "json", "--provinces", "provinces.yaml",
                "--checklist", "checklists/cutover-2025-06.yaml")  # fmt: skip
    assert given.err == ""  # named on the command line: nothing to announce


# --- names people use ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "code"),
    [("TP HCM", "79"), ("HCM", "79"), ("Sài Gòn", "79"), ("tphcm", "79"), ("Huế", "46"),
     ("Hai Phong City", "31"), ("hà nội", "01")],
)  # fmt: skip
def test_names_people_use(cli, name: str, code: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("provinces", name, "--lang", "en")
    assert result.code == 0 and result.err == ""
    assert result.lines[0].startswith(f"{code} ")


def test_a_pre_2025_province_resolves_with_a_note(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("provinces", "Hải Dương", "--lang", "en")
    assert result.code == 0
    assert result.lines[0] == "31 Thành phố Hải Phòng (Hai Phong), city"
    assert result.err_lines == [
        "cutover: note: 'Hải Dương' is a province from before the 2025 merger, now part of "
        "Thành phố Hải Phòng (31)"
    ]
    check = cli("matrix", "-p", "thua thien hue", "--format", "json")
    assert "now part of Thành phố Huế (46)" in check.err


def test_an_ambiguous_name_lists_the_candidates(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("provinces", "Quảng")
    assert result.code == 2
    assert result.err_lines == [
        "cutover: error: province 'Quảng' is ambiguous: it could be 22 Quảng Ninh, 44 Quảng "
        "Trị, 51 Quảng Ngãi, 48 Thành phố Đà Nẵng"
    ]
    assert (
        cli("provinces", "haiphon")
        .err_lines[0]
        .startswith("cutover: error: unknown province 'haiphon'; did you mean hai-phong")
    )
