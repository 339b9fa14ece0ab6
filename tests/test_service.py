"""The library on fixed clocks: rollup's status rules, changes, gates.
The store's change-only history (confirmations, as-of, the history series) is tested on both
backends in test_store_contract.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cutover import changes, service
from cutover.checklist import Overlay
from cutover.errors import UsageError
from cutover.rollup import Evidence, History, Waiver, unit_status

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
        # done wins over the deadline; stale, unknown and regressed do too
        ("pass, past due", PROBE, "pass", timedelta(0), HOUR, False, "done"),
        (
            "pass, exactly as old as freshness",
            PROBE,
            "pass",
            24 * HOUR,
            -2 * 24 * HOUR,
            False,
            "done",
        ),
        ("pass, stale past due", PROBE, "pass", 25 * HOUR, HOUR, False, "stale"),
        ("unknown, near due", PROBE, "unknown", timedelta(0), -HOUR, False, "unknown"),
        ("unknown, past due", PROBE, "unknown", timedelta(0), HOUR, False, "unknown"),
        ("fail after done, near due", PROBE, "fail", timedelta(0), -HOUR, True, "regressed"),
        ("fail after done, past due", PROBE, "fail", timedelta(0), HOUR, True, "regressed"),
        # only failing evidence makes a cell regressed
        ("unknown after done", PROBE, "unknown", timedelta(0), -2 * 24 * HOUR, True, "unknown"),
        ("no evidence after done", PROBE, None, None, -2 * 24 * HOUR, True, "pending"),
        # the boundaries: "due now" exactly at the deadline, at risk from the warning window on
        ("no evidence, exactly at due", PROBE, None, None, timedelta(0), False, "at-risk"),
        ("fail, exactly at due", PROBE, "fail", timedelta(0), timedelta(0), False, "at-risk"),
        ("no evidence, 1 s past due", PROBE, None, None, SECOND, False, "overdue"),
        ("no evidence, warning window before due", PROBE, None, None, -24 * HOUR, False, "at-risk"),
        (
            "no evidence, 1 s before the window",
            PROBE,
            None,
            None,
            -24 * HOUR - SECOND,
            False,
            "pending",
        ),
        (
            "fail, 1 s before the window",
            PROBE,
            "fail",
            timedelta(0),
            -24 * HOUR - SECOND,
            False,
            "failing",
        ),
        (
            "attested, exactly as old as freshness",
            MANUAL,
            "pass",
            30 * 24 * HOUR,
            -2 * 24 * HOUR,
            False,
            "done",
        ),
        ("attestation lapsed near due", MANUAL, "pass", 40 * 24 * HOUR, -HOUR, False, "at-risk"),
        ("no attestation, past due", MANUAL, None, None, HOUR, False, "overdue"),
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


@pytest.mark.parametrize(
    ("name", "step_id", "outcome", "evidence_age", "as_of_from_due", "expected"),
    [
        ("due now, exactly at the deadline", PROBE, None, None, timedelta(0),
         "not checked yet; due now"),
        ("due in, within the window", PROBE, "fail", timedelta(0), -HOUR, "why; due in 60 min"),
        ("due ago, past the deadline", PROBE, "fail", timedelta(0), HOUR, "why; due 60 min ago"),
        ("far from due: the evidence's reason", PROBE, "fail", timedelta(0), -48 * HOUR, "why"),
        ("unknown past due: no deadline said", PROBE, "unknown", timedelta(0), HOUR, "why"),
        ("stale", PROBE, "pass", 25 * HOUR, -48 * HOUR, "evidence is 25 h old (fresh for 24 h)"),
        ("no attestation", MANUAL, None, None, -48 * HOUR, "no attestation"),
        ("attestation lapsed", MANUAL, "pass", 31 * 24 * HOUR, HOUR,
         "attestation expired 24 h ago; due 60 min ago"),
    ],
)  # fmt: skip
def test_unit_status_reasons(
    ctx, name, step_id, outcome, evidence_age, as_of_from_due, expected
) -> None:  # type: ignore[no-untyped-def]
    from cutover.rollup import english

    s = step(ctx, step_id)
    as_of = s.due + as_of_from_due
    evidence = None if outcome is None else Evidence(outcome, as_of - evidence_age, "why")
    _, reason = unit_status(s, evidence, as_of, ctx.loaded.checklist.warning_window, False)
    assert english(reason) == expected, name


ONLY_31 = "hai-phong-commune-codes"  # applies to Hải Phòng (31) only


@pytest.mark.parametrize(
    ("name", "province", "step_id", "outcome", "as_of_from_due", "waiver_from_due", "expected"),
    [
        ("n/a: the step does not apply", "01", ONLY_31, None, -48 * HOUR, None, ("n/a", "")),
        ("n/a even with evidence", "01", ONLY_31, "pass", -48 * HOUR, None, ("n/a", "")),
        ("n/a even when waived", "01", ONLY_31, None, -48 * HOUR, HOUR, ("n/a", "")),
        ("the step applies to its province", "31", ONLY_31, "pass", -48 * HOUR, None, ("done", "")),
        ("waived", "31", PROBE, "fail", -48 * HOUR, HOUR,
         ("waived", "contract (approved by leader)")),
        ("waived wins over overdue", "31", PROBE, "fail", HOUR, 2 * HOUR,
         ("waived", "contract (approved by leader)")),
        ("waived wins over done", "31", PROBE, "pass", -48 * HOUR, HOUR,
         ("waived", "contract (approved by leader)")),
        ("waiver ended, exactly at its time", "31", PROBE, "fail", HOUR, HOUR,
         ("overdue", "why; due 60 min ago")),
        ("no evidence at all, said in the cell", "31", PROBE, None, -48 * HOUR, None,
         ("pending", "no evidence recorded at or before 13:00 26/06/2025")),
    ],
)  # fmt: skip
def test_cell_rules(
    ctx, name, province, step_id, outcome, as_of_from_due, waiver_from_due, expected
) -> None:  # type: ignore[no-untyped-def]
    """The rules of a cell above its units': n/a, then a waiver in force, then the evidence."""
    narrow = ctx.narrow(["31", "01"], [step_id])
    s = narrow.steps[0]
    as_of = s.due + as_of_from_due
    evidence = {} if outcome is None else {(province, step_id, ""): Evidence(outcome, as_of, "why")}
    waivers = {}
    if waiver_from_due is not None:
        waivers[(province, step_id)] = Waiver("contract", "leader", s.due + waiver_from_due, as_of)
    matrix = service.matrix_of(narrow, evidence, as_of, History(waivers=waivers))
    cell = matrix.cell(province, step_id)
    assert (cell.status, cell.reason) == expected, name
    total = matrix.totals[step_id]
    assert total.total == (1 if step_id == ONLY_31 else 2)  # n/a cells are not counted
    assert total.done == sum(1 for c in matrix.cells.values() if c.status == "done")


