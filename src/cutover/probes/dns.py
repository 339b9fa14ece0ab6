"""`dns`: a name resolves (optionally to expected addresses)."""

from __future__ import annotations

from typing import Literal

from cutover.probes.base import Outcome, ProbeContext, ProbeSpec, Undecided


class DnsSpec(ProbeSpec):
    kind: Literal["dns"]
    name: str
    addresses: list[str] = []  # each must be among the answers

    def summary(self) -> str:
        return f"dns {self.name}"

    async def run(self, ctx: ProbeContext) -> Outcome:
        import socket

        from cutover.probes.lookup import getaddrinfo

        try:
            infos = await getaddrinfo(self.name, None, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            if exc.errno in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
                return Outcome.fail(f"{self.name} does not resolve ({exc.strerror})")
            raise Undecided(f"DNS lookup of {self.name} failed ({exc.strerror})") from None
        found = sorted({str(info[4][0]) for info in infos})
        missing = [a for a in self.addresses if a not in found]
        if missing:
            return Outcome.fail(f"expected {', '.join(missing)} among {', '.join(found)}", found)
        return Outcome.ok(", ".join(found))
