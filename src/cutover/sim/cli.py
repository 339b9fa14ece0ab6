"""`cutover sim serve`: run the simulator in the foreground and print how to point at it."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cutover.errors import ConfigError, UsageError
from cutover.geo import load_geography
from cutover.sim.scenario import load_scenario


def serve_forever(
    scenario_name: str | None,
    host: str,
    port: int,
    overlay_path: Path | None,
    say: Callable[[str], None],
    cwd: Path | None = None,
) -> None:
    from cutover.sim.app import overlay_for
    from cutover.sim.server import serve
    from cutover.yamlio import dump

    scenario = load_scenario(scenario_name)
    geo = load_geography(cwd=cwd)
    if overlay_path is not None:
        check_overlay_target(overlay_path)  # before the port is taken

    async def go(path: Path) -> None:
        async with serve(scenario, geo, host, port) as base:
            overlay = overlay_for(base)
            header = f"# endpoint overlay written by `cutover sim serve` for {base}\n"
            write_overlay(path, header + dump(overlay))
            say(f"overlay written to {path}")
            say(f"simulator ({scenario.id}) listening on {base}")
            say(f"overlay: {json.dumps(overlay)}")
            say(f"try: {suggested_command(path, scenario.as_of)}")
            await asyncio.Event().wait()

    with tempfile.TemporaryDirectory(prefix="cutover-sim-") as folder:
        try:
            asyncio.run(go(overlay_path or Path(folder) / "overlay.yaml"))
        except KeyboardInterrupt:
            say("simulator stopped")


def suggested_command(overlay: Path, as_of: str | None) -> str:
    """A command that works as printed: the overlay is a real file, the scenario's time sets
    the deadlines, and `--no-store` keeps simulated results out of the user's store (whose
    history `matrix --as-of` reads)."""
    parts = [
        "cutover", "check", "--all", "--tag", "telegram-2025-06-28",
        "--endpoints", str(overlay), "--no-store",
    ]  # fmt: skip
    if as_of:
        parts += ["--as-of", as_of]
    return shlex.join(parts)


def check_overlay_target(path: Path) -> None:
    """Refuse, before the simulator starts, a --write-overlay path that is not a regular file
    or is a file the simulator did not write (someone's real overlay): only a missing file or
    an earlier simulator's overlay is (re)written."""
    where = f"--write-overlay: {path}"
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        if not path.parent.is_dir():
            raise UsageError(f"{where}: no such directory {path.parent}") from None
        return
    except OSError as exc:
        raise UsageError(f"{where}: {(exc.strerror or 'cannot be read').lower()}") from None
    if not stat.S_ISREG(mode):
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
        kind = "a symbolic link" if stat.S_ISLNK(mode) else kind
        raise UsageError(f"{where} is {kind}; give the path of a new file")
    if not _written_by_simulator(path):
        raise UsageError(
            f"{where} exists and is not an overlay the simulator wrote; "
            "remove it or give another path (it is never overwritten)"
        )


def _written_by_simulator(path: Path) -> bool:
    """Whether `path` holds exactly what `overlay_for` gives for some base URL."""
    from cutover.sim.app import overlay_for
    from cutover.yamlio import load_file

    try:
        data: Any = load_file(path).data
        national = data["endpoints"]["national"]
    except (ConfigError, TypeError, KeyError):
        return False
    if not isinstance(national, str) or not national.endswith("/national"):
        return False
    return bool(data == overlay_for(national.removesuffix("/national")))


def write_overlay(path: Path, text: str) -> None:
    """Write `text` to `path` whole or not at all: a temporary file in the same directory,
    then renamed over `path` (a reader never sees half an overlay)."""
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise UsageError(
            f"--write-overlay: cannot write {path}: {(exc.strerror or 'error').lower()}"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise UsageError(
            f"--write-overlay: cannot write {path}: {(exc.strerror or 'error').lower()}"
        ) from None