COMMUNE_STEP = "online-filing-test"  # commune-level, fresh for 24 h


@pytest.mark.parametrize(
    ("name", "as_of_from_due", "units", "expected", "named"),
    [
        ("every commune done", -48 * HOUR, [], "done", None),
        ("one failing", -48 * HOUR, ["done", "failing"], "failing", 1),
        ("regressed over overdue", HOUR, ["overdue", "regressed"], "regressed", 1),
        ("regressed over at-risk", -HOUR, ["at-risk", "regressed"], "regressed", 1),
        ("overdue over unknown", HOUR, ["unknown", "overdue"], "overdue", 1),
        ("overdue over stale", HOUR, ["stale", "overdue"], "overdue", 1),
        ("at-risk over unknown", -HOUR, ["unknown", "at-risk"], "at-risk", 1),
        ("failing over unknown", -48 * HOUR, ["unknown", "failing"], "failing", 1),
        ("unknown over stale", -48 * HOUR, ["stale", "unknown"], "unknown", 1),
        ("stale over pending", -48 * HOUR, ["pending", "stale"], "stale", 1),
        ("pending over done", -48 * HOUR, ["done", "pending"], "pending", 1),
        ("a tie: the first named", -48 * HOUR, ["done", "failing", "failing"], "failing", 1),
        ("all kinds: regressed", -48 * HOUR,
         ["pending", "stale", "unknown", "failing", "regressed"], "regressed", 4),
    ],
)  # fmt: skip
def test_which_commune_status_wins(ctx, name, as_of_from_due, units, expected, named) -> None:  # type: ignore[no-untyped-def]
    """When a province's communes disagree, the cell shows the most urgent status and names
    the first commune with it; the communes beyond `units` are done."""
    narrow = ctx.narrow(["31"], [COMMUNE_STEP])
    s, communes = narrow.steps[0], narrow.provinces[0].communes
    as_of = s.due + as_of_from_due
    made = {  # the evidence (and whether it was done before) that makes each unit status
        "done": ("pass", timedelta(0), False),
        "stale": ("pass", 25 * HOUR, False),
        "failing": ("fail", timedelta(0), False),
        "at-risk": ("fail", timedelta(0), False),
        "overdue": ("fail", timedelta(0), False),
        "unknown": ("unknown", timedelta(0), False),
        "regressed": ("fail", timedelta(0), True),
        "pending": None,
    }
    evidence, was_done = {}, set()
    for i, commune in enumerate(communes):
        kind = made[units[i] if i < len(units) else "done"]
        if kind is None:
            continue
        outcome, age, before = kind
        key = ("31", COMMUNE_STEP, commune.code)
        evidence[key] = Evidence(outcome, as_of - age, f"why {i}")
        if before:
            was_done.add(key)
    history = History(was_done=frozenset(was_done))
    cell = service.matrix_of(narrow, evidence, as_of, history).cell("31", COMMUNE_STEP)
    assert [u.status for u in cell.units[: len(units)]] == units, name  # the table's premise
    assert cell.status == expected, name
    done = len(communes) - sum(1 for u in units if u != "done")
    assert cell.fraction == f"{done}/{len(communes)}"
    if named is None:
        assert cell.reason == ""
    else:
        worst = cell.units[named]  # the first commune with the winning status, with its reason
        said = f"{done}/{len(communes)} communes done; {communes[named].name}: {worst.reason}"
        assert cell.reason == said
        assert worst.status == expected
        own = {"pending": "not checked yet", "stale": "evidence is 25 h old"}
        assert worst.reason.startswith(own.get(expected, f"why {named}"))


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


