"""`http`: one request, checked against the condition vocabulary."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cutover.geo import Url
from cutover.probes.base import Outcome, ProbeContext
from cutover.probes.conditions import Expect
from cutover.probes.fetch import fetch
from cutover.probes.web import WebProbe


class HttpSpec(WebProbe):
    kind: Literal["http"]
    url: Url
    method: Literal["GET", "HEAD", "POST"] = "GET"
    expect: Expect = Field(default_factory=Expect)

    def summary(self) -> str:
        return f"{self.method} {self.url}"

    def own_url(self) -> str:
        return self.url

    async def run(self, ctx: ProbeContext) -> Outcome:
        resp = await fetch(
            ctx, self.url, self.request(), method=self.method, accept=self.expect.statuses
        )
        return self.expect.evaluate(resp)
