"""`cutover demo`: the simulator, `check --all` against it, and the matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cutover.cli.app import app
from cutover.cli.common import FormatsOpt, LangOpt, Output, env_of, language, progress_for
from cutover.cli.views import store_context


@app.command()
def demo(
    ctx: typer.Context,
    fmt: FormatsOpt = None,
    scenario: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--scenario", help="Scenario name or file."),
    ] = None,
    tag: Annotated[str, typer.Option("--tag", help="Steps to show.")] = "telegram-2025-06-28",
    as_of: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--as-of", help="Clock (default: the scenario's)."),
    ] = None,
    lang: LangOpt = "en",
    db: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--db", help="Keep the demo's store here (default: a temporary file)."),
    ] = None,
) -> int:
    """Start the simulator, check every province against it, print the readiness matrix."""
    import asyncio

    from cutover import demo as demo_lib
    from cutover import service
    from cutover.render import write_all
    from cutover.render.base import RenderOptions

    env = env_of(ctx)
    chosen_language = language(lang)
    formats = fmt or ["table"]
    show_progress = all(f.split(":", 1)[0] == "table" or ":" in f for f in formats)
    prepared = demo_lib.prepare_demo(scenario, tag, as_of, env)
    run = service.Run()
    with demo_lib.demo_store(db, env) as store:
        try:
            result, _ = asyncio.run(
                demo_lib.run_demo(
                    prepared, store, run=run, progress=progress_for(env, show_progress)
                )
            )
        except KeyboardInterrupt:
            return 130
        options = RenderOptions(
            lang=chosen_language, color=env.color, **store_context(result, store, formats)
        )
        write_all(result, formats, options, Output(env).emit)
    return 130 if run.interrupted else 0
