"""`cutover sim serve`: run the simulator in the foreground and print how to point at it."""

from __future__ import annotations

import asyncio
import json
import shlex
import tempfile
from collections.abc import Callable
from pathlib import Path

from cutover.geo import load_geography
from cutover.sim.scenario import load_scenario


def serve_forever(
    scenario_name: str | None,
    host: str,
    port: int,
    overlay_path: Path | None,
    say: Callable[[str], None],
) -> None:
    from cutover.sim.app import overlay_for
    from cutover.sim.server import serve
    from cutover.yamlio import dump

    scenario = load_scenario(scenario_name)
    geo = load_geography()

    async def go(path: Path) -> None:
        async with serve(scenario, geo, host, port) as base:
            overlay = overlay_for(base)
            path.write_text(dump(overlay), encoding="utf-8")
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
