"""`http`: one request, checked against the condition vocabulary."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cutover.geo import Url
from cutover.probes.base import Outcome, ProbeContext, ProbeSpec
from cutover.probes.conditions import Expect
from cutover.probes.fetch import fetch


class HttpSpec(ProbeSpec):
    kind: Literal["http"]
    url: Url
    method: Literal["GET", "HEAD", "POST"] = "GET"
    headers: dict[str, str] = {}
    expect: Expect = Field(default_factory=Expect)

    def summary(self) -> str:
        return f"{self.method} {self.url}"

    async def run(self, ctx: ProbeContext) -> Outcome:
        resp = await fetch(
            ctx, self.url, method=self.method, headers=self.headers, insecure=self.insecure
        )
        return self.expect.evaluate(resp)
