from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The workspace cache (`cutover.workspace_cache`) of every command the tests run lives in
    the session's temporary directory, never in the user's; most commands then read it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield


@pytest.fixture
def cli(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Result]:
    """Run `cutover ARGS` in-process through `cli.main`, the same path as the console script.
    Each test gets its own store (CUTOVER_DB), never the user's."""
    from cutover.cli import main

    monkeypatch.delenv("CUTOVER_ENDPOINTS", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("CUTOVER_DB", str(tmp_path_factory.mktemp("store") / "cutover.db"))

    def run(*args: str) -> Result:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["cutover", *args])
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture
def elsewhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A directory with no provinces.yaml or checklists: the packaged data is used."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def geo():  # type: ignore[no-untyped-def]
    from cutover.geo import load_geography

    return load_geography(ROOT / "provinces.yaml")


@pytest.fixture(scope="session")
def telegram_sim(geo):  # type: ignore[no-untyped-def]
    """The shipped 28 June 13:00 scenario, served on a free loopback port for the session."""
    from cutover.sim.scenario import load_scenario
    from cutover.sim.server import SimulatorThread

    with SimulatorThread(load_scenario(None), geo) as sim:
        yield sim


@pytest.fixture
def make_sim(geo):  # type: ignore[no-untyped-def]
    """Start a simulator for one test: make_sim(features=..., faults=[...])."""
    from contextlib import ExitStack

    from cutover.sim.scenario import validate_scenario_data
    from cutover.sim.server import SimulatorThread

    with ExitStack() as stack:

        def start(**scenario):  # type: ignore[no-untyped-def]
            data = {"id": "test", "title": "test", **scenario}
            return stack.enter_context(SimulatorThread(validate_scenario_data(data, "test"), geo))

        yield start


@pytest.fixture
def overlay_file(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write the overlay for a simulator base URL; returns its path."""
    from cutover.sim.app import overlay_for
    from cutover.yamlio import dump

    def write(base: str) -> Path:
        path = tmp_path / "overlay.yaml"
        path.write_text(dump(overlay_for(base)), encoding="utf-8")
        return path

    return write


DEMO_TAG = "telegram-2025-06-28"
DEMO_AS_OF = "2025-06-28T13:00:00+07:00"


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo run once for the whole session into a real SQLite file (the telegram scenario,
    every province, the telegram steps).  Tests that write copy it with `demo_copy`."""
    return record_demo(tmp_path_factory.mktemp("demo") / "demo.db")


def record_demo(path: Path, as_of: str | None = None) -> Path:
    """The telegram demo (every province, the telegram steps) run into a SQLite file at
    `path`, on the scenario's clock or at `as_of`."""
    import asyncio

    from cutover.demo import demo_store, prepare_demo, run_demo
    from cutover.env import Environment

    env = Environment(environ={})
    demo = prepare_demo(None, DEMO_TAG, as_of, env)
    with demo_store(path, env) as store:
        _, run = asyncio.run(run_demo(demo, store))
    assert not run.interrupted and run.count == 3559
    return path


@pytest.fixture
def demo_copy(demo_db: Path, tmp_path: Path) -> Path:
    """A private copy of the session's demo store."""
    import shutil

    target = tmp_path / "demo.db"
    shutil.copy(demo_db, target)
    return target


# A real PostgreSQL server for the session, and a fresh database per test (tests/pg_server.py).
from pg_server import pg_db, pg_server  # noqa: E402, F401
