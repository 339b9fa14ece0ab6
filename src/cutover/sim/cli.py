"""`cutover sim serve`: run the simulator in the foreground and print how to point at it."""

from __future__ import annotations

import asyncio
import json
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

    async def go() -> None:
        async with serve(scenario, geo, host, port) as base:
            overlay = overlay_for(base)
            if overlay_path:
                overlay_path.write_text(dump(overlay), encoding="utf-8")
                say(f"overlay written to {overlay_path}")
            say(f"simulator ({scenario.id}) listening on {base}")
            say(f"overlay: {json.dumps(overlay)}")
            say(
                f"try: cutover check --all --endpoints {overlay_path or 'OVERLAY'} "
                f"--as-of {scenario.as_of or 'now'}"
            )
            await asyncio.Event().wait()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        say("simulator stopped")
