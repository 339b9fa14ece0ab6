"""The Typer application and `main`, the one place that maps errors to exit codes.

`main` builds the `Environment` once and hands it to every command through Typer's context
object; commands live in their own modules (`cutover.cli.*`) and register on `app`.
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand

from cutover.env import Environment
from cutover.errors import CutoverError, ExitCode, OptionError, OutputError

if TYPE_CHECKING:
    from typer._click import Context as ClickContext

CONTEXT = {"help_option_names": ["-h", "--help"]}

app = typer.Typer(
    name="cutover",
    help="Province-by-province readiness of an IT switchover, proved by probes and evidence.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)
sim_app = typer.Typer(help="The portal simulator.", no_args_is_help=True, context_settings=CONTEXT)
app.add_typer(sim_app, name="sim")
db_app = typer.Typer(
    help="The store: where it is, what it holds, its integrity.",
    invoke_without_command=True,
    context_settings=CONTEXT,
)
app.add_typer(db_app, name="db")


class ClosedPipe(Exception):
    """Whoever read our standard output has gone (`cutover provinces | head -1`).  Not an
    `OSError`, so the option parser's own handler (which exits 1) lets it through to `main`."""


def output_error(exc: OSError) -> OutputError:
    """Standard output refused what we wrote (`> /dev/full`): one line, exit 2, as for a
    `--format FORMAT:PATH` file that cannot be written.  Not an `OSError` either."""
    return OutputError(f"cannot write the output: {exc.strerror or exc}")


@contextlib.contextmanager
def writing() -> Iterator[None]:
    """Standard output refusing a write: a reader that has gone is not an error
    (`ClosedPipe`); anything else (a full disk) is one line, exit 2, not a traceback."""
    try:
        yield
    except BrokenPipeError:
        raise ClosedPipe from None
    except OSError as exc:
        raise output_error(exc) from None


def env_of(ctx: typer.Context) -> Environment:
    """The `Environment` that `main` was given (a process's own when called without one)."""
    obj = ctx.find_root().obj
    return obj if isinstance(obj, Environment) else Environment.from_process()


def _show_version(ctx: typer.Context, value: bool) -> None:
    """`--version`, to the standard output of the `Environment` that `main` was given."""
    if value:
        from importlib.metadata import version

        stdout = env_of(ctx).stdout
        with writing():
            stdout.write(f"cutover {version('cutover')}\n")
            stdout.flush()
        raise typer.Exit(0)


