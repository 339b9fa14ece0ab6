"""What every probe kind shares: the outcome, the context it runs in, and its spec base class."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from cutover.models import Strict
from cutover.records import quick_init

if TYPE_CHECKING:
    import aiohttp

OutcomeStatus = Literal["pass", "fail", "unknown"]


@quick_init
@dataclass(frozen=True, slots=True)
class Outcome:
    """What a probe decided: pass, fail or unknown, why, what it saw, and how long it took."""

    status: OutcomeStatus
    reason: str = ""
    observed: str | None = None
    duration_ms: float = 0.0

    @classmethod
    def ok(cls, observed: Any = None) -> Outcome:
        return cls("pass", "", None if observed is None else str(observed))

    @classmethod
    def fail(cls, reason: str, observed: Any = None) -> Outcome:
        return cls("fail", reason, None if observed is None else str(observed))

    @classmethod
    def unknown(cls, reason: str) -> Outcome:
        return cls("unknown", reason)


class Undecided(Exception):
    """Raised inside a probe when the answer cannot be known (network, timeout, bad body)."""


class Failed(Exception):
    """Raised deep inside a probe when a verified fact already decides it (a bad certificate)."""


@dataclass(frozen=True)
class Limits:
    """Keyword-only knobs of the engine, one object so they travel together."""

    jobs: int = 64
    per_host: int = 16
    timeout: float = 10.0
    retries: int = 2
    backoff: float = 0.2
    max_body: int = 2 * 1024 * 1024
    max_redirects: int = 10
    # A probe stops counting against its host's `per_host` limit after this long without
    # finishing (default: a tenth of the timeout), so a hanging path neither starves the
    # host's healthy paths nor costs a timeout per queued batch.  `jobs` still bounds them all.
    host_grace: float | None = None

    @property
    def grace(self) -> float:
        return self.timeout / 10 if self.host_grace is None else self.host_grace


Resolve = Callable[[str], Awaitable[list[str]]]


async def resolve_host(host: str) -> list[str]:
    """The addresses a host name resolves to (empty when it does not resolve)."""
    import socket

    from cutover.probes.lookup import getaddrinfo

    try:
        infos = await getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []
    return sorted({str(info[4][0]) for info in infos})


@dataclass
class ProbeContext:
    """What every probe of a run shares: the HTTP session, the limits, and the template values."""

    session: aiohttp.ClientSession | None
    limits: Limits
    allow_commands: bool = True
    values: dict[str, str | None] = field(default_factory=dict)
    resolve: Resolve = resolve_host  # how followed URLs' hosts are classified (tests replace it)


class ProbeSpec(Strict):
    """Base of each kind's spec. `insecure` turns TLS verification off and is always reported."""

    kind: str
    insecure: bool = False

    @property
    def manual(self) -> bool:
        return False

    def summary(self) -> str:
        return self.kind

    def host_key(self) -> str | None:
        """The host the engine's per-host limit counts this probe against (None: no host)."""
        return None

    def derived_credentials(self) -> list[str]:
        """What the probe sends made from its fields rather than as written (a Basic
        credential): when those fields hold secrets, it is masked like them."""
        return []

    async def run(self, ctx: ProbeContext) -> Outcome:
        raise NotImplementedError


async def timed(spec: ProbeSpec, ctx: ProbeContext) -> Outcome:
    """Runs a probe: `Undecided` becomes unknown and `Failed` failing, with the time it took."""
    start = time.perf_counter()
    try:
        outcome = await spec.run(ctx)
    except Undecided as exc:
        outcome = Outcome.unknown(str(exc))
    except Failed as exc:
        outcome = Outcome.fail(str(exc))
    ms = (time.perf_counter() - start) * 1000
    return Outcome(outcome.status, outcome.reason, outcome.observed, round(ms, 1))
