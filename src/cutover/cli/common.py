"""What the commands share: the environment from Typer's context, output helpers, option
types, the store, progress bars and limits."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from cutover.cli.app import env_of as env_of  # the commands take it from here
from cutover.cli.app import stderr_line, writing
from cutover.env import Environment
from cutover.errors import OptionError, OutputError, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cutover import service
    from cutover.i18n import Lang
    from cutover.probes import Limits
    from cutover.render.base import RenderOptions
    from cutover.service import ProgressStart
    from cutover.store.base import Store


class Output:
    """Lines and documents to the environment's streams."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    def out(self, line: str = "") -> None:
        with writing():
            self.env.stdout.write(line + "\n")

    def receipt(self, lines: list[str], kept: str) -> None:
        """Lines about something already recorded (`kept`, e.g. "the attestation is
        recorded"), flushed at once: when standard output cannot take them, the error says
        what was kept, so a script does not run the command again and record it twice."""
        try:
            with writing():
                for line in lines:
                    self.env.stdout.write(line + "\n")
                self.env.stdout.flush()
        except OutputError as exc:
            raise OutputError(f"{exc}; {kept}") from None

    def emit(self, data: str | bytes) -> None:
        """A rendered document to stdout, text or binary, ending with one newline."""
        if isinstance(data, bytes):
            with writing():
                self.env.stdout.flush()
                self.env.stdout.buffer.write(data)
                self.env.stdout.buffer.flush()
        else:
            self.out(data.rstrip("\n"))

    def err(self, line: str) -> None:
        stderr_line(self.env.stderr, line)


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


def positive_seconds(option: str, value: float) -> float:
    """A time option (`--timeout`, `--refresh`, …): a finite number above 0; `nan` and `inf`
    parse as floats but no clock can wait for them."""
    import math

    if not math.isfinite(value) or value <= 0:
        raise OptionError(f"{option} must be a positive number of seconds, got {value:g}")
    return value


def at_least_one(option: str, value: int) -> int:
    if value < 1:
        raise OptionError(f"{option} must be at least 1, got {value}")
    return value


def limits(jobs: int, timeout: float, per_host: int | None = None) -> Limits:
    from cutover.probes import Limits

    at_least_one("--jobs", jobs)
    positive_seconds("--timeout", timeout)
    if per_host is None:
        per_host = min(jobs, 16)
    return Limits(jobs=jobs, timeout=timeout, per_host=at_least_one("--per-host", per_host))


def language(env: Environment, lang: str | None) -> Lang:
    """`--lang`, else `CUTOVER_LANG`, else Vietnamese (`cutover.i18n.choose`)."""
    from cutover.i18n import choose

    with option_errors(lang is not None):
        return choose(lang, env.environ)


@contextmanager
def option_errors(from_option: bool = True) -> Iterator[None]:
    """A usage error about a value given on the command line (`--lang`, `--format`, `--as-of`,
    ...) becomes an `OptionError`, which names the command's help; a problem in a file
    (`ConfigError`) or in the environment stays as it is."""
    try:
        yield
    except OptionError:
        raise
    except UsageError as exc:
        if not from_option or type(exc) is not UsageError:
            raise
        raise OptionError(*exc.args) from None


def check_formats(formats: list[str], *, terminal: bool) -> None:
    """`--format` values: the checks of `render.check_formats`, and no two outputs to the
    same file (the second would silently overwrite the first)."""
    import os

    from cutover.render import check_formats as check

    with option_errors():
        check(formats, terminal=terminal)
    seen: dict[str, str] = {}
    for spec in formats:
        _, _, where = spec.partition(":")
        if not where:
            continue
        key = os.path.normpath(os.path.abspath(where))
        if key in seen:
            raise OptionError(f"--format {seen[key]} and --format {spec} write the same file")
        seen[key] = spec


def prepare(env: Environment, sel: service.Selection) -> service.Context:
    """`service.prepare`, announcing on stderr what the user may not expect: a file in the
    current directory that replaces the packaged one, a former province name, an overlay that
    lacks an endpoint."""
    from cutover import service

    ctx = service.prepare(sel, environ=env.environ, cwd=env.cwd)
    out = Output(env)
    for note in ctx.notes:
        out.err(f"note: {note}")
    return ctx


def render_options(env: Environment, lang: Lang, **extra: Any) -> RenderOptions:
    from cutover.render.base import RenderOptions

    return RenderOptions(lang=lang, color=env.color, width=env.columns, **extra)


def _complete_formats(incomplete: str) -> list[str]:
    from cutover.render import REGISTRY

    return [name for name in REGISTRY if name.startswith(incomplete)]


def _complete_provinces(incomplete: str) -> list[str]:
    """Slugs and codes of the packaged provinces (shell completion)."""
    from cutover.geo import load_geography

    try:
        geo = load_geography()
    except Exception:  # a broken provinces.yaml completes nothing rather than failing
        return []
    names = [n for p in geo.provinces for n in (p.slug, p.code)]
    return [n for n in names if n.startswith(incomplete)]


def _formats_help() -> str:
    from cutover.render import REGISTRY

    return (
        f"Output format: {', '.join(REGISTRY)}; FORMAT:PATH writes a file (repeatable; "
        "default table)."
    )


ProvincesOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--provinces",
        metavar="FILE",
        help="provinces.yaml to use (default: ./provinces.yaml, else the packaged one).",
    ),
]
DbOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--db",
        metavar="PATH|URL",
        help="Store: a SQLite file path or a postgresql:// URL (default: CUTOVER_DB, else a "
        "SQLite file in the user data dir).",
    ),
]
ChecklistOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--checklist",
        metavar="NAME|FILE",
        help="Checklist file, or the name of one in ./checklists or shipped (default "
        "cutover-2025-06).",
    ),
]
EndpointsOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--endpoints",
        metavar="FILE",
        help="Endpoint overlay file (default: CUTOVER_ENDPOINTS).",
    ),
]
AsOfOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--as-of",
        metavar="TIME",
        help="ISO 8601 time such as 2025-06-28T13:00 (default now; no offset means +07:00).",
    ),
]
ProvinceListOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--province",
        "-p",
        metavar="PROVINCE",
        autocompletion=_complete_provinces,
        help="Province code, slug or name, e.g. 31, hai-phong, 'Hải Phòng', HCM (repeatable).",
    ),
]
StepListOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--step",
        metavar="STEP",
        help="Step id from the checklist, e.g. portal-closure (repeatable).",
    ),
]
TagOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--tag", metavar="TAG", help="Only steps with this tag."),
]
LangOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--lang",
        metavar="vi|en",
        autocompletion=lambda incomplete: [x for x in ("vi", "en") if x.startswith(incomplete)],
        help="Language of what is printed (default: CUTOVER_LANG, else vi).",
    ),
]
FormatsOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--format",
        metavar="FORMAT[:PATH]",
        help=_formats_help(),
        autocompletion=_complete_formats,
    ),
]
