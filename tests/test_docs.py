"""Every command is documented in the README, and the README's two commands are the real ones."""

from __future__ import annotations

from pathlib import Path

import typer

from cutover.cli import app

README = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")


def _commands(group: typer.Typer, prefix: str = "cutover") -> list[str]:
    names = [
        f"{prefix} {c.name or (c.callback.__name__ if c.callback else '')}"
        for c in group.registered_commands
    ]
    for sub in group.registered_groups:
        assert sub.typer_instance is not None
        names += _commands(sub.typer_instance, f"{prefix} {sub.name}")
    return names


def test_every_command_is_in_the_readme() -> None:
    commands = _commands(app)
    assert len(commands) >= 11
    missing = [c for c in commands if f"`{c}" not in README]
    assert not missing, f"undocumented commands: {missing}"


def test_readme_commands_match_ci() -> None:
    assert "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/cutover demo" in README
    assert "bash scripts/check" in README
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text(encoding="utf-8")
    assert "bash scripts/check" in ci
