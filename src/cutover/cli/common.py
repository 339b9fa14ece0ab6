"""What the commands share: the environment from Typer's context, output helpers, option
types, the store, progress bars and limits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cutover.env import Environment
from cutover.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from cutover.probes import Limits
    from cutover.render.base import Lang
    from cutover.service import ProgressStart
    from cutover.store.base import Store


def env_of(ctx: typer.Context) -> Environment:
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Environment) else Environment.from_process()


class Output:
    """Lines and documents to the environment's streams."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    def out(self, line: str = "") -> None:
        self.env.stdout.write(line + "\n")

    def emit(self, data: str | bytes) -> None:
        """A rendered document to stdout, text or binary, ending with one newline."""
        if isinstance(data, bytes):
            self.env.stdout.flush()
            self.env.stdout.buffer.write(data)
            self.env.stdout.buffer.flush()
        else:
            self.out(data.rstrip("\n"))

    def err(self, line: str) -> None:
        self.env.stderr.write(f"cutover: {line}\n")


def open_store_for(env: Environment, db: str | None, *, create: bool = True) -> Store:
    from cutover.store.base import open_store

    return open_store(db, environ=env.environ, create=create)


def progress_for(env: Environment, enabled: bool) -> ProgressStart | None:
    """A progress bar on a terminal's stderr; nothing on a pipe."""
    if not enabled or not env.interactive_stderr:
        return None

    def start(total: int) -> Callable[[], None]:
        from rich.console import Console
        from rich.progress import Progress

        bar = Progress(transient=True, console=Console(file=env.stderr))
        bar.start()
        task = bar.add_task("probing", total=total)

        def advance() -> None:
            bar.advance(task)
            if bar.tasks[0].finished:
                bar.stop()

        if total == 0:
            bar.stop()
        return advance

    return start


def limits(jobs: int, timeout: float, per_host: int | None = None) -> Limits:
    from cutover.probes import Limits

    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {timeout:g}")
    return Limits(jobs=jobs, timeout=timeout, per_host=per_host or min(jobs, 16))


def language(lang: str) -> Lang:
    if lang == "vi":
        return "vi"
    if lang == "en":
        return "en"
    raise UsageError(f"--lang must be vi or en, got {lang!r}")


ProvincesOpt = Annotated[Optional[Path], typer.Option("--provinces", help="provinces.yaml to use.")]  # noqa: UP045
DbOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--db",
        help="Store: a SQLite file path or a postgresql:// URL (default: CUTOVER_DB, else a "
        "SQLite file in the user data dir).",
    ),
]
ChecklistOpt = Annotated[Optional[str], typer.Option("--checklist", help="Checklist file or name.")]  # noqa: UP045
EndpointsOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option("--endpoints", help="Endpoint overlay file (default: CUTOVER_ENDPOINTS)."),
]
AsOfOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--as-of", help="ISO 8601 time (default now; no offset = +07:00)."),
]
ProvinceListOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--province", "-p", help="Province code, slug or name (repeatable)."),
]
StepListOpt = Annotated[Optional[list[str]], typer.Option("--step", help="Step id (repeatable).")]  # noqa: UP045
TagOpt = Annotated[Optional[str], typer.Option("--tag", help="Only steps with this tag.")]  # noqa: UP045
LangOpt = Annotated[str, typer.Option("--lang", help="vi or en.")]
FormatsOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option("--format", help="FORMAT or FORMAT:PATH (repeatable)."),
]
