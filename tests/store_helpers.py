"""Writing runs straight through the store contract, for tests on any backend."""

from __future__ import annotations

from datetime import datetime, timedelta

from cutover.engine import Result
from cutover.probes import Outcome
from cutover.store.base import RunRecord, RunStart, Store

UnitOutcomes = dict[tuple[str, str, str], str]


def record_run(
    store: Store,
    at: datetime,
    outcomes: UnitOutcomes,
    *,
    complete: bool = True,
    site: str = "site",
    scope: tuple[str, ...] | None = None,
    host: str = "h",
) -> RunRecord:
    """One run over `outcomes`' units at `at` (one second apart); an incomplete run leaves the
    last unit out.  The scope is the units' provinces and steps unless given."""
    keys = list(outcomes)
    steps = tuple(sorted({k[1] for k in keys}))
    provinces = scope or tuple(sorted({k[0] for k in keys}))
    writer = store.start_run(
        RunStart("c", "d" * 64, "s", "check", "u", host, site, at, provinces, steps, len(keys))
    )
    for i, key in enumerate(keys if complete else keys[:-1]):
        status = outcomes[key]
        reason = "" if status == "pass" else f"{status} reason"
        outcome = Outcome(status, reason, None, 1.0)  # type: ignore[arg-type]
        writer.put(Result(*key, outcome, at + timedelta(seconds=i)))
    return writer.finish(
        interrupted=not complete, finished_at=at + timedelta(seconds=30), duration_s=30.0
    )
