"""The event loop of the probing commands: uvloop's by default where it is installed,
asyncio's own with CUTOVER_EVENT_LOOP=asyncio, and the same evidence on both."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from cutover.cli.check import event_loop_factory, run_probing
from cutover.errors import UsageError

if sys.platform == "win32":
    pytest.skip("uvloop has no Windows build", allow_module_level=True)
import uvloop  # a dependency on every other platform: never skipped in CI


async def _loop_type() -> type[object]:
    return type(asyncio.get_running_loop())


@pytest.mark.parametrize(
    ("value", "chosen"),
    [("", "uvloop"), ("uvloop", "uvloop"), (" UVLoop ", "uvloop"), ("asyncio", "asyncio")],
)
def test_the_variable_chooses_the_loop_commands_run_on(value: str, chosen: str) -> None:
    factory = event_loop_factory({"CUTOVER_EVENT_LOOP": value} if value else {})
    ran_on = run_probing(_loop_type(), factory)
    if chosen == "uvloop":
        assert ran_on is uvloop.Loop
    else:
        assert factory is None
        assert issubclass(ran_on, asyncio.BaseEventLoop)
        assert not issubclass(ran_on, uvloop.Loop)


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(
        UsageError, match="CUTOVER_EVENT_LOOP must be uvloop or asyncio, not 'tokio'"
    ):
        event_loop_factory({"CUTOVER_EVENT_LOOP": "tokio"})


def test_without_uvloop_the_default_falls_back_and_an_explicit_choice_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what `import uvloop` meets on Windows
    assert event_loop_factory({}) is None
    with pytest.raises(UsageError, match="CUTOVER_EVENT_LOOP=uvloop, but uvloop is not installed"):
        event_loop_factory({"CUTOVER_EVENT_LOOP": "uvloop"})


@pytest.mark.parametrize("command", [["check", "--all", "--no-store"], ["demo"]])
def test_a_bad_value_is_one_usage_line_before_anything_runs(  # type: ignore[no-untyped-def]
    cli, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("CUTOVER_EVENT_LOOP", "tokio")
    result = cli(*command)
    assert (result.code, result.err_lines) == (
        2,
        ["cutover: error: CUTOVER_EVENT_LOOP must be uvloop or asyncio, not 'tokio'"],
    )
    assert result.out == ""


def test_check_finds_the_same_on_both_loops(  # type: ignore[no-untyped-def]
    cli, make_sim, overlay_file, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The telegram's steps for two provinces against the simulator, with faults that make
    probes time out, lose their connection and meet a 500, give the same cells on uvloop and
    on asyncio, reasons included."""
    sim = make_sim(
        faults=[
            {"path": "^/p/46/portal/", "kind": "status", "status": 500},
            {"path": "^/national/api/communes/", "kind": "hang"},
            {"path": "^/national/api/provinces/31/", "kind": "reset"},
        ]
    )
    overlay = overlay_file(sim.base_url)
    cells = {}
    for loop in ("uvloop", "asyncio"):
        monkeypatch.setenv("CUTOVER_EVENT_LOOP", loop)
        monkeypatch.setenv("CUTOVER_DB", str(tmp_path / f"{loop}.db"))
        result = cli(
            "check", "-p", "hue", "-p", "hai-phong", "--tag", "telegram-2025-06-28",
            "--endpoints", str(overlay), "--timeout", "1", "--format", "json",
        )  # fmt: skip
        assert result.code in (0, 1), result.err
        cells[loop] = [
            (c["province"], c["step"], c["status"], c["reason"])
            for c in json.loads(result.out)["cells"]
        ]
    assert cells["uvloop"] == cells["asyncio"]
    reasons = " ".join(reason for *_, reason in cells["uvloop"])
    for seen in ("timed out after 1 s", "Server disconnected", "service unavailable: 500"):
        assert seen in reasons
