"""The library on fixed clocks: rollup's status rules, changes, gates, the store's change-only
history (confirmations, as-of, the history series), query plans."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cutover import changes, service
from cutover.checklist import Overlay
from cutover.engine import Result
from cutover.errors import UsageError
from cutover.probes import Limits, Outcome
from cutover.rollup import Evidence, History, Waiver, unit_status
from cutover.store.base import AttestationRecord, RunStart, WaiverRecord, open_store
from cutover.store.evidence import evidence_at
from cutover.store.series import done_series

T0 = datetime(2025, 6, 27, 8, 0, tzinfo=UTC)  # before every telegram deadline
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


@pytest.fixture(scope="module")
def ctx() -> service.Context:
    return service.prepare(service.Selection(provinces=["31", "01"]), Overlay())


def step(ctx: service.Context, step_id: str):  # type: ignore[no-untyped-def]
    return ctx.loaded.checklist.step(step_id)


# --- rollup: every status rule, table-driven ---------------------------------------------

PROBE = "portal-closure"  # province-level, freshness 24h, due 2025-06-28
MANUAL = "commune-plans"  # manual attestation with a freshness window


def _due(ctx: service.Context, step_id: str) -> datetime:
    return step(ctx, step_id).due  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("name", "step_id", "outcome", "evidence_age", "as_of_from_due", "was_done", "expected"),
    [
        ("pass, fresh", PROBE, "pass", timedelta(0), -2 * 24 * HOUR, False, "done"),
        ("pass, older than freshness", PROBE, "pass", 25 * HOUR, -2 * 24 * HOUR, False, "stale"),
        ("fail, far from due", PROBE, "fail", timedelta(0), -2 * 24 * HOUR, False, "failing"),
        ("fail after done", PROBE, "fail", timedelta(0), -2 * 24 * HOUR, True, "regressed"),
        ("unknown", PROBE, "unknown", timedelta(0), -2 * 24 * HOUR, False, "unknown"),
        ("no evidence, far", PROBE, None, None, -2 * 24 * HOUR, False, "pending"),
        ("no evidence, near due", PROBE, None, None, -HOUR, False, "at-risk"),
        ("fail, near due", PROBE, "fail", timedelta(0), -HOUR, False, "at-risk"),
        ("fail, past due", PROBE, "fail", timedelta(0), HOUR, False, "overdue"),
        ("no evidence, past due", PROBE, None, None, HOUR, False, "overdue"),
        ("attested, fresh", MANUAL, "pass", timedelta(0), -2 * 24 * HOUR, False, "done"),
        ("attestation lapsed", MANUAL, "pass", 40 * 24 * HOUR, -2 * 24 * HOUR, False, "pending"),
        ("attestation lapsed past due", MANUAL, "pass", 40 * 24 * HOUR, HOUR, False, "overdue"),
    ],
)
def test_unit_status_rules(
    ctx, name, step_id, outcome, evidence_age, as_of_from_due, was_done, expected
) -> None:  # type: ignore[no-untyped-def]
    s = step(ctx, step_id)
    as_of = s.due + as_of_from_due
    evidence = (
        None if outcome is None else Evidence(outcome, as_of - evidence_age, "why", source="probe")
    )
    status, reason = unit_status(s, evidence, as_of, ctx.loaded.checklist.warning_window, was_done)
    assert status == expected, name
    assert (status == "done") == (reason == ())  # the reason is a tuple of phrases


def test_waiver_counts_apart_until_it_expires(ctx) -> None:  # type: ignore[no-untyped-def]
    s = step(ctx, PROBE)
    as_of = s.due - 2 * 24 * HOUR
    waiver = Waiver("contract", "leader", as_of + HOUR, as_of - HOUR)
    history = History(waivers={("31", PROBE): waiver})
    narrow = ctx.narrow(["31"], [PROBE])
    now = service.matrix_of(narrow, {}, as_of, history)
    later = service.matrix_of(narrow, {}, as_of + 2 * HOUR, history)
    assert now.cell("31", PROBE).status == "waived"
    assert now.totals[PROBE].done == 0 and now.totals[PROBE].counts["waived"] == 1
    assert later.cell("31", PROBE).status == "pending"


def test_commune_step_is_done_only_when_every_commune_is(ctx) -> None:  # type: ignore[no-untyped-def]
    narrow = ctx.narrow(["31"], ["online-filing-test"])
    province = narrow.provinces[0]
    as_of = _due(ctx, "online-filing-test") - 2 * 24 * HOUR
    evidence = {
        ("31", "online-filing-test", c.code): Evidence("pass", as_of) for c in province.communes
    }
    assert (
        service.matrix_of(narrow, evidence, as_of).cell("31", "online-filing-test").status == "done"
    )
    first = province.communes[0]
    evidence[("31", "online-filing-test", first.code)] = Evidence("fail", as_of, "no filing")
    cell = service.matrix_of(narrow, evidence, as_of).cell("31", "online-filing-test")
    assert cell.status == "failing"
    assert cell.fraction == f"{len(province.communes) - 1}/{len(province.communes)}"
    assert first.name in cell.reason


# --- changes and gates -------------------------------------------------------------------


def test_changes_name_what_matters(ctx) -> None:  # type: ignore[no-untyped-def]
    narrow = ctx.narrow(["31"], [PROBE])
    as_of = _due(ctx, PROBE) + HOUR
    before = service.matrix_of(narrow, {("31", PROBE, ""): Evidence("pass", as_of)}, as_of)
    after = service.matrix_of(narrow, {("31", PROBE, ""): Evidence("fail", as_of, "open")}, as_of,
                              History(was_done=frozenset({("31", PROBE, "")})))  # fmt: skip
    found = changes.diff(before, after)
    assert [(c.before, c.after, c.kind) for c in found] == [("done", "regressed", "regressed")]
    assert found[0].line() == "31 portal-closure: done -> regressed (open)"
    assert changes.diff(after, after) == []


@pytest.mark.parametrize(
    ("text", "done", "met"),
    [
        ("portal-closure>=2", 2, True),
        ("portal-closure>=2", 1, False),
        ("portal-closure==1", 1, True),
        ("portal-closure<1", 0, True),
        ("portal-closure>0", 0, False),
        ("portal-closure<=1", 2, False),
    ],
)
def test_gates(text: str, done: int, met: bool) -> None:
    assert service.Gate.parse(text).met(done) is met


def test_gate_typos_are_usage_errors(ctx) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(UsageError, match="expected STEP>=N"):
        service.Gate.parse("portal-closure => 3")
    matrix = service.matrix_of(ctx.narrow(["31"], [PROBE]), {}, T0)
    with pytest.raises(UsageError, match="not in the matrix"):
        service.unmet_gates(matrix, [service.Gate.parse("sso-test>=1")])
    assert service.unmet_gates(matrix, [service.Gate.parse("portal-closure>=1")]) == [
        "gate not met: portal-closure>=1 (done 0/1)"
    ]


def test_parse_time_on_a_fixed_clock() -> None:
    assert service.parse_time(None, T0) == T0
    assert service.parse_time("2025-06-28T13:00", T0).utcoffset() == timedelta(hours=7)
    with pytest.raises(UsageError, match="--until: not an ISO 8601 time"):
        service.parse_time("tomorrow", T0, "--until")


# --- the store: change-only history, confirmations, as-of, series -------------------------


def _run(store, ctx, at: datetime, outcomes: dict[tuple[str, str, str], str], *, complete=True):  # type: ignore[no-untyped-def]
    """One run over `outcomes`' units at `at`; an incomplete run leaves one unit out."""
    keys = list(outcomes)
    steps = tuple(sorted({k[1] for k in keys}))
    provinces = tuple(sorted({k[0] for k in keys}))
    writer = store.start_run(
        RunStart("c", "d" * 64, "s", "check", "u", "h", "site", at, provinces, steps, len(keys))
    )
    for i, key in enumerate(keys if complete else keys[:-1]):
        status = outcomes[key]
        reason = "" if status == "pass" else f"{status} reason"
        writer.put(Result(*key, Outcome(status, reason, None, 1.0), at + timedelta(seconds=i)))  # type: ignore[arg-type]
    return writer.finish(interrupted=not complete, finished_at=at + timedelta(seconds=30),
                         duration_s=30.0)  # fmt: skip


def test_repeats_are_confirmed_not_written(tmp_path: Path, ctx) -> None:  # type: ignore[no-untyped-def]
    store = open_store(tmp_path / "s.db", environ={})
    key = ("31", PROBE, "")
    other = ("01", PROBE, "")
    first = _run(store, ctx, T0, {key: "pass", other: "fail"})
    second = _run(store, ctx, T0 + HOUR, {key: "pass", other: "fail"})
    assert store.describe().counts["results"] == 2  # the second run wrote nothing
    assert first.complete and second.complete
    raw = store.raw_evidence(["31", "01"], [PROBE], T0 + 2 * HOUR, T0 + 2 * HOUR)
    evidence, _ = evidence_at(raw, T0 + 2 * HOUR)
    assert evidence[key].at == second.confirmed_at  # as fresh as the second run
    # As of between the runs, the first run's own time: the past is reproduced exactly.
    raw = store.raw_evidence(["31", "01"], [PROBE], T0 + HOUR / 2, T0 + HOUR / 2)
    assert evidence_at(raw, T0 + HOUR / 2)[0][key].at == T0
    # 25 hours later without a run the evidence is stale; one more run makes it fresh again.
    narrow = ctx.narrow(["31"], [PROBE])
    late = T0 + 26 * HOUR
    assert service.stored_matrix(narrow, store, late).cell("31", PROBE).status == "stale"
    _run(store, ctx, late, {key: "pass"})
    assert service.stored_matrix(narrow, store, late + HOUR).cell("31", PROBE).status == "done"
    assert store.describe().counts["results"] == 2


def test_an_incomplete_run_writes_its_repeats(tmp_path: Path, ctx) -> None:  # type: ignore[no-untyped-def]
    store = open_store(tmp_path / "s.db", environ={})
    outcomes = {("31", PROBE, ""): "pass", ("01", PROBE, ""): "pass"}
    _run(store, ctx, T0, outcomes)
    partial = _run(store, ctx, T0 + HOUR, outcomes, complete=False)
    assert not partial.complete and partial.interrupted
    # It confirms nothing implicitly, so the unit it did see is written out again.
    assert store.describe().counts["results"] == 3
    raw = store.raw_evidence(["31", "01"], [PROBE], T0 + 2 * HOUR, T0 + 2 * HOUR)
    evidence, _ = evidence_at(raw, T0 + 2 * HOUR)
    assert evidence[("31", PROBE, "")].at == T0 + HOUR
    assert evidence[("01", PROBE, "")].at == T0 + timedelta(seconds=1)


def test_as_of_and_history_series_agree_with_a_full_rollup(tmp_path: Path, ctx) -> None:  # type: ignore[no-untyped-def]
    """The fast series equals a full rollup at every point, through changes, a regression,
    an attestation that overrides a probe, a waiver that expires, and a gap long enough to go
    stale."""
    store = open_store(tmp_path / "s.db", environ={})
    narrow = ctx.narrow(["31", "01"], [PROBE, "sso-test", MANUAL])
    a, b = ("31", PROBE, ""), ("01", PROBE, "")
    s1, s2 = ("31", "sso-test", ""), ("01", "sso-test", "")
    plan = [
        (T0, {a: "fail", b: "pass", s1: "unknown", s2: "pass"}),
        (T0 + HOUR, {a: "pass", b: "pass", s1: "pass", s2: "pass"}),
        (T0 + 2 * HOUR, {a: "pass", b: "fail", s1: "pass", s2: "pass"}),
        (T0 + 30 * HOUR, {a: "pass", b: "fail", s1: "fail", s2: "pass"}),
        (T0 + 31 * HOUR, {a: "pass", b: "pass", s1: "fail", s2: "pass"}),
    ]
    for at, outcomes in plan:
        _run(store, ctx, at, outcomes)
    store.add_attestation(
        AttestationRecord("31", "sso-test", "", "pass", "officer", T0 + 30 * HOUR + 60 * SECOND)
    )
    store.add_attestation(AttestationRecord("01", MANUAL, "", "pass", "officer", T0 + HOUR / 2))
    store.add_waiver(WaiverRecord("01", PROBE, "bank", "leader", T0 + 3 * HOUR, T0 + 2 * HOUR))
    times = store.evaluation_times(T0 + 40 * HOUR, 60)
    assert len(times) == 8
    fast = done_series(store, narrow.provinces, narrow.steps, times)
    for moment, counts in fast:
        full = service.stored_matrix(narrow, store, moment)
        assert counts == {k: t.done for k, t in full.totals.items()}, moment
    assert len({tuple(c.values()) for _, c in fast}) > 2  # the counts really moved


def test_reads_are_index_seeks(tmp_path: Path, ctx) -> None:  # type: ignore[no-untyped-def]
    store = open_store(tmp_path / "s.db", environ={})
    _run(store, ctx, T0, {("31", PROBE, ""): "pass"})
    store.close()
    conn = sqlite3.connect(tmp_path / "s.db")
    plan = " | ".join(
        row[-1]
        for row in conn.execute(
            """EXPLAIN QUERY PLAN SELECT r.id FROM units u
               JOIN results r ON r.id = (SELECT x.id FROM results x WHERE x.unit_id = u.id
                                         AND x.at <= ? ORDER BY x.at DESC, x.id DESC LIMIT 1)
               WHERE u.province IN ('31') AND u.step IN ('portal-closure')""",
            (0,),
        )
    )
    conn.close()
    assert "USING COVERING INDEX results_unit_at (unit_id=? AND at<?)" in plan
    assert "SCAN x" not in plan and "SCAN r" not in plan


def test_a_run_carries_its_origin(tmp_path: Path, ctx) -> None:  # type: ignore[no-untyped-def]
    from cutover.env import Environment, fixed_clock

    store = open_store(tmp_path / "s.db", environ={})
    env = replace(Environment(environ={"CUTOVER_SITE": "31"}), clock=fixed_clock(T0),
                  user="officer", host="hp-01")  # fmt: skip
    narrow = ctx.narrow(["31"], [MANUAL])  # nothing to probe: no network needed
    run = asyncio.run(service.run_checks(narrow, Limits(), env, store=store, command="check"))
    assert run.record is not None
    assert (run.record.site, run.record.user, run.record.host) == ("31", "officer", "hp-01")
    assert run.record.started_at == T0 and run.record.scope_provinces == ("31",)
    assert run.record.complete and run.record.scope_steps == ()
