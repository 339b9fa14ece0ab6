"""`cutover sim serve`: the portal simulator in the foreground."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cutover.cli.app import sim_app
from cutover.cli.common import Output, env_of


@sim_app.command("serve")
def sim_serve(
    ctx: typer.Context,
    scenario: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--scenario",
            metavar="NAME|FILE",
            help="A shipped scenario name or a YAML file (default 2025-06-28T13:00).",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", metavar="ADDRESS", help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", metavar="PORT", min=0, max=65535, help="Port (0: any free)."),
    ] = 8080,
    overlay: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--write-overlay",
            metavar="FILE",
            help="Write the endpoint overlay here (default: a file in a temporary directory).",
        ),
    ] = None,
) -> int:
    """Serve the portal simulator until Ctrl-C."""
    from cutover.sim.cli import serve_forever

    env = env_of(ctx)
    io = Output(env)

    def say(line: str) -> None:  # at once: whoever started the server reads these lines
        io.out(line)
        env.stdout.flush()

    serve_forever(scenario, host, port, overlay, say, env.cwd)
    return 0
