"""Regenerate the README's pictures: the demo matrix as SVG (rich) and the HTML report as PNG
(headless Chromium).  Run from the repository root: python scripts/pictures.py"""

from __future__ import annotations

import asyncio
import io
import subprocess
import tempfile
from pathlib import Path

from rich.console import Console
from rich.text import Text

from cutover.cli.views import store_context
from cutover.demo import demo_store, prepare_demo, run_demo
from cutover.env import Environment
from cutover.render import get
from cutover.render.base import RenderOptions

DOCS = Path("docs")


def main() -> None:
    env = Environment.from_process()
    demo = prepare_demo(None, "telegram-2025-06-28", None, env)
    with demo_store(None, env) as store:
        matrix, _ = asyncio.run(run_demo(demo, store))
        context = store_context(matrix, store, ["html"])
    console = Console(
        file=io.StringIO(), record=True, width=80, force_terminal=True, color_system="truecolor"
    )
    table = str(get("table")(matrix, RenderOptions(lang="en", color=True, width=80)))
    console.print(Text.from_ansi(table), soft_wrap=True)
    DOCS.mkdir(exist_ok=True)
    console.save_svg(str(DOCS / "demo-matrix.svg"), title="cutover demo")
    html = str(get("html")(matrix, RenderOptions(lang="en", **context)))
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "report.html"
        page.write_text(html, encoding="utf-8")
        subprocess.run(
            [
                "chromium",
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={folder}/profile",
                "--window-size=1000,1500",
                f"--screenshot={(DOCS / 'report.png').resolve()}",
                page.as_uri(),
            ],
            check=True,
            capture_output=True,
        )


if __name__ == "__main__":
    main()
