"""The store contract, the same tests on both backends: SQLite and a real PostgreSQL server.

Change-only history, confirmations, as-of, the history series, people's records, the
timeline, runs, who was heard from when, and concurrent writers."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from store_helpers import record_run

from cutover import service
from cutover.checklist import Overlay
from cutover.probes import Limits
from cutover.store.base import AttestationRecord, Store, WaiverRecord, open_store
from cutover.store.evidence import evidence_at
from cutover.store.series import done_series

T0 = datetime(2025, 6, 27, 8, 0, tzinfo=UTC)  # before every telegram deadline
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)
PROBE = "portal-closure"  # province-level, freshness 24h
MANUAL = "commune-plans"  # manual attestation with a freshness window


@pytest.fixture(scope="module")
def ctx() -> service.Context:
    return service.prepare(service.Selection(provinces=["31", "01"]), Overlay())


@pytest.fixture(params=["sqlite", "postgres"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A new, empty store of each kind: a SQLite file, or a fresh PostgreSQL database with
    its schema, whose owner (the URL's role) is national under forced row-level security."""
    if request.param == "sqlite":
        return str(tmp_path / "s.db")
    from cutover.store import admin

    db = request.getfixturevalue("pg_db")
    admin.init(db.url, {})
    return str(db.url)


@pytest.fixture
def store(location: str) -> Iterator[Store]:
    opened = open_store(location, environ={})
    yield opened
    opened.close()


def test_repeats_are_confirmed_not_written(store: Store, ctx: service.Context) -> None:
    key = ("31", PROBE, "")
    other = ("01", PROBE, "")
    first = record_run(store, T0, {key: "pass", other: "fail"})
    second = record_run(store, T0 + HOUR, {key: "pass", other: "fail"})
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
    record_run(store, late, {key: "pass"})
    assert service.stored_matrix(narrow, store, late + HOUR).cell("31", PROBE).status == "done"
    assert store.describe().counts["results"] == 2


def test_a_change_is_written_and_its_time_kept(store: Store) -> None:
    key = ("31", PROBE, "")
    record_run(store, T0, {key: "pass"})
    record_run(store, T0 + HOUR, {key: "fail"})
    record_run(store, T0 + 2 * HOUR, {key: "fail"})
    assert store.describe().counts["results"] == 2
    raw = store.raw_evidence(["31"], [PROBE], T0, T0 + 3 * HOUR)
    rows = raw.probes[key]
    assert [(r.outcome, r.at, r.reason) for r in rows] == [
        ("pass", T0, ""),
        ("fail", T0 + HOUR, "fail reason"),
    ]
    assert raw.first_done[key] == T0
    evidence, history = evidence_at(raw, T0 + 3 * HOUR)
    assert evidence[key].outcome == "fail"
    assert evidence[key].at == T0 + 2 * HOUR  # confirmed by the third run's only result
    assert key in history.was_done


