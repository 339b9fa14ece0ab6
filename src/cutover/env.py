"""The environment a command runs in, made once in `cli.main` and passed down: the clock,
environment variables, streams, terminal facts and working directory.  Nothing else reads
`datetime.now()` or `os.environ`; tests build one with a fixed clock."""

from __future__ import annotations

import getpass
import os
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _or_nowhere(stream: TextIO | None) -> TextIO:
    """A standard stream, or /dev/null when the process started with it closed (Python then
    has None): what would be printed reaches no one, as with a reader that has gone."""
    return stream if stream is not None else open(os.devnull, "w", encoding="utf-8")


@dataclass(frozen=True)
class Environment:
    """The process's surroundings, made once in `main()`: clock, environment variables, streams,
    working directory and identity.  Tests pass fixed ones."""

    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    monotonic: Callable[[], float] = time.monotonic
    environ: Mapping[str, str] = field(default_factory=dict)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    cwd: Path = field(default_factory=Path.cwd)
    user: str = "unknown"
    host: str = "localhost"
    argv: tuple[str, ...] = ()  # the command line after the program name

    @classmethod
    def from_process(cls) -> Environment:
        return cls(
            environ=dict(os.environ),
            stdout=_or_nowhere(sys.stdout),
            stderr=_or_nowhere(sys.stderr),
            cwd=Path.cwd(),
            user=_user(),
            host=socket.gethostname(),
            argv=tuple(sys.argv[1:]),
        )

    def now(self) -> datetime:
        return self.clock()

    @property
    def color(self) -> bool:
        """Colour on a terminal unless NO_COLOR is set (https://no-color.org)."""
        return self.stdout.isatty() and "NO_COLOR" not in self.environ

    @property
    def columns(self) -> int:
        """The width to lay text out in: `COLUMNS` when set, else the terminal's width on a
        terminal, else 80 (a pipe or file)."""
        value = self.environ.get("COLUMNS", "")
        if value.isdigit() and int(value) > 0:
            return int(value)
        if self.stdout.isatty():
            try:
                return os.get_terminal_size(self.stdout.fileno()).columns or 80
            except (OSError, ValueError):
                return 80
        return 80

    @property
    def interactive_stderr(self) -> bool:
        return self.stderr.isatty()

    def get(self, name: str) -> str | None:
        value = self.environ.get(name)
        return value if value else None

    def path(self, name: str) -> Path | None:
        value = self.get(name)
        return Path(value) if value else None

    def anchored(self, path: Path) -> Path:
        """A path the user gave, as they meant it: a relative one is in `cwd`."""
        return anchored(path, self.cwd)

    @property
    def site(self) -> str:
        """Which province or office produces this store's runs (CUTOVER_SITE; default the
        host name), kept on every run so imported rows keep their origin.  Refused (a usage
        error) when it is not a site name (`site_problem`): it is written on every run,
        attestation and waiver, exported in bundles and shown at the centre."""
        given = self.get("CUTOVER_SITE")
        if given is None:
            return self.host
        problem = site_problem(given)
        if problem is not None:
            from cutover.errors import UsageError

            shown = (
                repr(given) if len(given) <= 80 else f"{given[:40]!r}… ({len(given)} characters)"
            )
            raise UsageError(f"CUTOVER_SITE {shown}: {problem}")
        return given


SITE_RULE = "printable text: no control character, escape sequence or line break"
SITE_MAX = 256


def site_problem(site: str) -> str | None:
    """What is wrong with a site name (CUTOVER_SITE, a bundle's sites), or None.  A site names
    a stream of bundles and is shown in every import and verify line at the centre, so it
    must be printable text: an escape sequence in it would reach the centre's terminal."""
    if not site.isprintable():
        return f"a site name must be {SITE_RULE}"
    if len(site) > SITE_MAX:
        return f"a site name must be at most {SITE_MAX} characters"
    return None


def anchored(path: Path, cwd: Path | None) -> Path:
    """`path` in the command's working directory (`Environment.cwd`) when it is relative; a
    caller with no `Environment` passes None, and the process's directory is meant."""
    return path if cwd is None else cwd / path


# cutover's own directories under the XDG base directories, found in the command's
# environment: platformdirs reads the process's, which a test or a library caller may not
# have set.  The defaults are the specification's, under HOME, where platformdirs puts them
# on Linux; on macOS platformdirs takes the variable too, else Application Support for both.
XDG_DEFAULTS = {"XDG_DATA_HOME": ".local/share", "XDG_STATE_HOME": ".local/state"}
MACOS_DEFAULT = "Library/Application Support"


def home_dir(environ: Mapping[str, str]) -> Path | None:
    """HOME when it is absolute, else the user's entry in the password database (as
    platformdirs and `os.path.expanduser` do); None when neither gives an absolute path."""
    home = environ.get("HOME", "")
    if not os.path.isabs(home):
        try:
            import pwd

            home = pwd.getpwuid(os.getuid()).pw_dir
        except (ImportError, KeyError):
            return None
    return Path(home) if os.path.isabs(home) else None


def user_dir(environ: Mapping[str, str], variable: str) -> Path | None:
    """cutover's directory under the XDG base directory `variable` (`XDG_DATA_HOME`,
    `XDG_STATE_HOME`) of `environ`: the variable when it is an absolute path (the
    specification ignores a relative one), else its default under HOME; None when there is no
    home to put it in.  Windows has no XDG directories: there it is platformdirs's."""
    if sys.platform == "win32":
        import platformdirs

        dirs = platformdirs.PlatformDirs("cutover", appauthor=False)
        return Path(dirs.user_state_dir if variable == "XDG_STATE_HOME" else dirs.user_data_dir)
    given = environ.get(variable, "")
    if os.path.isabs(given):
        return Path(given) / "cutover"
    home = home_dir(environ)
    if home is None:
        return None
    default = MACOS_DEFAULT if sys.platform == "darwin" else XDG_DEFAULTS[variable]
    return home / default / "cutover"


def fixed_clock(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment
