"""Done counts per step over time (the HTML report's chart), in one pass over the window.

The state at the first point comes from the usual per-unit seeks; every later outcome change in
the window is then replayed in time order, and at each point a cell counts as done when it is
not waived and every unit's latest evidence passes `rollup.unit_done`.  Evidence times follow
the same confirmation rule as `cutover.store.evidence`.  Times stay integer microseconds in the
loop: this runs 60 points × every unit.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from cutover.rollup import unit_done
from cutover.store.base import RawEvidence, UnitKey, to_us
from cutover.store.evidence import covering_runs, latest

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
    series = []
    next_change = 0
    for moment in times:
        now = to_us(moment)
        while next_change < len(changes) and changes[next_change].at_us <= now:
            c = changes[next_change]
            target = probe if c.source == "probe" else person
            target[(c.province, c.step, c.commune)] = (c.outcome, c.at_us)
            next_change += 1
        cover = {
            cell: (to_us(run.started_at), to_us(run.confirmed_at))
            for cell, run in covering_runs(raw.runs, cells, moment).items()
            if run.confirmed_at is not None
        }
        done = dict.fromkeys(ids, 0)
        for province, step, units in layout:
            if _waived(raw, province, step.id, moment):
                continue
            confirmed = cover.get((province, step.id))
            if all(
                _done(step, probe, person, (province, step.id, u), confirmed, now) for u in units
            ):
                done[step.id] += 1
        series.append((moment, done))
    return series


def _layout(provinces: list[Province], steps: list[Step]) -> list[tuple[str, Step, list[str]]]:
    out = []
    for province in provinces:
        for step in steps:
            if step.applies(province):
                units = [c.code for c in province.communes] if step.level == "commune" else [""]
                out.append((province.code, step, units))
    return out


def _waived(raw: RawEvidence, province: str, step: str, moment: datetime) -> bool:
    waiver = latest(raw.waivers.get((province, step)), moment)
    return waiver is not None and moment < waiver.until


def _done(
    step: Step,
    probe: dict[UnitKey, tuple[str, int]],
    person: dict[UnitKey, tuple[str, int]],
    key: UnitKey,
    confirmed: tuple[int, int] | None,
    now: int,
) -> bool:
    seen = probe.get(key)
    said = person.get(key)
    if seen is not None and confirmed is not None and confirmed[0] > seen[1]:
        seen = (seen[0], max(seen[1], confirmed[1]))
    word = seen if seen is not None and (said is None or seen[1] >= said[1]) else said
    if word is None:
        return False
    return unit_done(step, word[0], timedelta(microseconds=now - word[1]))
