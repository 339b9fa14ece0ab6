"""`command`: a local command exits 0.  Runs only when the context allows commands.

The argv is executed directly, never through a shell, so a value substituted into one argument
stays one argument.  The command runs in its own process group: on timeout (or Ctrl-C) the
whole group is killed, including anything it started.  Only the last 64 KiB of stderr is kept.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from pydantic import Field, field_validator

from cutover import templates
from cutover.probes.base import Outcome, ProbeContext, ProbeSpec, Undecided

if TYPE_CHECKING:
    import asyncio

OUTPUT_CAP = 64 * 1024
_SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "ash", "fish"}

# What it takes, as `check` decides it: both the option and a file named by path (a checklist
# found by name in ./checklists or in the package never runs commands).
REFUSED = (
    "command probes run only with --allow-commands and a checklist given by path (--checklist FILE)"
)


class CommandSpec(ProbeSpec):
    kind: Literal["command"]
    argv: list[str] = Field(min_length=1)

    @field_validator("argv")
    @classmethod
    def _no_placeholder_in_script(cls, argv: list[str]) -> list[str]:
        """`sh -c "curl {endpoint.x}"` would hand an outside value to the shell to parse."""
        if os.path.basename(argv[0]) in _SHELLS and "-c" in argv:
            script = argv[argv.index("-c") + 1 : argv.index("-c") + 2]
            if script and templates.placeholders(script[0]):
                raise ValueError(
                    "a placeholder inside a shell script would be parsed by the shell; "
                    'pass it as a separate argument and use "$1" in the script'
                )
        return argv

    def summary(self) -> str:
        return "command " + " ".join(self.argv)

    async def run(self, ctx: ProbeContext) -> Outcome:
        import asyncio

        if not ctx.allow_commands:
            raise Undecided(REFUSED)
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed as one
            )
        except OSError as exc:
            raise Undecided(f"cannot run {self.argv[0]}: {exc.strerror or exc}") from None
        try:
            stderr = await _tail(proc.stderr)
            await proc.wait()
        finally:
            await _kill_group(proc)
        if proc.returncode == 0:
            return Outcome.ok(0)
        lines = stderr.decode(errors="replace").strip().splitlines()
        last = f": {lines[-1][:200]}" if lines else ""
        return Outcome.fail(f"{self.argv[0]} exited {proc.returncode}{last}", proc.returncode)


async def _tail(stream: asyncio.StreamReader | None) -> bytes:
    """Read to the end, keeping the last OUTPUT_CAP bytes: the command never blocks on a full
    pipe, and an endless writer costs bounded memory until the timeout ends it."""
    kept = b""
    while stream is not None and (chunk := await stream.read(OUTPUT_CAP)):
        kept = (kept + chunk)[-OUTPUT_CAP:]
    return kept


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    """Kill whatever is left of the command's process group (children it left behind, or all
    of it when the probe was cancelled by its timeout) and reap the command."""
    import contextlib
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()
