"""The command's `Environment`, not the process, says where files are: its working directory
finds provinces.yaml, checklists and overlays (and anchors the relative paths given for them:
--provinces, --checklist, --endpoints; --db, --trust, --key and -o are still the process's),
its XDG variables and HOME place the default store and crash logs, and its monotonic clock
ages the server's health.  The process is put somewhere else every time, so reading its
state fails a test."""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cutover import service
from cutover.checklist import load_overlay, packaged_checklists, resolve_checklist_path
from cutover.crashlog import state_dir, write_crash_log
from cutover.env import Environment, home_dir, user_dir
from cutover.geo import PROVINCES_FILE, default_provinces_path, load_geography, packaged_provinces
from cutover.store.sqlite import default_path

NOW = datetime(2025, 6, 28, 6, 0, tzinfo=UTC)
OVERLAY = "endpoints: {national: 'http://127.0.0.1:9/n'}\n"


@pytest.fixture
def process_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The process's own directory: empty, and not the command's."""
    where = tmp_path / "process"
    where.mkdir()
    monkeypatch.chdir(where)
    return where


@pytest.fixture
def work(tmp_path: Path, process_dir: Path) -> Path:
    """The command's working directory: its own provinces.yaml (differing from the packaged
    one), checklists/mine.yaml, mine.yaml and an overlay."""
    where = tmp_path / "work"
    (where / "checklists").mkdir(parents=True)
    provinces = packaged_provinces().read_text(encoding="utf-8")
    (where / PROVINCES_FILE).write_text(provinces + "# this office's copy\n", encoding="utf-8")
    checklist = (packaged_checklists() / "cutover-2025-06.yaml").read_text(encoding="utf-8")
    for name, id_ in (("checklists/mine.yaml", "by-name"), ("mine.yaml", "by-path")):
        text = checklist.replace("id: cutover-2025-06", f"id: {id_}", 1)
        (where / name).write_text(text, encoding="utf-8")
    (where / "endpoints.yaml").write_text(OVERLAY, encoding="utf-8")
    return where


# --- the working directory ----------------------------------------------------------------


def test_provinces_yaml_is_found_in_the_commands_directory(work: Path) -> None:
    assert default_provinces_path(work) == (work / PROVINCES_FILE, PROVINCES_FILE)
    assert load_geography(cwd=work).source == PROVINCES_FILE
    assert load_geography(Path(PROVINCES_FILE), cwd=work).source == PROVINCES_FILE
    elsewhere = work.parent / "process"
    assert default_provinces_path(elsewhere)[1] == f"<packaged>/{PROVINCES_FILE}"


def test_checklists_are_found_in_the_commands_directory(work: Path) -> None:
    assert resolve_checklist_path("mine", work) == (
        work / "checklists" / "mine.yaml",
        "checklists/mine.yaml",
        True,
    )
    assert resolve_checklist_path("mine.yaml", work) == (work / "mine.yaml", "mine.yaml", True)
    absolute = work / "mine.yaml"
    assert resolve_checklist_path(str(absolute), work.parent)[0] == absolute


def test_a_relative_overlay_is_read_from_the_commands_directory(work: Path) -> None:
    overlay = load_overlay(Path("endpoints.yaml"), work)
    assert overlay is not None and overlay.endpoints == {"national": "http://127.0.0.1:9/n"}


@pytest.mark.parametrize("cache", [False, True])
def test_prepare_loads_the_commands_files_with_and_without_the_cache(
    work: Path, tmp_path: Path, cache: bool
) -> None:
    environ = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    if not cache:
        environ["CUTOVER_CACHE"] = "off"
    for _ in range(2):  # with the cache on, the second comes from it
        ctx = service.prepare(
            service.Selection(checklist="mine", endpoints=Path("endpoints.yaml")),
            environ=environ,
            cwd=work,
        )
        assert ctx.geo.source == PROVINCES_FILE
        assert (ctx.loaded.checklist.id, ctx.loaded.source) == ("by-name", "checklists/mine.yaml")
        assert ctx.overlay_given and ctx.endpoints.overlay.endpoints == {
            "national": "http://127.0.0.1:9/n"
        }
        assert any(f"using ./{PROVINCES_FILE}" in note for note in ctx.notes)
    assert (tmp_path / "cache" / "cutover").exists() == cache


def test_two_directories_do_not_share_a_cached_workspace(work: Path, tmp_path: Path) -> None:
    """The cache keys on the bytes read and the names shown: a same-named checklist in
    another directory is its own entry, never the first directory's."""
    other = tmp_path / "other"
    shutil.copytree(work, other)
    text = (other / "mine.yaml").read_text(encoding="utf-8")
    (other / "mine.yaml").write_text(text.replace("id: by-path", "id: other"), encoding="utf-8")
    environ = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    sel = service.Selection(checklist="mine.yaml")
    ids = [service.prepare(sel, environ=environ, cwd=cwd).loaded.checklist.id
           for cwd in (work, other, work)]  # fmt: skip
    assert ids == ["by-path", "other", "by-path"]


