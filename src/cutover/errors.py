"""One exception root and the exit codes.

    CutoverError                 exit_code
    ├── UsageError               2  invalid input or usage (unknown province, bad option value)
    │   ├── OptionError          2  a bad option value or combination (names the command's help)
    │   ├── OutputError          2  the output cannot be written (a full disk, a closed device)
    │   └── ConfigError          2  problems in a file, each with file:line:col and key path
    ├── StoreError               3  store unavailable, locked, corrupt, full disk, newer schema
    └── EvaluationError          3  nothing could be evaluated

`cli.main` is the one place that turns these into a message and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # every selected cell done (or waived)
    NOT_DONE = 1  # something is not done, or a readiness gate is not met
    INVALID_INPUT = 2  # invalid input or usage
    UNAVAILABLE = 3  # could not evaluate: store unavailable, every probe unknown
    INTERRUPTED = 130  # Ctrl-C / SIGINT


class CutoverError(Exception):
    exit_code: ExitCode = ExitCode.INVALID_INPUT

    def lines(self) -> list[str]:
        return [str(self)]


class UsageError(CutoverError):
    exit_code = ExitCode.INVALID_INPUT


class OptionError(UsageError):
    """A bad option value, or options that do not go together: like the option parser's own
    errors, `cli.main` adds where the command's help is."""


class OutputError(UsageError):
    """Standard output cannot be written (`> /dev/full`, a full disk): the same exit code as
    a `--format FORMAT:PATH` file that cannot be written."""


def path_shown(path: object) -> str:
    """A file path as an error line shows it: a path with a newline or an escape sequence in
    it must not break the one-line form, so such a path is shown escaped."""
    text = str(path)
    return text if text.isprintable() else repr(text)[1:-1]


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file, located as precisely as we can."""

    file: str
    message: str
    line: int | None = None
    column: int | None = None
    key_path: str = ""
    warning: bool = False

    def __str__(self) -> str:
        where = path_shown(self.file)
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        key = f" {self.key_path}:" if self.key_path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(UsageError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


class StoreError(CutoverError):
    exit_code = ExitCode.UNAVAILABLE


class EvaluationError(CutoverError):
    exit_code = ExitCode.UNAVAILABLE
