"""`manual`: a person attests with evidence (`cutover mark`); nothing runs over the network."""

from __future__ import annotations

from typing import Literal

from cutover.probes.base import Outcome, ProbeContext, ProbeSpec


class ManualSpec(ProbeSpec):
    kind: Literal["manual"]
    evidence: Literal["url", "file", "any"] = "any"
    instructions: str | None = None

    @property
    def manual(self) -> bool:
        return True

    def summary(self) -> str:
        return "manual attestation"

    async def run(self, ctx: ProbeContext) -> Outcome:
        return Outcome.unknown("no attestation")
