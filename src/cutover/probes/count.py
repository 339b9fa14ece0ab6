"""`count`: a JSON list's length (or a number) compared with an expected value."""

from __future__ import annotations

from typing import Literal

from cutover.geo import Url
from cutover.probes.base import Outcome, ProbeContext, Undecided
from cutover.probes.conditions import compare, lookup
from cutover.probes.fetch import fetch
from cutover.probes.web import WebProbe


class CountSpec(WebProbe):
    kind: Literal["count"]
    url: Url
    path: str = "$"
    expected: int | str  # a number or a template such as "{province.unit_count}"
    op: Literal["==", ">=", "<=", ">", "<", "!="] = "=="
    noun: str = "items"

    def summary(self) -> str:
        return f"count {self.url}"

    def own_url(self) -> str:
        return self.url

    async def run(self, ctx: ProbeContext) -> Outcome:
        resp = await fetch(ctx, self.url, self.request())
        if resp.status != 200:
            return Outcome.fail(f"{self.url}: expected status 200, got {resp.status}")
        try:
            value = lookup(resp.json(), self.path)
        except KeyError:
            raise Undecided(f"{self.url}: JSON path {self.path} missing") from None
        if isinstance(value, (list, dict)):
            actual = len(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            actual = value
        else:
            raise Undecided(
                f"{self.url}: {self.path} is {type(value).__name__}, not a list or number"
            )
        try:
            expected = int(self.expected)
        except ValueError:
            raise Undecided(f"expected value {self.expected!r} is not a number") from None
        if compare(actual, self.op, expected):
            return Outcome.ok(actual)
        want = "" if self.op == "==" else f"{self.op} "
        return Outcome.fail(f"{self.noun}: {actual}, expected {want}{expected}", actual)