def test_first_passes_and_who_ran_each_row(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A unit's first pass is the earlier of its first passing probe and its first passing
    attestation, and only when that is not after the end asked for; it is looked up for the
    units with a failing row in the read (probe or attestation), the only ones that can be
    `regressed`, a few at a time.  Each row names the run that wrote it, looked up a few runs
    at a time."""
    from cutover.store import sql

    monkeypatch.setattr(sql, "RUN_IDS_CHUNK", 2)
    monkeypatch.setattr(sql, "UNIT_IDS_CHUNK", 2)
    probe_only, person_first, person_only, late = (
        ("31", PROBE, ""), ("01", PROBE, ""), ("79", PROBE, ""), ("48", PROBE, "")
    )  # fmt: skip
    always, person_fails = ("92", PROBE, ""), ("56", PROBE, "")
    record_run(store, T0 - HOUR, {always: "pass", person_fails: "pass"}, host="z")
    store.add_attestation(AttestationRecord(*person_fails, "fail", "officer", T0 + 2 * HOUR))
    record_run(store, T0, {probe_only: "fail", person_first: "fail"}, host="a")
    record_run(store, T0 + HOUR, {probe_only: "pass", person_first: "pass"}, host="b")
    record_run(store, T0 + 2 * HOUR, {person_only: "fail"}, host="c")
    store.add_attestation(AttestationRecord(*person_first, "pass", "officer", T0 + HOUR / 2))
    store.add_attestation(AttestationRecord(*person_only, "pass", "officer", T0 + 3 * HOUR))
    record_run(store, T0 + 5 * HOUR, {late: "pass"}, host="d")
    provinces = ["31", "01", "79", "48", "92", "56"]
    raw = store.raw_evidence(provinces, [PROBE], T0, T0 + 4 * HOUR)
    assert raw.first_done == {
        probe_only: T0 + HOUR,
        person_first: T0 + HOUR / 2,
        person_only: T0 + 3 * HOUR,
        person_fails: T0 - HOUR + SECOND,
    }  # `late` passed after the end: not yet done; `always` never failed: not looked up
    _, history = evidence_at(raw, T0 + 4 * HOUR)
    assert history.was_done == {probe_only, person_first, person_only, person_fails}
    by = {key: [(r.at, r.by) for r in rows] for key, rows in raw.probes.items()}
    assert by[probe_only] == [(T0, "u@a"), (T0 + HOUR, "u@b")]
    assert by[person_first] == [(T0 + SECOND, "u@a"), (T0 + HOUR + SECOND, "u@b")]
    assert by[person_only] == [(T0 + 2 * HOUR, "u@c")]
    assert late not in raw.probes


def test_an_incomplete_run_writes_its_repeats(store: Store) -> None:
    outcomes = {("31", PROBE, ""): "pass", ("01", PROBE, ""): "pass"}
    record_run(store, T0, outcomes)
    partial = record_run(store, T0 + HOUR, outcomes, complete=False)
    assert not partial.complete and partial.interrupted
    # It confirms nothing implicitly, so the unit it did see is written out again.
    assert store.describe().counts["results"] == 3
    raw = store.raw_evidence(["31", "01"], [PROBE], T0 + 2 * HOUR, T0 + 2 * HOUR)
    evidence, _ = evidence_at(raw, T0 + 2 * HOUR)
    assert evidence[("31", PROBE, "")].at == T0 + HOUR
    assert evidence[("01", PROBE, "")].at == T0 + timedelta(seconds=1)


def test_as_of_and_history_series_agree_with_a_full_rollup(
    store: Store, ctx: service.Context
) -> None:
    """The fast series equals a full rollup at every point, through changes, a regression,
    an attestation that overrides a probe, a waiver that expires, and a gap long enough to go
    stale."""
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
        record_run(store, at, outcomes)
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
    assert [c.source for c in store.changes(["31", "01"], [PROBE, "sso-test", MANUAL],
                                             T0 + 29 * HOUR, T0 + 32 * HOUR)] == [
        "probe", "attestation", "probe"
    ]  # fmt: skip


def test_a_run_carries_its_origin(store: Store, ctx: service.Context) -> None:
    from cutover.env import Environment, fixed_clock

    env = replace(Environment(environ={"CUTOVER_SITE": "31"}), clock=fixed_clock(T0),
                  user="officer", host="hp-01")  # fmt: skip
    narrow = ctx.narrow(["31"], [MANUAL])  # nothing to probe: no network needed
    run = asyncio.run(service.run_checks(narrow, Limits(), env, store=store, command="check"))
    assert run.record is not None
    assert (run.record.site, run.record.user, run.record.host) == ("31", "officer", "hp-01")
    assert run.record.started_at == T0 and run.record.scope_provinces == ("31",)
    assert run.record.complete and run.record.scope_steps == ()
    assert store.last_run() == run.record
    assert store.runs() == [run.record]


def test_the_last_run_by_a_time(store: Store, ctx: service.Context) -> None:
    """What a Prometheus export made at that time reported: the newest run that had started."""
    from cutover.env import Environment, fixed_clock

    narrow = ctx.narrow(["31"], [MANUAL])  # nothing to probe: no network needed
    records = []
    for start in (T0, T0 + HOUR, T0 + 2 * HOUR):
        env = replace(Environment(environ={}), clock=fixed_clock(start))
        run = asyncio.run(service.run_checks(narrow, Limits(), env, store=store, command="check"))
        records.append(run.record)
    assert store.last_run(T0 - SECOND) is None
    assert store.last_run(T0) == records[0]
    assert store.last_run(T0 + HOUR + SECOND) == records[1]
    assert store.last_run(T0 + 5 * HOUR) == store.last_run() == records[2]


def test_people_records_come_back_as_written(store: Store) -> None:
    mark = store.add_attestation(
        AttestationRecord(
            "31", MANUAL, "", "pass", "Nguyễn Văn A", T0, None, "ab" * 32, "plan.pdf", "all", "31"
        )
    )
    again = store.add_attestation(
        AttestationRecord("31", MANUAL, "", "fail", "Trần B", T0 + HOUR, "https://x.vn/bc")
    )
    waiver = store.add_waiver(WaiverRecord("31", PROBE, "contract", "VPCP", T0 + 9 * HOUR, T0))
    assert mark.id is not None and again.id is not None and again.id > mark.id
    assert waiver.id is not None
    raw = store.raw_evidence(["31"], [MANUAL, PROBE], T0 - HOUR, T0 + 2 * HOUR)
    assert list(raw.attestations[("31", MANUAL, "")]) == [mark, again]
    assert list(raw.waivers[("31", PROBE)]) == [waiver]
    events = list(store.timeline("31", None))
    assert [(e.kind, e.outcome, e.by, e.evidence) for e in events] == [
        ("attestation", "pass", "Nguyễn Văn A", "sha256:" + "ab" * 32),
        ("waiver", "waived", "VPCP", ""),
        ("attestation", "fail", "Trần B", "https://x.vn/bc"),
    ]
    # The waiver's end comes back as a time (the reader words it in its language and zone).
    assert (events[1].reason, events[1].until) == ("contract", T0 + 9 * HOUR)
    assert events[0].until is None and events[2].until is None
    assert store.last_change() == T0 + HOUR


def test_timeline_says_when_a_state_was_last_confirmed(store: Store) -> None:
    key = ("31", PROBE, "")
    first = record_run(store, T0, {key: "fail"})
    second = record_run(store, T0 + HOUR, {key: "pass"})
    last = record_run(store, T0 + 2 * HOUR, {key: "pass"})
    events = list(store.timeline("31", PROBE))
    assert [(e.outcome, e.at, e.confirmed_at) for e in events] == [
        ("fail", T0, None),
        ("pass", T0 + HOUR, last.confirmed_at),
    ]
    # As of a past moment, "last confirmed" is the latest run by then, not a later one.
    (_, past) = store.timeline("31", PROBE, until=T0 + HOUR + 40 * SECOND)
    assert past.confirmed_at is None  # the row's own run: nothing had found it again yet
    # Who wrote each row stays data (the run and its user@host), worded by the reader.
    assert [(e.run_id, e.by) for e in events] == [(first.id, "u@h"), (second.id, "u@h")]
    assert store.evaluation_times(T0 + 3 * HOUR, 2) == [T0 + HOUR, T0 + 2 * HOUR]


def test_a_quiet_province_is_confirmed_without_reading_the_other_provinces_runs(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A province whose site went quiet: its latest confirming run is older than many runs of
    another province.  Its evidence and its timeline still carry that run's confirmation, and
    the reads do not walk the runs in between (a page of 4 here: `RUN_PAGE`)."""
    from cutover.store import sql

    monkeypatch.setattr(sql, "RUN_PAGE", 4)
    quiet, busy = ("01", PROBE, ""), ("31", PROBE, "")
    record_run(store, T0, {quiet: "pass", busy: "pass"})
    confirming = record_run(store, T0 + HOUR, {quiet: "pass", busy: "pass"})
    for i in range(12):  # the busy province's cron, alone, afterwards
        latest = record_run(store, T0 + 2 * HOUR + i * timedelta(minutes=15), {busy: "pass"})
    now = T0 + 6 * HOUR
    raw = store.raw_evidence(["31", "01"], [PROBE], now, now)
    evidence, _ = evidence_at(raw, now)
    assert evidence[quiet].at == confirming.confirmed_at  # not T0, when its row was written
    assert evidence[busy].at == latest.confirmed_at
    assert confirming.id in {run.id for run in raw.runs}
    assert len(raw.runs) <= 4 + 1  # the walked page and the quiet province's one run
    runs = [run.confirmed_at for run in raw.runs]
    assert runs == sorted(runs, reverse=True)  # newest first, as the rollup reads them
    (event,) = store.timeline("01", PROBE)
    assert event.confirmed_at == confirming.confirmed_at
    # As of a moment before the busy province's runs, the same run confirms both.
    before = T0 + HOUR + 40 * SECOND
    evidence, _ = evidence_at(store.raw_evidence(["31", "01"], [PROBE], before, before), before)
    assert evidence[quiet].at == evidence[busy].at == confirming.confirmed_at


def test_every_statement_of_a_read_seeks_with_an_index(
    store: Store, location: str, ctx: service.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The statements the store really runs for the matrix now, as of a past moment, the
    history series and a unit's timeline, each explained by the database: every table is
    reached through an index (SQLite: SEARCH, never SCAN; PostgreSQL, with sequential scans
    discouraged since it would scan tables this small anyway: no Seq Scan)."""
    narrow = ctx.narrow(["31", "01"], [PROBE, MANUAL])
    a, b = ("31", PROBE, ""), ("01", PROBE, "")
    record_run(store, T0, {a: "fail", b: "pass"})
    record_run(store, T0 + HOUR, {a: "pass", b: "pass"})
    store.add_attestation(AttestationRecord("01", MANUAL, "", "pass", "officer", T0 + HOUR))
    store.add_waiver(WaiverRecord("01", PROBE, "bank", "leader", T0 + 3 * HOUR, T0 + HOUR))
    run = store._rows  # type: ignore[attr-defined]  # the backends' one hook for reads
    statements: list[tuple[str, tuple[object, ...]]] = []

    def recording(sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        statements.append((sql, tuple(args)))
        return run(sql, args)  # type: ignore[no-any-return]

    monkeypatch.setattr(store, "_rows", recording)
    service.stored_matrix(narrow, store, T0 + 2 * HOUR)
    service.stored_matrix(narrow, store, T0 + HOUR / 2)
    done_series(store, narrow.provinces, narrow.steps, [T0, T0 + HOUR, T0 + 2 * HOUR])
    list(store.timeline("31", PROBE, latest=5))
    monkeypatch.undo()
    assert len(statements) > 8
    sqlite = not location.startswith("postgres")
    if not sqlite:
        run("SELECT set_config('enable_seqscan', 'off', false)")
    for sql, args in statements:
        explain = ("EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN ") + sql
        plan = [str(row[-1]) for row in run(explain, args)]
        if sqlite:  # a scan of a table by its name or alias (a subquery's result is no table)
            names = {n for match in _TABLE.finditer(sql) for n in match.groups() if n}
            scans = [line for line in plan if line.split(" ")[:2] in (["SCAN", n] for n in names)]
        else:
            scans = [line for line in plan if "Seq Scan" in line]
        assert not scans, (" ".join(sql.split()), plan)


# A table of the store after FROM or JOIN, and its alias if it has one.
_TABLE = re.compile(
    r"\b(?:FROM|JOIN)\s+(runs|units|results|attestations|waivers)\b"
    r"(?:\s+(?!WHERE\b|JOIN\b|ON\b|ORDER\b|GROUP\b|UNION\b|LEFT\b|AS\b)(\w+))?"
)


def test_changes_are_measured_against_what_the_last_run_left(
    store: Store, ctx: service.Context
) -> None:
    """`service.matrix_before_run`: nothing before the first run; then the matrix as the last
    run left it (its evidence, judged at its own time or at the caller's fixed moment), so a
    new run's regression is one change."""
    from cutover import changes

    narrow = ctx.narrow(["31"], [PROBE])
    key = ("31", PROBE, "")
    assert service.matrix_before_run(narrow, store, None) is None
    record_run(store, T0, {key: "fail"})
    last = record_run(store, T0 + HOUR, {key: "pass"})
    before = service.matrix_before_run(narrow, store, None)
    assert before is not None and before.as_of == last.confirmed_at
    assert before.cell("31", PROBE).status == "done"
    late = T0 + 100 * HOUR  # past the deadline and the 24 h freshness
    fixed = service.matrix_before_run(narrow, store, late)
    assert fixed is not None and fixed.as_of == late
    assert fixed.cell("31", PROBE).status == "stale"
    now = record_run(store, T0 + 2 * HOUR, {key: "fail"})
    after = service.stored_matrix(narrow, store, now.confirmed_at or T0)
    found = changes.diff(before, after)
    assert [(c.province, c.step, c.before, c.after) for c in found] == [
        ("31", PROBE, "done", "regressed")
    ]


def test_last_heard_from_runs_and_attestations(store: Store, ctx: service.Context) -> None:
    record_run(store, T0, {("31", PROBE, ""): "pass"})
    record_run(store, T0 + 2 * HOUR, {("31", PROBE, ""): "pass"}, complete=False)
    store.add_attestation(AttestationRecord("01", MANUAL, "", "pass", "A", T0 + HOUR))
    everyone = ["31", "01", "79"]
    # A run is heard at its last result; the incomplete one had none, so at its end; and
    # before that end, at its start.
    end = T0 + 2 * HOUR + 30 * SECOND
    assert store.last_heard(everyone, T0 + 3 * HOUR) == {"31": end, "01": T0 + HOUR}
    assert store.last_heard(everyone, end - SECOND)["31"] == T0 + 2 * HOUR
    assert store.last_heard(everyone, T0 + HOUR / 2) == {"31": T0}
    assert store.last_heard(everyone, T0 - HOUR) == {}
    narrow = ctx.narrow(["31", "01", "79"], [PROBE])
    beat = timedelta(minutes=90)
    matrix = service.stored_matrix(narrow, store, T0 + 3 * HOUR, silent_after=beat)
    assert matrix.silent == {"01": T0 + HOUR, "79": None}
    assert matrix.silent_after == timedelta(minutes=90)
    plain = service.stored_matrix(narrow, store, T0 + 3 * HOUR)
    assert plain.silent == {} and plain.silent_after is None
    assert matrix.cells == plain.cells  # no news changes no cell: neither done nor failing


def test_two_writers_at_once_write_each_change_once(store: Store, location: str) -> None:
    """Two overlapping runs over the same units, each on its own connection as two cron
    processes would be: whichever commits a unit first writes it, the other finds the same
    and confirms it; both are complete."""
    outcomes = {("31", "online-filing-test", f"{i:05d}"): "pass" for i in range(1200)}
    outcomes |= {("01", PROBE, ""): "fail"}
    stores = [open_store(location, environ={}) for _ in range(2)]
    runs = []
    threads = [
        threading.Thread(target=lambda s=s: runs.append(record_run(s, T0, outcomes)))
        for s in stores
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for other in stores:
        other.close()
    assert [r.complete for r in runs] == [True, True]
    assert store.describe().counts["results"] == 1201
    assert store.describe().counts["units"] == 1201


def _history(store: Store) -> None:
    """Twelve hourly runs over three units whose outcomes change at different paces, an
    attestation that overrides a probe and a waiver: 20-odd changes in all."""
    cycle = ("pass", "fail", "unknown")
    units = [("31", PROBE, ""), ("01", PROBE, ""), ("31", "sso-test", "")]
    for i in range(12):
        record_run(
            store, T0 + i * HOUR, {u: cycle[(i // (j + 1)) % 3] for j, u in enumerate(units)}
        )
    store.add_attestation(
        AttestationRecord("31", "sso-test", "", "pass", "officer", T0 + 5 * HOUR + 30 * 60 * SECOND)
    )
    store.add_waiver(WaiverRecord("01", PROBE, "bank", "leader", T0 + 30 * HOUR, T0 + 7 * HOUR))


@pytest.mark.parametrize("province", ["31", None])
@pytest.mark.parametrize("since", [None, T0 + 3 * HOUR, T0 + 6 * HOUR + SECOND, T0 + 99 * HOUR])
@pytest.mark.parametrize("limit", [1, 2, 5, 12, 100])
def test_history_shows_the_latest_changes_and_counts_the_rest(
    store: Store, province: str | None, since: datetime | None, limit: int
) -> None:
    """A bounded history is the tail of the whole one, line for line (each change still says
    what it changed from), and says how many earlier changes it left out; `since` keeps the
    changes from a time on, each against the state before it."""
    from cutover.people import history_lines

    _history(store)
    zone = "Asia/Ho_Chi_Minh"
    everything = history_lines(store, province, None, zone, "en").lines
    whole = history_lines(store, province, None, zone, "en", since=since).lines
    page = history_lines(store, province, None, zone, "en", limit=limit, since=since)
    if since is None:
        assert whole == everything and len(everything) > 15
    elif since > T0 + 20 * HOUR:
        assert whole == ["no history recorded"] and page.lines == whole and not page.earlier
        return
    else:  # the changes since a time end the whole history, "before -> after" included
        assert everything[-len(whole) :] == whole and len(whole) < len(everything)
    assert page.lines == whole[-limit:]
    assert page.earlier == len(whole) - len(page.lines) and not page.more
    assert (page.note(limit) is None) == (limit >= len(whole))


def test_history_reads_a_bounded_number_of_rows(store: Store) -> None:
    """With a limit the store returns at most limit + 1 events per unit, however long the
    history; and it counts earlier events up to a cap."""
    _history(store)
    events = list(store.timeline(None, None, latest=3))
    per_unit: dict[tuple[str, str, str, str], int] = {}
    for e in events:
        k = (e.province, e.step, e.commune, e.kind)
        per_unit[k] = per_unit.get(k, 0) + 1
    assert max(per_unit.values()) == 3 and len(events) < len(list(store.timeline(None, None)))
    everything = len(list(store.timeline(None, None)))
    far = T0 + 99 * HOUR
    assert store.timeline_count(None, None, before=far, cap=10**6) == everything
    assert store.timeline_count(None, None, before=far, cap=2) == 2 + 1 + 1  # per kind
    assert store.timeline_count("31", PROBE, before=T0, cap=10) == 0


def test_results_reach_the_writer_in_batches(
    store: Store, ctx: service.Context, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch is handed over when it is full or when its first result has waited SAVE_AFTER;
    every result is stored all the same."""
    from cutover import engine
    from cutover.env import Environment, fixed_clock
    from cutover.probes import Outcome

    narrow = ctx.narrow(["31"], None)
    targets = [t for t in narrow.targets if not t.step.verify.manual]
    assert len(targets) > 20

    async def fake_run(targets_, endpoints, limits, *, on_result, **_):  # type: ignore[no-untyped-def]
        automated = [t for t in targets_ if not t.step.verify.manual]
        for i, target in enumerate(automated):
            on_result(engine.Result(*target.key, Outcome("pass", "", "200", 1.0), T0 + i * SECOND))
            if i == 2:
                await asyncio.sleep(service.SAVE_AFTER * 2)  # the first 3 go by the timer

    handed: list[int] = []
    start_run = store.start_run

    def spying_start(start):  # type: ignore[no-untyped-def]
        writer = start_run(start)
        put_many = writer.put_many

        def spy(results):  # type: ignore[no-untyped-def]
            handed.append(len(results))
            put_many(results)

        writer.put_many = spy  # type: ignore[method-assign]
        return writer

    monkeypatch.setattr(store, "start_run", spying_start)
    monkeypatch.setattr(engine, "run", fake_run)
    monkeypatch.setattr(service, "SAVE_BATCH", 7)
    monkeypatch.setattr(service, "SAVE_AFTER", 0.2)
    env = replace(Environment(environ={}), clock=fixed_clock(T0))
    run = asyncio.run(service.run_checks(narrow, Limits(), env, store=store, command="check"))
    assert handed[0] == 3 and max(handed) == 7 and sum(handed) == len(targets)
    assert run.record is not None and run.record.complete
    assert store.describe().counts["results"] == len(targets)


def test_units_another_writer_made_meanwhile_are_compared_with(
    store: Store, ctx: service.Context
) -> None:
    """Units a run has not seen in its scope are made in batches; when another writer made
    them (and wrote their rows) since, the run compares with those rows like any other."""
    import time

    from cutover.engine import Result
    from cutover.probes import Outcome
    from cutover.store.base import RunStart

    narrow = ctx.narrow(["31"], None)
    keys = [t.key for t in narrow.targets if not t.step.verify.manual][:12]
    provinces = tuple(sorted({k[0] for k in keys}))
    steps = tuple(sorted({k[1] for k in keys}))
    start = RunStart("c", "d" * 64, "s", "check", "u", "h", "31", T0, provinces, steps, 12)
    a = store.start_run(start)
    a.put(Result(*keys[0], Outcome("pass", "", None, 1.0), T0))  # a reads its (empty) scope
    deadline = time.monotonic() + 10
    while a.written < 1 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    b = store.start_run(replace(start, uid="b" * 32))
    b.put_many([Result(*k, Outcome("fail", "no", None, 1.0), T0 + SECOND) for k in keys[1:7]])
    b.finish(interrupted=False, finished_at=T0 + 2 * SECOND, duration_s=2.0)
    # a now sees units 1-6 (made by b, with rows) and 7-11 (new) for the first time.
    later = T0 + 3 * SECOND
    a.put_many([Result(*k, Outcome("fail", "no", None, 1.0), later) for k in keys[1:]])
    record = a.finish(interrupted=False, finished_at=later + SECOND, duration_s=4.0)
    assert record.complete
    # b's 6 rows, a's first row and a's 5 rows for units nobody had written: no repeats.
    assert store.describe().counts["results"] == 6 + 1 + 5
    assert store.describe().counts["units"] == len(keys)


def test_a_run_compares_with_what_another_writer_wrote_since_it_started(store: Store) -> None:
    """A run reads its scope's latest rows when it starts.  Another writer then changes a
    unit that the run's next batch does not contain: when the run's result for that unit,
    in a later batch, equals the row the run first read, it is still a change (from the
    other writer's row), so it is written and the unit's history stays right."""
    import time

    from cutover.engine import Result
    from cutover.probes import Outcome
    from cutover.store.base import RunStart, from_us

    x, w, y = ("31", PROBE, ""), ("01", PROBE, ""), ("31", "sso-test", "")
    record_run(store, T0, {x: "pass", w: "pass", y: "pass"})
    start = RunStart("c", "d" * 64, "s", "check", "u", "h", "31", T0 + HOUR, ("01", "31"),
                     (PROBE, "sso-test"), 3)  # fmt: skip
    a = store.start_run(start)

    def put_and_wait(unit: tuple[str, str, str], seen: int) -> None:
        a.put(Result(*unit, Outcome("pass", "", None, 1.0), T0 + 2 * HOUR))
        deadline = time.monotonic() + 10
        while len(a.seen) < seen and time.monotonic() < deadline:  # type: ignore[attr-defined]
            time.sleep(0.01)

    put_and_wait(x, 1)  # a's first batch
    b = store.start_run(replace(start, uid="b" * 32, scope_steps=("sso-test",), expected_results=1))
    b.put(Result(*y, Outcome("fail", "down", None, 1.0), T0 + HOUR))
    b.finish(interrupted=False, finished_at=T0 + HOUR, duration_s=1.0)
    put_and_wait(w, 2)  # a's next batch holds w only
    put_and_wait(y, 3)  # "pass" again: a change from b's "fail"
    assert a.finish(interrupted=False, finished_at=T0 + 2 * HOUR, duration_s=1.0).complete
    changes = [(c.outcome, from_us(c.at_us))
               for c in store.changes(["31"], ["sso-test"], T0, T0 + 3 * HOUR)]  # fmt: skip
    assert [outcome for outcome, _ in changes] == ["pass", "fail", "pass"], changes
    assert changes[1:] == [("fail", T0 + HOUR), ("pass", T0 + 2 * HOUR)]
