"""`cutover demo`: the simulator, `check --all` against it, and the matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cutover.cli.app import ProbingCommand, app
from cutover.cli.common import (
    FormatsOpt,
    LangOpt,
    Output,
    check_formats,
    env_of,
    language,
    progress_for,
    render_options,
)
from cutover.cli.views import store_context


@app.command(cls=ProbingCommand)
def demo(
    ctx: typer.Context,
    fmt: FormatsOpt = None,
    scenario: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--scenario",
            metavar="NAME|FILE",
            help="Simulator scenario: a shipped name or a YAML file (default 2025-06-28T13:00).",
        ),
    ] = None,
    tag: Annotated[
        str, typer.Option("--tag", metavar="TAG", help="Only steps with this tag.")
    ] = "telegram-2025-06-28",
    as_of: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--as-of", metavar="TIME", help="The demo's clock (default: the scenario's time)."
        ),
    ] = None,
    lang: LangOpt = None,
    db: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--db", metavar="PATH", help="Keep the demo's store here (default: a temporary file)."
        ),
    ] = None,
) -> int:
    """Start the simulator, check every province against it, print the readiness matrix."""
    from cutover import demo as demo_lib
    from cutover import service
    from cutover.cli.app import collector_for_probing
    from cutover.cli.check import TERMINATED, Terminated, run_probing
    from cutover.render import write_all

    env = env_of(ctx)
    chosen_language = language(env, lang)
    formats = fmt or ["table"]
    check_formats(formats, terminal=env.stdout.isatty())
    show_progress = all(f.split(":", 1)[0] == "table" or ":" in f for f in formats)
    prepared = demo_lib.prepare_demo(scenario, tag, as_of, env)
    run = service.Run()
    with demo_lib.demo_store(db, env) as store:
        try:
            with collector_for_probing():
                result, _ = run_probing(
                    demo_lib.run_demo(
                        prepared, store, run=run, progress=progress_for(env, show_progress)
                    )
                )
        except KeyboardInterrupt:
            return 130
        except Terminated:
            return TERMINATED
        options = render_options(env, chosen_language, **store_context(result, store, formats))
        write_all(result, formats, options, Output(env).emit)
    return 130 if run.interrupted else 0
