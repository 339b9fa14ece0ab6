"""`command`: a local command exits 0.  Runs only when the context allows commands.

The argv is executed directly, never through a shell, so a value substituted into one argument
stays one argument.  The command runs in its own process group: on timeout (or Ctrl-C) the
whole group is killed, including anything it started.  Only the last 64 KiB of stderr is kept.

The outcome is decided when the command itself exits, not when its stderr closes: a child left
running in the background (`sleep 300 &`) would keep the pipe open.  What is already in the
pipe is read for at most DRAIN_SECONDS, then the group is killed and the pipe closed.

The command sees cutover's whole environment, and the last line of its stderr becomes the
reason (stored, shown, sent in webhooks); only secret values the run resolved are masked.
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
# Once the command has exited, how long to keep reading what is left in its stderr: enough
# for what it wrote just before exiting, not for a child that still holds the pipe open.
DRAIN_SECONDS = 0.2
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
        import subprocess

        if not ctx.allow_commands:
            raise Undecided(REFUSED)

        loop = asyncio.get_running_loop()
        watch = _Watch(loop)
        try:
            transport, _ = await loop.subprocess_exec(
                watch.protocol,
                *self.argv,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own process group, killed as one
            )
        except OSError as exc:
            raise Undecided(f"cannot run {self.argv[0]}: {exc.strerror or exc}") from None
        try:
            # the command itself, not whatever still holds its stderr; shielded, as a timeout
            # would otherwise cancel the future that _kill_group waits on to reap the command
            await asyncio.shield(watch.exited)
            await asyncio.wait({watch.closed}, timeout=DRAIN_SECONDS)
        finally:
            await _kill_group(transport, watch)
        returncode = transport.get_returncode()
        stderr = bytes(watch.stderr)
        if returncode == 0:
            return Outcome.ok(0)
        lines = stderr.decode(errors="replace").strip().splitlines()
        last = f": {lines[-1][:200]}" if lines else ""
        return Outcome.fail(f"{self.argv[0]} exited {returncode}{last}", returncode)


class _Watch:
    """Keeps the last OUTPUT_CAP bytes of stderr (the command never blocks on a full pipe, and
    an endless writer costs bounded memory until the timeout ends it) and tells the command's
    exit apart from the end of its output."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.stderr = bytearray()
        self.exited: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def protocol(self) -> asyncio.SubprocessProtocol:
        import asyncio  # here, not at import time: `validate` never loads asyncio

        watch = self

        class Protocol(asyncio.SubprocessProtocol):
            def pipe_data_received(self, fd: int, data: bytes | str) -> None:
                watch.stderr += data.encode() if isinstance(data, str) else data
                del watch.stderr[:-OUTPUT_CAP]

            def process_exited(self) -> None:
                _settle(watch.exited)

            def connection_lost(self, exc: Exception | None) -> None:
                _settle(watch.closed)

        return Protocol()


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


async def _kill_group(transport: asyncio.SubprocessTransport, watch: _Watch) -> None:
    """Kill whatever is left of the command's process group (children it left behind, or all
    of it when the probe was cancelled by its timeout), reap the command and close its pipe."""
    import asyncio
    import contextlib
    import signal

    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(transport.get_pid(), signal.SIGKILL)
    try:
        await asyncio.shield(watch.exited)
    finally:
        transport.close()
