"""`redirect`: follow the chain by hand and check where it ends (e.g. portal closure).

Closed means: the chain ends at a URL matching `final_url`, or (when `notice` is given) the
final page matches `notice` and has no element matching `forbid` (by default a form).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field

from cutover.geo import Url
from cutover.probes.base import Outcome, ProbeContext, Undecided
from cutover.probes.conditions import Regex
from cutover.probes.fetch import REDIRECTS, ChainCookies, Response, fetch
from cutover.probes.urls import absolute
from cutover.probes.web import WebProbe


class RedirectSpec(WebProbe):
    kind: Literal["redirect"]
    url: Url
    final_url: Regex
    notice: Regex | None = None
    forbid: Regex = r"<form\b"
    max_redirects: int | None = Field(default=None, ge=0, le=50)

    def summary(self) -> str:
        return f"redirect {self.url} -> /{self.final_url}/"

    def own_url(self) -> str:
        return self.url

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
        request, follow = self.request(), self.follow(ctx)
        # The chain is one client's: a cookie a host set is sent on the next hop to that host
        # (a portal that checks for its cookie before redirecting), and no other probe sees it.
        cookies = ChainCookies()
        url, seen = self.url, [self.url]
        for hops in range(limit + 1):
            resp = await fetch(ctx, url, request, cookies=cookies)
            if resp.status not in REDIRECTS or not resp.location:
                return resp, hops
            url = absolute(url, resp.location, "redirect to")
            if url in seen:
                raise Undecided(f"redirect loop: {' -> '.join([*seen[seen.index(url) :], url])}")
            await follow.check(url, "redirect to")
            seen.append(url)
        raise Undecided(f"more than {limit} redirects from {self.url}")
