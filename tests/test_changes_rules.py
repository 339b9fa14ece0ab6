"""Change detection (`changes.diff`) rule by rule, on fixed clocks: each case builds the matrix
before and after with the library (`service.matrix_of`) and names the exact changes, their kind,
their line (for --quiet and the webhook's text) and their JSON (the webhook's `changes`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from cutover import changes, service
from cutover.checklist import Overlay
from cutover.rollup import STATUSES, Evidence, History, Matrix, Waiver

PROBE = "portal-closure"  # province-level, fresh for 24 h, due 2025-06-28 13:00 +07:00
COMMUNES = "online-filing-test"  # commune-level, same deadline and freshness
ONLY_31 = "hai-phong-commune-codes"  # applies to 31 only: n/a for 01
HOUR = timedelta(hours=1)
FAR = -2 * 24 * HOUR  # two days before the deadline: neither at risk nor overdue
ALL = 10**6  # every commune


@pytest.fixture(scope="module")
def ctx() -> service.Context:
    return service.prepare(service.Selection(provinces=["31", "01"]), Overlay())


@dataclass(frozen=True)
class Side:
    """One matrix of a case: which cells, what evidence, at which time (from the deadline)."""

    at: timedelta = FAR
    step: str = PROBE
    provinces: tuple[str, ...] = ("31",)
    # province-level steps: (province, outcome, reason), recorded `age` before the clock
    evidence: tuple[tuple[str, str, str], ...] = ()
    age: timedelta = timedelta(0)
    passing_communes: int = 0  # commune-level steps: how many of 31's communes pass (in order)
    was_done: tuple[str, ...] = ()  # provinces whose cell was done at some earlier time
    waived_until: timedelta | None = None  # a waiver of 31's cell, until this (from deadline)
    applies_to: tuple[str, ...] | None = None  # the step edited to apply to these only

    def matrix(self, ctx: service.Context) -> Matrix:
        narrow = ctx.narrow(list(self.provinces), [self.step])
        step = narrow.steps[0]
        if self.applies_to is not None:
            step = step.model_copy(update={"applies_to": list(self.applies_to)})
            narrow = replace(narrow, steps=[step])
        as_of = step.due + self.at
        evidence = {
            (p, self.step, ""): Evidence(outcome, as_of - self.age, reason)  # type: ignore[arg-type]
            for p, outcome, reason in self.evidence
        }
        for commune in narrow.provinces[0].communes[: self.passing_communes]:
            evidence[("31", self.step, commune.code)] = Evidence("pass", as_of - self.age)
        waivers = {}
        if self.waived_until is not None:
            until = step.due + self.waived_until
            waivers[("31", self.step)] = Waiver("contract", "leader", until, as_of - HOUR)
        done = frozenset((p, self.step, "") for p in self.was_done)
        return service.matrix_of(narrow, evidence, as_of, History(was_done=done, waivers=waivers))


PASS = (("31", "pass", ""),)
FAIL = (("31", "fail", "open"),)

# (name, before (None: the first run), after, [(province, step, before, after, reason, kind, line)])
CASES = [
    ("no change", Side(evidence=FAIL), Side(evidence=FAIL), []),
    (
        "same status, another reason: no change",
        Side(evidence=FAIL),
        Side(evidence=(("31", "fail", "still open"),)),
        [],
    ),
    (
        "first run (no before): every cell is new",
        None,
        Side(evidence=PASS),
        [("31", PROBE, None, "done", "", "done", "31 portal-closure: new -> done")],
    ),
    (
        "first run with no evidence at all: said in the reason",
        None,
        Side(),
        [
            (
                "31",
                PROBE,
                None,
                "pending",
                "no evidence recorded at or before 13:00 26/06/2025",
                None,
                "31 portal-closure: new -> pending (no evidence recorded at or before 13:00 "
                "26/06/2025)",
            ),
        ],
    ),
    (
        "first run: a cell first seen as n/a is no news",
        None,
        Side(step=ONLY_31, provinces=("31", "01"), evidence=FAIL),
        [
            (
                "31",
                ONLY_31,
                None,
                "failing",
                "open",
                None,
                "31 hai-phong-commune-codes: new -> failing (open)",
            )
        ],
    ),
    (
        "n/a before and after: no change",
        Side(step=ONLY_31, provinces=("31", "01"), evidence=FAIL),
        Side(step=ONLY_31, provinces=("31", "01"), evidence=FAIL),
        [],
    ),
    (
        "a cell that appears is new",
        Side(evidence=PASS),
        Side(provinces=("31", "01"), evidence=(*PASS, ("01", "fail", "open"))),
        [("01", PROBE, None, "failing", "open", None, "01 portal-closure: new -> failing (open)")],
    ),
    (
        "a cell that appears as n/a is no news",
        Side(step=ONLY_31, evidence=FAIL),
        Side(step=ONLY_31, provinces=("31", "01"), evidence=FAIL),
        [],
    ),
    (
        "a cell that disappears is not reported",
        Side(provinces=("31", "01"), evidence=(*PASS, ("01", "fail", "open"))),
        Side(evidence=PASS),
        [],
    ),
    (
        "newly done",
        Side(evidence=FAIL),
        Side(evidence=PASS),
        [("31", PROBE, "failing", "done", "", "done", "31 portal-closure: failing -> done")],
    ),
    (
        "done after the deadline",
        Side(at=HOUR, evidence=FAIL),
        Side(at=2 * HOUR, evidence=PASS),
        [("31", PROBE, "overdue", "done", "", "done", "31 portal-closure: overdue -> done")],
    ),
    (
        "regressed",
        Side(evidence=PASS),
        Side(evidence=FAIL, was_done=("31",)),
        [
            (
                "31",
                PROBE,
                "done",
                "regressed",
                "open",
                "regressed",
                "31 portal-closure: done -> regressed (open)",
            )
        ],
    ),
    (
        "newly overdue",
        Side(at=-HOUR, evidence=FAIL),
        Side(at=HOUR, evidence=FAIL),
        [
            (
                "31",
                PROBE,
                "at-risk",
                "overdue",
                "open; due 60 min ago",
                "overdue",
                "31 portal-closure: at-risk -> overdue (open; due 60 min ago)",
            )
        ],
    ),
    (
        "failing to at risk: not notable",
        Side(evidence=FAIL),
        Side(at=-HOUR, evidence=FAIL),
        [
            (
                "31",
                PROBE,
                "failing",
                "at-risk",
                "open; due in 60 min",
                None,
                "31 portal-closure: failing -> at-risk (open; due in 60 min)",
            )
        ],
    ),
    (
        "done to stale: not notable",
        Side(evidence=PASS),
        Side(at=FAR + 25 * HOUR, evidence=PASS, age=25 * HOUR),
        [
            (
                "31",
                PROBE,
                "done",
                "stale",
                "evidence is 25 h old (fresh for 24 h)",
                None,
                "31 portal-closure: done -> stale (evidence is 25 h old (fresh for 24 h))",
            )
        ],
    ),
    (
        "done to unknown: not notable",
        Side(evidence=PASS),
        Side(evidence=(("31", "unknown", "timed out"),), was_done=("31",)),
        [
            (
                "31",
                PROBE,
                "done",
                "unknown",
                "timed out",
                None,
                "31 portal-closure: done -> unknown (timed out)",
            )
        ],
    ),
    (
        "waived: not notable",
        Side(evidence=FAIL),
        Side(evidence=FAIL, waived_until=HOUR),
        [
            (
                "31",
                PROBE,
                "failing",
                "waived",
                "contract (approved by leader)",
                None,
                "31 portal-closure: failing -> waived (contract (approved by leader))",
            )
        ],
    ),
    (
        "a waiver that ends (at its very time) past the deadline: overdue",
        Side(at=HOUR, evidence=FAIL, waived_until=2 * HOUR),
        Side(at=2 * HOUR, evidence=FAIL, waived_until=2 * HOUR),
        [
            (
                "31",
                PROBE,
                "waived",
                "overdue",
                "open; due 2 h ago",
                "overdue",
                "31 portal-closure: waived -> overdue (open; due 2 h ago)",
            )
        ],
    ),
    (
        "a step that stops applying: -> n/a",
        Side(evidence=()),
        Side(evidence=(), applies_to=("01",)),
        [("31", PROBE, "pending", "n/a", "", None, "31 portal-closure: pending -> n/a")],
    ),
    (
        "escape sequences: cleaned in JSON, one terminal line in the text",
        Side(evidence=PASS),
        Side(evidence=(("31", "fail", "\x1b]0;owned\x07open\nnow\x1b[2J"),), was_done=("31",)),
        [
            (
                "31",
                PROBE,
                "done",
                "regressed",
                "open\nnow",
                "regressed",
                "31 portal-closure: done -> regressed (open now)",
            )
        ],
    ),
    (
        "commune-level: more communes done, same status: no change",
        Side(step=COMMUNES, passing_communes=1),
        Side(step=COMMUNES, passing_communes=2),
        [],
    ),
    (
        "commune-level: the last commune done",
        Side(step=COMMUNES, passing_communes=113),
        Side(step=COMMUNES, passing_communes=ALL),
        [("31", COMMUNES, "pending", "done", "", "done", "31 online-filing-test: pending -> done")],
    ),
]


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [pytest.param(before, after, expected, id=name) for name, before, after, expected in CASES],
)
def test_diff_rules(ctx, before: Side | None, after: Side, expected: list[tuple]) -> None:  # type: ignore[no-untyped-def]
    found = changes.diff(before.matrix(ctx) if before else None, after.matrix(ctx))
    got = [
        (c.province, c.step, c.before, c.after, c.as_json()["reason"], c.kind, c.line())
        for c in found
    ]
    assert got == expected
    keys = ("province", "step", "before", "after", "reason", "kind")
    assert [c.as_json() for c in found] == [dict(zip(keys, e[:6], strict=True)) for e in expected]


@pytest.mark.parametrize("status", STATUSES)
def test_kind_and_line_of_every_status(status: str) -> None:
    """Only newly done, regressed and overdue are worth a message; a reason is shown unless the
    cell is done, and an empty one adds nothing."""
    change = changes.Change("31", PROBE, "failing", status, "why")
    assert change.kind == (status if status in ("done", "regressed", "overdue") else None)
    shown = "" if status == "done" else " (why)"
    assert change.line() == f"31 portal-closure: failing -> {status}{shown}"
    assert changes.Change("31", PROBE, None, status, "").line() == (
        f"31 portal-closure: new -> {status}"
    )
