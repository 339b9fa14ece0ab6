"""`codes`: a published list of identification codes: format, duplicates, missing entries.

Agency electronic identification codes (Decision 20/2020/QĐ-TTg): up to 35 characters,
dot-separated groups, e.g. 000.00.00.H24.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Literal

from cutover.geo import Url
from cutover.probes.base import Outcome, ProbeContext, Undecided
from cutover.probes.conditions import Regex, lookup
from cutover.probes.fetch import fetch
from cutover.probes.web import WebProbe

# Matched against the whole code (re.fullmatch): a trailing newline or space is malformed.
EID_PATTERN = r"(?=.{1,35}\Z)[0-9A-Z]+(\.[0-9A-Z]+)+"


def _sample(items: list[str], n: int = 3) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more


class CodesSpec(WebProbe):
    kind: Literal["codes"]
    url: Url
    path: str = "$"
    field: str | None = None  # when the list holds objects: the key with the code
    pattern: Regex = EID_PATTERN
    expected_count: int | str | None = None
    required: list[str] = []

    def summary(self) -> str:
        return f"codes {self.url}"

    def own_url(self) -> str:
        return self.url

    async def run(self, ctx: ProbeContext) -> Outcome:
        resp = await fetch(ctx, self.url, self.request())
        if resp.status != 200:
            return Outcome.fail(f"{self.url}: expected status 200, got {resp.status}")
        codes = self._codes(resp.json())
        expected = self._expected_count()
        problems = []
        bad = [c for c in codes if not re.fullmatch(self.pattern, c)]
        if bad:
            problems.append(f"{len(bad)} code{'s' * (len(bad) > 1)} malformed: {_sample(bad)}")
        dupes = sorted(c for c, n in Counter(codes).items() if n > 1)
        if dupes:
            problems.append(f"{len(dupes)} duplicated: {_sample(dupes)}")
        missing = [c for c in self.required if c not in set(codes)]
        if missing:
            problems.append(f"missing {_sample(missing)}")
        distinct = len(set(codes) - set(bad))
        if expected is not None and distinct < expected:
            problems.append(f"{distinct} valid codes published, expected {expected}")
        if problems:
            return Outcome.fail("; ".join(problems), distinct)
        return Outcome.ok(distinct)

    def _expected_count(self) -> int | None:
        if self.expected_count is None:
            return None
        try:
            return int(self.expected_count)
        except ValueError:
            raise Undecided(f"expected_count {self.expected_count!r} is not a number") from None

    def _codes(self, document: object) -> list[str]:
        try:
            items = lookup(document, self.path)
        except KeyError:
            raise Undecided(f"{self.url}: JSON path {self.path} missing") from None
        if not isinstance(items, list):
            raise Undecided(f"{self.url}: {self.path} is not a list")
        if self.field is None:
            return [str(i) for i in items]
        try:
            return [str(i[self.field]) for i in items]
        except (KeyError, TypeError):
            raise Undecided(f"{self.url}: an entry has no {self.field!r}") from None
