"""`tcp`: a TCP connection to host:port opens."""

from __future__ import annotations

import contextlib
from typing import Literal

from pydantic import Field

from cutover.probes.base import Outcome, ProbeContext, ProbeSpec, Undecided


class TcpSpec(ProbeSpec):
    kind: Literal["tcp"]
    host: str
    port: int = Field(ge=1, le=65535)

    def summary(self) -> str:
        return f"tcp {self.host}:{self.port}"

    def host_key(self) -> str | None:
        return self.host

    async def run(self, ctx: ProbeContext) -> Outcome:
        import asyncio

        from cutover.probes.lookup import connect

        try:
            _, writer = await asyncio.open_connection(sock=await connect(self.host, self.port))
        except ConnectionRefusedError:
            return Outcome.fail(f"connection to {self.host}:{self.port} refused")
        except OSError as exc:
            raise Undecided(
                f"cannot reach {self.host}:{self.port} ({exc.strerror or exc})"
            ) from None
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return Outcome.ok(f"{self.host}:{self.port}")