def test_a_commune_cells_short_way_for_passing_units_agrees_with_unit_status(ctx) -> None:  # type: ignore[no-untyped-def]
    """The rollup takes a short way for fresh passing evidence: every commune's cell is what
    the general rule (`unit_status`, the origin) makes of it, stale and failing ones too."""
    from cutover.rollup import _origin_of, english

    narrow = ctx.narrow(["31"], ["online-filing-test"])
    s, province = narrow.steps[0], narrow.provinces[0]
    assert s.freshness == 24 * HOUR
    as_of = _due(ctx, "online-filing-test") - 2 * 24 * HOUR
    kinds = [
        Evidence("pass", as_of - HOUR),
        Evidence("pass", as_of - HOUR, "", None, "attestation", "lan@so"),
        Evidence("pass", as_of - HOUR, "", None, "attestation", None),
        Evidence("pass", as_of - 24 * HOUR),  # as old as its freshness: still done
        Evidence("pass", as_of - 25 * HOUR),  # older: stale
        Evidence("fail", as_of - HOUR, "no filing"),
        Evidence("unknown", as_of - HOUR, "timed out"),
        None,
    ]
    evidence = {}
    for i, commune in enumerate(province.communes):
        ev = kinds[i % len(kinds)]
        if ev is not None:
            evidence[("31", s.id, commune.code)] = ev
    cell = service.matrix_of(narrow, evidence, as_of).cell("31", s.id)
    warning = ctx.loaded.checklist.warning_window
    assert len(cell.units) == len(province.communes)
    for unit in cell.units:
        ev = evidence.get(("31", s.id, unit.commune.code))
        status, why = unit_status(s, ev, as_of, warning, False)
        source, by = _origin_of(ev)
        assert (unit.status, unit.why, unit.reason) == (status, why, english(why))
        assert (unit.evidence_at, unit.source, unit.by) == (ev.at if ev else None, source, by)
    assert {u.status for u in cell.units} == {"done", "stale", "failing", "unknown", "pending"}


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