@app.callback()
def root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_show_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Province-by-province readiness of an IT switchover, proved by probes and evidence."""


class Command(TyperCommand):
    """Every command (`cutover.cli` registers them with this class): the cyclic collector,
    off while `main` parses, is back on when the command's own code starts, with what the
    parsing built frozen (see `main`)."""

    def invoke(self, ctx: ClickContext) -> Any:
        collector_on()
        return super().invoke(ctx)


class ProbingCommand(Command):
    """`check` and `demo`: the collector stays off through their loading too (the workspace,
    the store, aiohttp), which lives as long as the process, until `collector_for_probing`
    freezes all of it and turns the collector on (at 6,642 probes, about 6 ms less of it)."""

    def invoke(self, ctx: ClickContext) -> Any:
        return TyperCommand.invoke(self, ctx)


def collector_on() -> None:
    """A command's own code starts: what parsing built is frozen, the collector back on.
    Commands get it from `Command`; a group callback that does work itself calls it."""
    gc.freeze()
    gc.enable()


def main(argv: Sequence[str] | None = None, env: Environment | None = None) -> None:
    """Run one command.  What start-up built so far (the parser, typer, the command modules)
    lives as long as the process: `gc.freeze` keeps the cyclic collector from walking it again
    on every collection the command triggers (about 20 ms of a reading command).  While typer
    parses the arguments (importing pydantic for its options) the collector is off: that
    makes tens of thousands of lasting objects and next to no cyclic garbage, and walking
    them costs about 10 ms; `Command` freezes them too and turns the collector back on.  Both
    are undone on the way out, so a caller that runs `main` many times (the tests) frees what
    it leaves."""
    enabled = gc.isenabled()
    gc.disable()
    gc.freeze()
    try:
        _main(argv, env)
    finally:
        gc.unfreeze()
        if enabled:
            gc.enable()
        else:
            gc.disable()  # as the caller had it (a command turns it on)


def run() -> NoReturn:
    """The console command (`cutover`, `python -m cutover`): `main`, then a quick exit.

    The interpreter's own exit tears every object down one by one, about 0.1 s after a
    commune-scale `check`, for a process that is about to end anyway.  Once `main` has
    finished, the exit handlers run (they close the stores: see their finalizers, and stop
    logging), the streams are flushed and the process ends; only the teardown is skipped.
    Whatever the normal exit would still do differently takes the normal exit: another
    thread that is still working (the interpreter waits for it), a status that is not a small
    number.  A standard output that cannot be flushed is reported in one line, as `main`
    reports it, and ends the process with exit 2 (never a traceback)."""
    try:
        main()
    except SystemExit as exc:
        status = exc.code
    else:
        status = 0
    if status is None:
        status = 0
    if not isinstance(status, int) or not 0 <= status <= 255 or _threads_working():
        sys.exit(status)
    atexit._run_exitfuncs()  # run once: the normal exit below would not run them again
    # sys.stdout may be a progress bar's proxy, or None when started with it closed.
    for stream in (sys.stdout, sys.__stdout__):
        if not _flushed(stream):
            status = ExitCode.INVALID_INPUT
    for stream in (sys.stderr, sys.__stderr__):
        _flushed(stream, report=False)
    os._exit(status)


def _flushed(stream: Any, *, report: bool = True) -> bool:
    """Flush one standard stream at the quick exit.  One that refuses (a full disk, a closed
    pipe) is pointed at /dev/null, so nothing still buffered can fail again; a refused
    standard output is reported in one line on stderr, as `main` reports it."""
    if stream is None:
        return True
    try:
        stream.flush()
    except (OSError, ValueError) as exc:
        with contextlib.suppress(Exception):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            stream.flush()
        if not isinstance(exc, OSError) or isinstance(exc, BrokenPipeError) or not report:
            return True
        with contextlib.suppress(Exception):
            stderr_line(sys.stderr, f"error: {output_error(exc)}")
            sys.stderr.flush()
        return False
    return True


def _threads_working() -> bool:
    main_thread = threading.main_thread()
    return any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not main_thread)


def stderr_line(stream: Any, line: str) -> None:
    """Every line cutover writes on stderr: `cutover: ` and the line, made inert here, once
    (`terminal`).  Messages quote text from outside (a bundle's site, a file's name, a server's
    answer, an exception's text), and no escape sequence or line break in it may reach the
    terminal or forge another line of a log."""
    from cutover.render.text import terminal

    stream.write(f"cutover: {terminal(line)}\n")


# The collector's first threshold while a command probes (Python's default is 700).  The
# results waiting for the store's writer (or, without a store, for the matrix) survive every
# young collection, and at 700 the older generations holding them are walked again and
# again: at 6,642 probes with a store, a run's collections took 50-61 ms, and 27-42 ms with
# this (gc.callbacks, 4 runs each; see README).  Cyclic garbage is rare while probing (the
# closed connections' transports, about 320 objects in a run).
PROBING_THRESHOLD = 10_000


@contextlib.contextmanager
def collector_for_probing() -> Iterator[None]:
    """While a command probes: what was built before is frozen, so the collector's walks
    skip it, the collector is on (a `ProbingCommand` starts with it off), and young
    collections come less often (`PROBING_THRESHOLD`)."""
    gc.freeze()
    thresholds = gc.get_threshold()
    if thresholds[0]:  # 0: the caller turned automatic collection off, and so it stays
        gc.set_threshold(max(thresholds[0], PROBING_THRESHOLD), *thresholds[1:])
    gc.enable()
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """While a command reads a matrix from the store: the cyclic collector off.  A read
    builds an object or more per unit (rows, evidence, cells) and no reference cycles
    (tests/test_cli_habits.py), so every walk over them finds nothing: at 6,642 units they
    took about 10 ms of `check`, at 49,815 about 200 ms, and peak memory is the same either
    way.  Reference counting still frees everything as usual."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _main(argv: Sequence[str] | None, env: Environment | None) -> None:
    from dataclasses import replace

    env = env or Environment.from_process()
    args = list(env.argv if argv is None else argv)
    env = replace(env, argv=tuple(args))

    def say(line: str) -> None:
        stderr_line(env.stderr, line)

    try:
        _refuse_undecodable(args)
        # Without standalone mode the parser returns `typer.Exit` codes instead of exiting.
        code = _parser_for(args)(args=args, prog_name="cutover", standalone_mode=False, obj=env)
        with writing():
            env.stdout.flush()  # a reader that has gone, or a full disk, shows here
        sys.exit(code if isinstance(code, int) else 0)
    except (ClosedPipe, BrokenPipeError):
        _quiet_stdout(env)
        sys.exit(ExitCode.OK)
    except CutoverError as exc:
        if isinstance(exc, OutputError):
            _quiet_stdout(env)  # what is still buffered must not fail again at exit
        hint = f" (see '{command_path(args)} -h')" if isinstance(exc, OptionError) else ""
        for line in exc.lines():
            say(f"error: {line}{hint}")
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
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            sys.exit(usage_error(exc, env))
        if isinstance(exc, OSError) and (failed := _output_failure(exc, env)) is not None:
            # Written by the parser itself (`--help > /dev/full`), not through `Output`.
            _quiet_stdout(env)
            say(f"error: {output_error(failed)}")
            sys.exit(OutputError.exit_code)
        sys.exit(internal_error(exc, env))


def _parser_for(args: Sequence[str]) -> typer.Typer:
    """`app`, reduced to the one command (or group) the arguments name.  Typer builds the
    parser of every registered command, type hints and all, before it dispatches (about 25 ms
    for the whole tree); a command named first needs only its own.  Anything else (no
    command, a root option first, an unknown name that deserves "did you mean", completion)
    gets the whole tree, so help, errors and completion stay the same."""
    import copy

    name = args[0] if args else ""
    commands = [c for c in app.registered_commands if _command_name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    chosen = copy.copy(app)
    chosen.registered_commands = commands
    chosen.registered_groups = groups
    return chosen


def _command_name(info: typer.models.CommandInfo) -> str | None:
    if info.name:
        return info.name
    callback = info.callback
    return callback.__name__.lower().replace("_", "-") if callback is not None else None


def usage_error(exc: Exception, env: Environment) -> int:
    """The parser's complaint in one line, with where to find help (`cutover` alone prints
    the help, as the parser does)."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        exc.show()  # type: ignore[attr-defined]
        return ExitCode.INVALID_INPUT
    message = " ".join(str(exc.format_message()).split())  # type: ignore[attr-defined]
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else command_path(list(env.argv))
    stderr_line(env.stderr, f"error: {message} (see '{path} -h')")
    return ExitCode.INVALID_INPUT


def command_path(args: list[str]) -> str:
    """`cutover sim serve` from the command line's leading command names."""
    command = typer.main.get_command(app)
    words = ["cutover"]
    for arg in args:
        sub = getattr(command, "commands", {}).get(arg)
        if sub is None:
            break
        words.append(arg)
        command = sub
    return " ".join(words)


def _output_failure(exc: OSError, env: Environment) -> OSError | None:
    """`exc` if the parser met it printing (help, completion: its `echo`), else why standard
    output cannot take what is still buffered for it, else None (another failure: a bug)."""
    import traceback

    if any(frame.name == "echo" for frame in traceback.extract_tb(exc.__traceback__)):
        return exc
    try:
        env.stdout.flush()
    except OSError as failed:
        return failed
    except ValueError:  # closed
        pass
    return None


def _quiet_stdout(env: Environment) -> None:
    """Point standard output at /dev/null, so the interpreter's last flush of what is still
    buffered cannot fail again (the recipe of Python's `signal` documentation)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, env.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests): nothing to flush
        pass


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
    stderr_line(env.stderr, f"internal error: {type(exc).__name__}: {exc}{note}")
    return ExitCode.UNAVAILABLE
