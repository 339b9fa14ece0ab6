"""Done counts per step over time (the HTML report's chart), in one pass over the window.

The state at the first point comes from the usual per-unit seeks; every later outcome change in
the window is then replayed in time order, and at each point a cell counts as done when it is
not waived and every unit's latest evidence passes `rollup.unit_done` (inlined in `_cell_done`;
`tests/test_store_contract.py` checks the series against a full rollup at every point).
Evidence times follow the same confirmation rule as `cutover.store.evidence`.  Times stay
integer microseconds in the loop: this runs 60 points × every unit.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from cutover.store.base import EPOCH, RawEvidence, UnitKey, to_us
from cutover.store.evidence import latest

if TYPE_CHECKING:
    from cutover.checklist import Step
    from cutover.geo import Province
    from cutover.store.base import Store


def done_series(
    store: Store, provinces: list[Province], steps: list[Step], times: list[datetime]
) -> list[tuple[datetime, dict[str, int]]]:
    if not times:
        return []
    codes, ids = [p.code for p in provinces], [s.id for s in steps]
    start, end = times[0], times[-1]
    raw = store.raw_evidence(codes, ids, start, end, window_rows=False)
    probe: dict[UnitKey, tuple[str, int]] = {
        k: (rows[-1].outcome, to_us(rows[-1].at)) for k, rows in raw.probes.items()
    }
    person: dict[UnitKey, tuple[str, int]] = {
        k: (rows[-1].outcome, to_us(rows[-1].at)) for k, rows in raw.attestations.items()
    }
    changes = store.changes(codes, ids, start, end)
    layout = _layout(provinces, steps)
    cells = [(p, s.id) for p, s, _ in layout]
    # Each confirming run once: its times and the cells of the layout it covers (newest first).
    scopes: dict[tuple[tuple[str, ...], tuple[str, ...]], set[tuple[str, str]]] = {}
    confirming = []
    for run in raw.runs:
        if run.confirmed_at is None:
            continue
        scope = (run.scope_provinces, run.scope_steps)
        if scope not in scopes:  # runs of one cron job share their scope
            ps, ss = set(scope[0]), set(scope[1])
            scopes[scope] = {c for c in cells if c[0] in ps and c[1] in ss}
        confirming.append((to_us(run.confirmed_at), to_us(run.started_at), scopes[scope]))
    fresh = {s.id: to_us(EPOCH + s.freshness) if s.freshness else None for s in steps}
    series = []
    pending = iter(changes)
    change = next(pending, None)
    for moment in times:
        now = to_us(moment)
        while change is not None and change[0] <= now:
            at, source, province, step_id, commune, outcome = change
            (probe if source == "probe" else person)[(province, step_id, commune)] = (outcome, at)
            change = next(pending, None)
        cover = _cover(confirming, cells, now)
        done = dict.fromkeys(ids, 0)
        for province, step, keys in layout:
            if raw.waivers and _waived(raw, province, step.id, moment):
                continue
            if _cell_done(keys, probe, person, cover.get((province, step.id)), fresh[step.id], now):
                done[step.id] += 1
        series.append((moment, done))
    return series


def _cover(
    confirming: list[tuple[int, int, set[tuple[str, str]]]], cells: list[tuple[str, str]], now: int
) -> dict[tuple[str, str], tuple[int, int]]:
    """For each cell, the (started, confirmed) times of the latest complete run by `now` that
    covers it (`cutover.store.evidence.covering_runs`, on precomputed scopes)."""
    wanted = set(cells)
    found: dict[tuple[str, str], tuple[int, int]] = {}
    for confirmed, started, covered in confirming:
        if confirmed > now:
            continue
        for cell in covered & wanted:
            found[cell] = (started, confirmed)
        wanted -= covered
        if not wanted:
            break
    return found


def _cell_done(
    keys: list[UnitKey],
    probe: dict[UnitKey, tuple[str, int]],
    person: dict[UnitKey, tuple[str, int]],
    confirmed: tuple[int, int] | None,
    fresh: int | None,
    now: int,
) -> bool:
    """Every unit's latest word passes and is fresh (`rollup.unit_done`, inlined: this runs
    for every unit at every point).  A probe row is as recent as the covering run that found
    it again; the newer of probe and person decides, the probe on a tie."""
    for key in keys:
        seen = probe.get(key)
        said = person.get(key)
        if seen is not None:
            outcome, at = seen
            if confirmed is not None and confirmed[0] > at and confirmed[1] > at:
                at = confirmed[1]
            if said is not None and said[1] > at:
                outcome, at = said
        elif said is not None:
            outcome, at = said
        else:
            return False
        if outcome != "pass" or (fresh is not None and now - at > fresh):
            return False
    return True


def _layout(provinces: list[Province], steps: list[Step]) -> list[tuple[str, Step, list[UnitKey]]]:
    out = []
    for province in provinces:
        for step in steps:
            if step.applies(province):
                units = [c.code for c in province.communes] if step.level == "commune" else [""]
                out.append((province.code, step, [(province.code, step.id, u) for u in units]))
    return out


def _waived(raw: RawEvidence, province: str, step: str, moment: datetime) -> bool:
    waiver = latest(raw.waivers.get((province, step)), moment)
    return waiver is not None and moment < waiver.until
