"""`command`: a local command exits 0.  Runs only from local checklist files."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cutover.probes.base import Outcome, ProbeContext, ProbeSpec, Undecided


class CommandSpec(ProbeSpec):
    kind: Literal["command"]
    argv: list[str] = Field(min_length=1)

    def summary(self) -> str:
        return "command " + " ".join(self.argv)

    async def run(self, ctx: ProbeContext) -> Outcome:
        import asyncio

        if not ctx.allow_commands:
            raise Undecided("command probes run only from local checklist files")
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.argv,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                stdin=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            raise Undecided(f"cannot run {self.argv[0]}: {exc.strerror or exc}") from None
        try:
            _, stderr = await proc.communicate()
        except asyncio.CancelledError:
            proc.kill()
            raise
        if proc.returncode == 0:
            return Outcome.ok(0)
        lines = stderr.decode(errors="replace").strip().splitlines()
        last = f": {lines[-1][:200]}" if lines else ""
        return Outcome.fail(f"{self.argv[0]} exited {proc.returncode}{last}", proc.returncode)
