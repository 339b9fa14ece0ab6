"""`redirect`: follow the chain by hand and check where it ends (e.g. portal closure).

Closed means: the chain ends at a URL matching `final_url`, or (when `notice` is given) the
final page matches `notice` and has no element matching `forbid` (by default a form).
"""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urljoin

from pydantic import Field, field_validator

from cutover.geo import Url
from cutover.probes.base import Outcome, ProbeContext, ProbeSpec, Undecided
from cutover.probes.conditions import check_regex
from cutover.probes.fetch import Response, fetch


class RedirectSpec(ProbeSpec):
    kind: Literal["redirect"]
    url: Url
    final_url: str
    notice: str | None = None
    forbid: str = r"<form\b"
    max_redirects: int | None = Field(default=None, ge=0, le=50)

    _regex = field_validator("final_url", "notice", "forbid")(check_regex)

    def summary(self) -> str:
        return f"redirect {self.url} -> /{self.final_url}/"

    async def run(self, ctx: ProbeContext) -> Outcome:
        resp, hops = await self._follow(ctx)
        if re.search(self.final_url, resp.url):
            return Outcome.ok(resp.url)
        if self.notice and resp.status == 200:
            text = resp.text()
            if re.search(self.notice, text) and not re.search(self.forbid, text, re.IGNORECASE):
                return Outcome.ok(f"notice page at {resp.url}")
        how = f"after {hops} redirect{'s' * (hops != 1)}" if hops else "without a redirect"
        return Outcome.fail(
            f"final URL {resp.url} ({resp.status}, {how}) does not match {self.final_url}",
            resp.url,
        )

    async def _follow(self, ctx: ProbeContext) -> tuple[Response, int]:
        limit = self.max_redirects if self.max_redirects is not None else ctx.limits.max_redirects
        url, seen = self.url, [self.url]
        for hops in range(limit + 1):
            resp = await fetch(ctx, url, insecure=self.insecure)
            if resp.status not in (301, 302, 303, 307, 308) or not resp.location:
                return resp, hops
            url = urljoin(url, resp.location)
            if not url.startswith(("http://", "https://")):
                raise Undecided(f"redirect to non-HTTP location {url}")
            if url in seen:
                raise Undecided(f"redirect loop: {' -> '.join([*seen[seen.index(url) :], url])}")
            seen.append(url)
        raise Undecided(f"more than {limit} redirects from {self.url}")
