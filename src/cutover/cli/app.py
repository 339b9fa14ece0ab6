"""The Typer application and `main`, the one place that maps errors to exit codes.

`main` builds the `Environment` once and hands it to every command through Typer's context
object; commands live in their own modules (`cutover.cli.*`) and register on `app`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import typer

from cutover.env import Environment
from cutover.errors import CutoverError, ExitCode

app = typer.Typer(
    name="cutover",
    help="Province-by-province readiness of an IT switchover, proved by probes and evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
sim_app = typer.Typer(help="The portal simulator.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")
db_app = typer.Typer(
    help="The store: where it is, what it holds, its integrity.", invoke_without_command=True
)
app.add_typer(db_app, name="db")


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> None:
    from dataclasses import replace

    env = env or Environment.from_process()
    args = list(env.argv if argv is None else argv)
    env = replace(env, argv=tuple(args))

    def say(line: str) -> None:
        env.stderr.write(f"cutover: {line}\n")

    try:
        _refuse_undecodable(args)
        # Without standalone mode the parser returns `typer.Exit` codes instead of exiting.
        code = app(args=args, prog_name="cutover", standalone_mode=False, obj=env)
        sys.exit(code if isinstance(code, int) else 0)
    except CutoverError as exc:
        for line in exc.lines():
            say(f"error: {line}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        say("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        say("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:  # usage errors from the option parser, and anything unexpected
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()  # the parser's own "Usage: ... Error: ..." message
            sys.exit(ExitCode.INVALID_INPUT)
        sys.exit(internal_error(exc, env))


def _refuse_undecodable(args: list[str]) -> None:
    """Bytes that are not UTF-8 reach Python as lone surrogates, which no file, store or
    terminal can take: refuse them here, once, with the argument named."""
    from cutover.errors import UsageError

    for arg in args:
        if any("\ud800" <= ch <= "\udfff" for ch in arg):
            shown = arg.encode("utf-8", "backslashreplace").decode("ascii", "replace")
            raise UsageError(f"argument {shown!r} is not valid UTF-8")


def internal_error(exc: BaseException, env: Environment) -> int:
    """A bug: keep the traceback in a private log file and print one line saying where."""
    from cutover.crashlog import write_crash_log

    where = write_crash_log(exc, env)
    note = f" (traceback in {where})" if where else ""
    env.stderr.write(f"cutover: internal error: {type(exc).__name__}: {exc}{note}\n")
    return ExitCode.UNAVAILABLE