# --- the XDG directories ------------------------------------------------------------------


@pytest.fixture
def process_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """XDG variables and HOME of the process, which the command's environment overrides."""
    for name in ("XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(name, str(tmp_path / "process-xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "process-home"))
    return tmp_path / "process-xdg"


def test_the_default_store_follows_the_given_environment(process_xdg: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert default_path({"XDG_DATA_HOME": str(data)}) == data / "cutover" / "cutover.db"
    home = tmp_path / "home"
    expected = home / ".local" / "share" / "cutover" / "cutover.db"
    assert default_path({"HOME": str(home)}) == expected
    # A relative XDG directory is ignored, as the specification says.
    assert default_path({"HOME": str(home), "XDG_DATA_HOME": "relative"}) == expected


def test_crash_logs_follow_the_given_environment(process_xdg: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = Environment(environ={"XDG_STATE_HOME": str(state)}, cwd=tmp_path)
    assert state_dir(env) == state / "cutover"
    written = write_crash_log(RuntimeError("a bug"), env)
    assert written is not None and written.parent == state / "cutover"
    home = Environment(environ={"HOME": str(tmp_path / "home")}, cwd=tmp_path)
    assert state_dir(home) == tmp_path / "home" / ".local" / "state" / "cutover"
    # CUTOVER_STATE_DIR, relative: in the command's directory.
    given = Environment(environ={"CUTOVER_STATE_DIR": "crashes"}, cwd=tmp_path)
    assert state_dir(given) == tmp_path / "crashes"
    # ... and named as the user gave it, in the one line that says where the traceback is.
    written = write_crash_log(RuntimeError("a bug"), given)
    assert written is not None and written.parent == Path("crashes")
    assert (tmp_path / written).is_file()
    assert not process_xdg.exists()


def test_without_home_the_password_database_says(process_xdg: Path) -> None:
    import pwd

    expected = Path(pwd.getpwuid(os.getuid()).pw_dir)
    assert home_dir({}) == home_dir({"HOME": "relative"}) == expected
    assert user_dir({}, "XDG_STATE_HOME") == expected / ".local" / "state" / "cutover"


# --- the server's monotonic clock ---------------------------------------------------------


def test_healthz_ages_on_the_given_monotonic_clock(tmp_path: Path, process_dir: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    from cutover.store.base import open_store
    from cutover.web import app as web_app
    from cutover.web.pages import Workspace

    db = tmp_path / "s.db"
    open_store(db, environ={}).close()
    now = [1000.0]
    # The watcher checks every hour of real time: only the given clock moves in this test.
    workspace = Workspace(service.prepare(service.Selection()), "vi", None, 3600.0)
    settings = web_app.Settings(str(db), {}, lambda: NOW, monotonic=lambda: now[0])
    site = web_app.Site(workspace, settings)
    assert site.healthy_at == 1000.0

    async def work() -> None:
        await site.check()
        async with TestClient(TestServer(web_app.create_app(site))) as client:
            response = await client.get("/healthz")
            assert response.status == 200
            now[0] += 3 * 3600 + 11
            response = await client.get("/healthz")
            assert response.status == 503
            body = await response.json()
            assert body["error"] == "the pages were last brought up to date 10811 s ago"

    try:
        asyncio.run(work())
    finally:
        site.close()


# --- through `main` -----------------------------------------------------------------------


def _main(env: Environment, *args: str) -> tuple[int, str, str]:
    """Run `cutover ARGS` in `env`: the exit code, standard output and standard error."""
    import io
    from dataclasses import replace

    from cutover.cli import main

    out, err = io.StringIO(), io.StringIO()
    try:
        main(list(args), replace(env, stdout=out, stderr=err))
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def _env(work: Path, tmp_path: Path) -> Environment:
    environ = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "data")}
    return Environment(environ={**environ, "NO_COLOR": "1"}, cwd=work)


def test_validate_checks_the_files_of_the_commands_directory(work: Path, tmp_path: Path) -> None:
    code, out, _ = _main(_env(work, tmp_path), "validate")
    assert code == 0
    assert f"ok {PROVINCES_FILE} (34 provinces" in out and "<packaged>" not in out
    assert "ok checklists/mine.yaml (checklist by-name" in out
    code, out, _ = _main(_env(work, tmp_path), "validate", "mine.yaml")
    assert code == 0 and "ok mine.yaml (checklist by-path" in out


def test_a_command_uses_the_directory_and_data_home_it_is_given(work: Path, tmp_path: Path) -> None:
    mark = ["mark", "31", "commune-plans", "--by", "A", "--evidence", "https://x.vn"]
    code, _, err = _main(_env(work, tmp_path), *mark, "--checklist", "mine")
    assert code == 0, err
    assert f"using ./{PROVINCES_FILE} from the current directory" in err
    assert (tmp_path / "data" / "cutover" / "cutover.db").is_file()
