"""The SQL both backends speak, written once: statement texts, the reading half of the store
contract (`SqlReader`), and the writer's queue and thread (`QueuedWriter`).

Statements use `?` placeholders (SQLite's); `to_pg` turns them into psycopg's `%s`.  Only
what differs stays in the backends: connecting, transactions, migrations, locking, and how a
batch of results finds its ids (SQLite numbers rows in order under its write lock; PostgreSQL
says with `RETURNING id`).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from functools import lru_cache
from typing import Any

from cutover.errors import StoreError
from cutover.store.base import (
    FAR_FUTURE,
    AttestationRecord,
    OutcomeChange,
    ProbeResultLike,
    ProbeRow,
    RawEvidence,
    RunRecord,
    RunStart,
    TimelineEvent,
    UnitKey,
    WaiverRecord,
    from_us,
    to_us,
)
from cutover.store.evidence import Cell, covering_runs

BATCH = 500  # results per writer transaction
RUN_PAGE = 256  # complete runs read at a time, newest first
RUN_IDS_CHUNK = 500  # run ids per lookup of who ran them (well under any bound on parameters)
UNIT_IDS_CHUNK = 500  # unit ids per lookup of first passes (likewise)
TABLES = ("runs", "units", "results", "attestations", "waivers")
BUNDLE_TABLES = ("bundle_exports", "bundle_imports")  # schema 4: signed bundles' ledgers

Row = tuple[Any, ...]
NO_RUN = "CAST(NULL AS BIGINT)"  # a timeline row's run, for the events no run made (typed: a
# NULL column of PostgreSQL's UNION needs one)


def oldest_by_province(rows: Iterable[tuple[str, datetime]]) -> dict[str, datetime]:
    """Per province, the oldest of these (province, time) pairs: the earliest row read, before
    which no run can confirm anything there."""
    oldest: dict[str, datetime] = {}
    for province, at in rows:
        if province not in oldest or at < oldest[province]:
            oldest[province] = at
    return oldest


@lru_cache(maxsize=256)
def to_pg(sql: str) -> str:
    """`?` placeholders to psycopg's `%s` (a literal `%` doubles).  No statement here has a
    `?` or `%` inside a string literal."""
    return sql.replace("%", "%%").replace("?", "%s")


def in_list(column: str, values: Sequence[object]) -> str:
    return f"{column} IN ({','.join('?' * len(values))})" if values else "0 = 1"


RUN_COLUMNS = (
    "id, uid, site, run_by, host, command, checklist_id, checklist_digest, checklist_source,"
    " started_at, finished_at, confirmed_at, duration_ms, complete, interrupted,"
    " scope_provinces, scope_steps"
)
INSERT_RUN = (
    "INSERT INTO runs (uid, site, run_by, host, command, checklist_id, checklist_digest,"
    " checklist_source, scope_provinces, scope_steps, expected_results, started_at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)"
)
CLOSE_RUN = (
    "UPDATE runs SET finished_at = ?, confirmed_at = ?, duration_ms = ?, complete = ?,"
    " interrupted = ? WHERE id = ?"
)
SELECT_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"
INSERT_UNIT = "INSERT INTO units (province, step, commune) VALUES (?,?,?) ON CONFLICT DO NOTHING"
UNIT_ID = "SELECT id FROM units WHERE province = ? AND step = ? AND commune = ?"
INSERT_RESULT = (
    "INSERT INTO results (run_id, unit_id, province, outcome, reason, observed, duration_ms, at,"
    " insecure) VALUES (?,?,?,?,?,?,?,?,?)"
)
# An incomplete run confirms nothing implicitly, so it writes out the repeats it found.
COPY_REPEAT = (
    "INSERT INTO results (run_id, unit_id, province, outcome, reason, observed, duration_ms, at,"
    " insecure) SELECT ?, unit_id, province, outcome, reason, observed, ?, ?, insecure"
    " FROM results WHERE id = ?"
)
LATEST_ROW = (
    "SELECT id, at, outcome, reason, observed, insecure FROM results WHERE unit_id = ?"
    " ORDER BY at DESC, id DESC LIMIT 1"
)
INSERT_ATTESTATION = (
    "INSERT INTO attestations (uid, site, unit_id, province, outcome, attested_by,"
    " evidence_url, evidence_sha256, evidence_name, note, at) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
)
INSERT_WAIVER = (
    "INSERT INTO waivers (uid, site, province, step, reason, approver, until_at, at)"
    " VALUES (?,?,?,?,?,?,?,?)"
)


def run_values(start: RunStart) -> tuple[object, ...]:
    return (
        start.uid,
        start.site,
        start.user,
        start.host,
        start.command,
        start.checklist_id,
        start.checklist_digest,
        start.checklist_source,
        ",".join(start.scope_provinces),
        ",".join(start.scope_steps),
        start.expected_results,
        to_us(start.started_at),
    )


def close_values(
    run_id: int,
    confirmed: datetime,
    finished_at: datetime,
    duration_s: float,
    complete: bool,
    interrupted: bool,
) -> tuple[object, ...]:
    return (
        to_us(finished_at),
        to_us(confirmed),
        round(duration_s * 1000, 1),
        int(complete),
        int(interrupted),
        run_id,
    )


def attestation_values(record: AttestationRecord, unit: int) -> tuple[object, ...]:
    return (
        record.uid,
        record.site,
        unit,
        record.province,
        record.outcome,
        record.by,
        record.evidence_url,
        record.evidence_sha256,
        record.evidence_name,
        record.note,
        to_us(record.at),
    )


def waiver_values(record: WaiverRecord) -> tuple[object, ...]:
    return (
        record.uid,
        record.site,
        record.province,
        record.step,
        record.reason,
        record.approver,
        to_us(record.until),
        to_us(record.at),
    )


def run_record(row: Sequence[Any]) -> RunRecord:
    (id_, uid, site, user, host, command, cid, digest, source, started, finished, confirmed,
     duration, complete, interrupted, provinces, steps) = row  # fmt: skip
    return RunRecord(
        id=int(id_),
        uid=str(uid),
        site=str(site),
        user=str(user),
        host=str(host),
        command=str(command),
        checklist_id=str(cid),
        checklist_digest=str(digest),
        checklist_source=str(source),
        started_at=from_us(started),
        finished_at=from_us(finished) if finished is not None else None,
        confirmed_at=from_us(confirmed) if confirmed is not None else None,
        duration_s=None if duration is None else float(duration) / 1000,
        complete=bool(complete),
        interrupted=bool(interrupted),
        scope_provinces=tuple(str(provinces).split(",")) if provinces else (),
        scope_steps=tuple(str(steps).split(",")) if steps else (),
    )


# A unit's latest row as a writer compares with it: id, at, outcome, reason, observed, insecure
Latest = tuple[int, int, str, str, str | None, int]
State = tuple[str, str, str | None, int]  # outcome, reason, observed, insecure


def unit_key(result: ProbeResultLike) -> UnitKey:
    return (result.province, result.step, result.commune)


def plan_batch(
    run_id: int,
    batch: Sequence[ProbeResultLike],
    units: Sequence[int],
    latest: Mapping[int, Latest],
) -> tuple[list[tuple[object, ...]], list[tuple[int, float, int]], list[tuple[int, int, State]]]:
    """The change-only rule, the same for every backend: a result identical to its unit's
    latest row (outcome, reason, observed value, TLS flag) is a repeat, not a row.  Returns the
    rows to insert (INSERT_RESULT's order), the repeats (latest row id, duration, time) and, for
    each row, its unit, time and state."""
    rows: list[tuple[object, ...]] = []
    repeats: list[tuple[int, float, int]] = []
    fresh: list[tuple[int, int, State]] = []
    for r, unit in zip(batch, units, strict=True):
        o = r.outcome
        at = to_us(r.at)
        state: State = (o.status, o.reason, o.observed, int(r.insecure))
        known = latest.get(unit)
        if known is not None and known[2:] == state:
            repeats.append((known[0], o.duration_ms, at))
            continue
        rows.append((run_id, unit, r.province, *state[:3], o.duration_ms, at, state[3]))
        fresh.append((unit, at, state))
    return rows, repeats, fresh


def unit_filter(province: str | None, step: str | None) -> tuple[str, list[str]]:
    """The condition on units `u` of `timeline`'s filter (None: any), and its arguments."""
    where, args = [], []
    if province:
        where.append("u.province = ?")
        args.append(province)
    if step:
        where.append("u.step = ?")
        args.append(step)
    return " AND ".join(where) or "1 = 1", args


class SqlReader:
    """Every read of the store contract, over two hooks a backend provides: `_rows` (run one
    statement, return its rows) and `translated` (turn the driver's errors into StoreError).
    `_reading` groups the statements of one read; PostgreSQL makes it one snapshot."""

    location: str

    def _rows(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        raise NotImplementedError

    def translated(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _reading(self) -> AbstractContextManager[None]:
        return self.translated()

    def latest_join(self, table: str, alias: str) -> str:
        """Join each unit `u` to its latest row of `table` at or before a `?` time, as `alias`:
        an index seek per unit.  SQLite says it with a scalar subquery; PostgreSQL plans that
        as a scan of the whole table, so it says LATERAL instead."""
        return f"""JOIN {table} {alias} ON {alias}.id = (SELECT x.id FROM {table} x
            WHERE x.unit_id = u.id AND x.at <= ? ORDER BY x.at DESC, x.id DESC LIMIT 1)"""

    def raw_evidence(
        self,
        provinces: Sequence[str],
        steps: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        window_rows: bool = True,
    ) -> RawEvidence:
        """Per unit: the latest row at `start` (an index seek each) and, with `window_rows`,
        every row in (`start`, `end`] (an index range each).  Waivers, first passes and
        confirming runs always reach `end`; first passes are looked up only for the units that
        can be `regressed` (see `RawEvidence`).  Cost follows units, not history."""
        units = in_list("u.province", provinces) + " AND " + in_list("u.step", steps)
        args = (*provinces, *steps)
        s, e = to_us(start), to_us(end)
        with self._reading():
            w = e if window_rows else s
            failing: set[int] = set()  # the units with a failing row in the read
            probes = self._probe_rows(units, args, s, w, failing)
            attestations = self._attestation_rows(units, args, s, w, failing)
            first_done = self._first_done(sorted(failing), e)
            waivers: dict[tuple[str, str], list[WaiverRecord]] = {}
            for row in self._rows(
                f"SELECT province, step, reason, approver, until_at, at, site, uid, id"
                f" FROM waivers u WHERE {units} AND at <= ? ORDER BY at, id",
                (*args, e),
            ):
                waivers.setdefault((row[0], row[1]), []).append(
                    WaiverRecord(
                        row[0], row[1], row[2], row[3], from_us(row[4]), from_us(row[5]),
                        row[6], row[7], row[8],
                    )
                )  # fmt: skip
            oldest = oldest_by_province((k[0], rows[0].at) for k, rows in probes.items())
            cells = {(p, st) for p, st, _ in probes}
            runs = self._confirming_runs(cells, start, end, oldest)
        return RawEvidence(probes, attestations, waivers, first_done, runs)

    def _first_done(self, unit_ids: Sequence[int], e: int) -> dict[UnitKey, datetime]:
        """The earliest pass, by a probe or a person, at or before `e` of each of `unit_ids`
        that has one (the earlier of the two worked out by the database)."""
        first: dict[UnitKey, datetime] = {}
        for i in range(0, len(unit_ids), UNIT_IDS_CHUNK):
            chunk = unit_ids[i : i + UNIT_IDS_CHUNK]
            rows = self._rows(
                f"""SELECT province, step, commune,
                      CASE WHEN person IS NULL OR probe <= person THEN probe ELSE person END
                    FROM (SELECT u.province, u.step, u.commune,
                        (SELECT MIN(x.at) FROM results x WHERE x.unit_id = u.id
                         AND x.outcome = 'pass') AS probe,
                        (SELECT MIN(a.at) FROM attestations a WHERE a.unit_id = u.id
                         AND a.outcome = 'pass') AS person
                      FROM units u WHERE {in_list("u.id", chunk)}) AS f
                    WHERE probe <= ? OR person <= ?""",
                (*chunk, e, e),
            )
            first.update({(p, st, c): from_us(at) for p, st, c, at in rows})
        return first

    def _probe_rows(
        self, units: str, args: tuple[str, ...], s: int, e: int, failing: set[int]
    ) -> dict[UnitKey, list[ProbeRow]]:
        """Each unit's latest row at `s` and its rows in (`s`, `e`], oldest first; the units
        with a failing one are added to `failing`."""
        select = """SELECT u.province, u.step, u.commune, r.outcome, r.reason, r.observed, r.at,
                           r.insecure, r.run_id, u.id"""
        at_start = f"""{select} FROM units u {self.latest_join("results", "r")}
            WHERE {units}"""
        window = f"""{select} FROM units u JOIN results r ON r.unit_id = u.id
            WHERE {units} AND r.at > ? AND r.at <= ? ORDER BY r.at, r.id"""
        out: dict[UnitKey, list[ProbeRow]] = {}
        rows = self._rows(at_start, (s, *args))
        if e > s:
            rows += self._rows(window, (*args, s, e))
        by = self._run_by({row[8] for row in rows})
        for p, st, c, outcome, reason, observed, at, insecure, run_id, unit in rows:
            who = by.get(run_id)
            if who is None:  # a run this role may not read: left out, as a join to it would
                continue
            if outcome == "fail":
                failing.add(unit)
            out.setdefault((p, st, c), []).append(
                ProbeRow(
                    p, st, c, outcome, reason, observed, from_us(at), bool(insecure), run_id, who
                )
            )  # fmt: skip
        return out

    def _run_by(self, run_ids: set[int]) -> dict[int, str]:
        """user@host of each run: looked up once per run rather than joined to every row
        (a scope's rows come from few runs; the join cost a third of reading them)."""
        ids = sorted(run_ids)
        by: dict[int, str] = {}
        for i in range(0, len(ids), RUN_IDS_CHUNK):
            chunk = ids[i : i + RUN_IDS_CHUNK]
            by.update(
                self._rows(
                    "SELECT id, run_by || '@' || host FROM runs WHERE " + in_list("id", chunk),
                    chunk,
                )
            )
        return by

    def _attestation_rows(
        self, units: str, args: tuple[str, ...], s: int, e: int, failing: set[int]
    ) -> dict[UnitKey, list[AttestationRecord]]:
        """As `_probe_rows`, for attestations."""
        select = """SELECT u.province, u.step, u.commune, a.outcome, a.attested_by, a.at,
                           a.evidence_url, a.evidence_sha256, a.evidence_name, a.note, a.site,
                           a.uid, a.id, u.id"""
        at_start = f"""{select} FROM units u {self.latest_join("attestations", "a")}
            WHERE {units}"""
        window = f"""{select} FROM units u JOIN attestations a ON a.unit_id = u.id
            WHERE {units} AND a.at > ? AND a.at <= ? ORDER BY a.at, a.id"""
        rows = self._rows(at_start, (s, *args))
        if e > s:
            rows += self._rows(window, (*args, s, e))
        out: dict[UnitKey, list[AttestationRecord]] = {}
        for p, st, c, outcome, by, at, url, sha, name, note, site, uid, id_, unit in rows:
            if outcome == "fail":
                failing.add(unit)
            out.setdefault((p, st, c), []).append(
                AttestationRecord(
                    p, st, c, outcome, by, from_us(at), url, sha, name, note, site, uid, id_
                )
            )
        return out

    def changes(
        self, provinces: Sequence[str], steps: Sequence[str], start: datetime, end: datetime
    ) -> list[OutcomeChange]:
        """Every probe row and attestation in (`start`, `end`], oldest first."""
        units = in_list("u.province", provinces) + " AND " + in_list("u.step", steps)
        args = (*provinces, *steps)
        window = (to_us(start), to_us(end))
        with self._reading():
            rows = self._rows(
                f"""SELECT at, source, province, step, commune, outcome FROM (
                    SELECT r.at, 'probe' AS source, u.province, u.step, u.commune, r.outcome,
                           r.id
                    FROM units u JOIN results r ON r.unit_id = u.id
                    WHERE {units} AND r.at > ? AND r.at <= ?
                    UNION ALL
                    SELECT a.at, 'attestation', u.province, u.step, u.commune, a.outcome, a.id
                    FROM units u JOIN attestations a ON a.unit_id = u.id
                    WHERE {units} AND a.at > ? AND a.at <= ?) AS c
                    ORDER BY at, source DESC, id""",
                (*args, *window, *args, *window),
            )
        return list(map(OutcomeChange._make, rows))

    def _confirming_runs(
        self, cells: set[Cell], start: datetime, end: datetime, oldest: Mapping[str, datetime]
    ) -> list[RunRecord]:
        """The complete runs, newest first, that can confirm a row of `cells` anywhere in
        (`start`, `end`]: every run confirmed in that window that covers one of them, and
        each cell's latest covering run at or before `start` that can still confirm a row:
        none confirmed before the province's oldest row read (`oldest`) is looked for, since
        it started before that row.

        The newest runs are walked here while they are in the window, and for one page
        before it: cron's runs cover most cells there.  A cell still without a run after that
        (a province whose site has gone quiet, a step cron leaves out) is looked up by its
        province, the database walking the runs' time index, so the runs that other
        provinces made since are never read into Python (35,000 such runs: reading the
        evidence took 502 ms that way, 20 ms this way)."""
        if not cells or not oldest:
            return []
        floor = min(oldest.values())
        chosen: list[RunRecord] = []
        pending = set(cells)
        before_start = 0
        last: RunRecord | None = None
        for run in self._complete_runs(end):
            confirmed = run.confirmed_at
            if confirmed is None or confirmed < floor:
                return chosen  # no older run can confirm anything
            if confirmed <= start:
                if before_start == RUN_PAGE:
                    break
                before_start += 1
            last = run
            if not any(run.covers(*cell) for cell in cells):
                continue
            chosen.append(run)
            if confirmed <= start:
                pending = {c for c in pending if not run.covers(*c)}
                if not pending:
                    return chosen
        else:
            return chosen  # every complete run has been read
        assert last is not None and last.confirmed_at is not None  # a page was walked
        steps_of: dict[str, set[str]] = {}
        for province, step in pending:
            steps_of.setdefault(province, set()).add(step)
        found = {run.id for run in chosen}
        for province, steps in sorted(steps_of.items()):
            for run in self._runs_covering(province, last.confirmed_at, last.id, oldest[province]):
                covered = steps.intersection(run.scope_steps)
                if not covered:
                    continue
                if run.id not in found:
                    found.add(run.id)
                    chosen.append(run)
                steps -= covered
                if not steps:
                    break
        chosen.sort(key=lambda run: (run.confirmed_at or floor, run.id), reverse=True)
        return chosen

    def _runs_covering(
        self, province: str, before: datetime, before_id: int, floor: datetime
    ) -> Iterator[RunRecord]:
        """Complete runs whose scope includes `province`, newest first, confirmed before
        (`before`, `before_id`) and not before `floor`, read a few at a time.  The scope is
        a comma-separated list, matched with LIKE (both dialects have it; `!` escapes)."""
        pattern = "%," + "".join("!" + c if c in "!%_" else c for c in province) + ",%"
        sql = (
            f"SELECT {RUN_COLUMNS} FROM runs WHERE complete = 1 AND confirmed_at >= ?"
            " AND (confirmed_at < ? OR (confirmed_at = ? AND id < ?))"
            " AND ',' || scope_provinces || ',' LIKE ? ESCAPE '!'"
            " ORDER BY confirmed_at DESC, id DESC LIMIT ?"
        )
        at, run_id, page = to_us(before), before_id, 8
        while True:
            rows = self._rows(sql, (to_us(floor), at, at, run_id, pattern, page))
            yield from (run_record(row) for row in rows)
            if len(rows) < page:
                return
            at, run_id, page = rows[-1][11], rows[-1][0], RUN_PAGE

    def _complete_runs(self, until: datetime) -> Iterator[RunRecord]:
        """Complete runs confirmed at or before `until`, newest first, read a page at a time
        (callers usually stop after the first few)."""
        order = " ORDER BY confirmed_at DESC, id DESC LIMIT ?"
        rows = self._rows(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE complete = 1 AND confirmed_at <= ?{order}",
            (to_us(until), RUN_PAGE),
        )
        while rows:
            yield from (run_record(row) for row in rows)
            if len(rows) < RUN_PAGE:
                return
            confirmed, last_id = rows[-1][11], rows[-1][0]
            rows = self._rows(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE complete = 1 AND (confirmed_at < ?"
                f" OR (confirmed_at = ? AND id < ?)){order}",
                (confirmed, confirmed, last_id, RUN_PAGE),
            )

    def evaluation_times(self, until: datetime, limit: int) -> list[datetime]:
        """When evidence changed hands: each run's last result, each attestation, each
        waiver; the latest `limit` at or before `until`, oldest first."""
        u = to_us(until)
        with self._reading():
            rows = self._rows(
                """SELECT t FROM (
                     SELECT t FROM (SELECT confirmed_at AS t FROM runs WHERE confirmed_at <= ?
                                    ORDER BY confirmed_at DESC LIMIT ?) AS r
                     UNION SELECT t FROM (SELECT at AS t FROM attestations WHERE at <= ?
                                    ORDER BY at DESC LIMIT ?) AS a
                     UNION SELECT t FROM (SELECT at AS t FROM waivers WHERE at <= ?
                                    ORDER BY at DESC LIMIT ?) AS w
                   ) AS times ORDER BY t DESC LIMIT ?""",
                (u, limit, u, limit, u, limit, limit),
            )
        return [from_us(t) for (t,) in reversed(rows)]

    def last_run(self, until: datetime | None = None) -> RunRecord | None:
        if until is None:
            runs = self.runs(1)
            return runs[0] if runs else None
        with self._reading():
            rows = self._rows(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE started_at <= ? ORDER BY id DESC LIMIT 1",
                (to_us(until),),
            )
        return run_record(rows[0]) if rows else None

    def runs(self, limit: int = 20) -> list[RunRecord]:
        with self._reading():
            rows = self._rows(f"SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        return [run_record(r) for r in rows]

    def last_change(self) -> datetime | None:
        """The newest time anything was written: a cheap "has the store changed?" check."""
        with self._reading():
            rows = self._rows(
                "SELECT MAX(t) FROM (SELECT MAX(COALESCE(finished_at, started_at)) AS t FROM runs"
                " UNION ALL SELECT MAX(at) FROM attestations UNION ALL SELECT MAX(at) FROM waivers)"
                " AS times"
            )
        return from_us(rows[0][0]) if rows and rows[0][0] is not None else None

    def readable_provinces(self) -> tuple[str, ...] | None:
        """The provinces this connection may read, or None for all of them.  Only PostgreSQL
        restricts (row-level security by role); a file's reader reads everything."""
        return None

    def change_marker(self) -> str:
        """A short string that changes whenever anything is written that a reader could see:
        a new run, result, attestation or waiver (imported ones included, whatever their
        times) and a run finishing or confirming.  Index seeks only, so a server can ask every
        few seconds.  Under row-level security it covers the rows the role can see."""
        with self._reading():
            rows = self._rows(
                "SELECT (SELECT MAX(id) FROM runs), (SELECT MAX(confirmed_at) FROM runs),"
                " (SELECT COUNT(finished_at) FROM runs), (SELECT MAX(id) FROM results),"
                " (SELECT MAX(id) FROM attestations), (SELECT MAX(id) FROM waivers)"
            )
        return ".".join("-" if v is None else str(v) for v in rows[0])

    def last_heard(self, provinces: Sequence[str], until: datetime) -> dict[str, datetime]:
        """When each province was last heard from at or before `until`: the latest run whose
        scope includes it (its last result's time, or its start while it was still running)
        or attestation about it.  Provinces never heard from are absent.  Runs are grouped by
        their scope, so this reads one row per distinct scope, not per run."""
        u = to_us(until)
        wanted = set(provinces)
        heard: dict[str, int] = {}

        def hear(province: str, at: int) -> None:
            if province in wanted and at > heard.get(province, -1):
                heard[province] = at

        with self._reading():
            for scope, at in self._rows(
                """SELECT scope_provinces, MAX(CASE WHEN confirmed_at IS NOT NULL
                          AND confirmed_at <= ? THEN confirmed_at ELSE started_at END)
                   FROM runs WHERE started_at <= ? GROUP BY scope_provinces""",
                (u, u),
            ):
                for province in str(scope).split(",") if scope else ():
                    hear(province, at)
            for province, at in self._rows(
                f"SELECT province, MAX(at) FROM attestations"
                f" WHERE {in_list('province', provinces)} AND at <= ? GROUP BY province",
                (*provinces, u),
            ):
                hear(province, at)
        return {p: from_us(at) for p, at in heard.items()}

    def counts(self) -> dict[str, int]:
        return {t: int(self._rows(f"SELECT COUNT(*) FROM {t}")[0][0]) for t in TABLES}

    def latest_rows_join(self, table: str, alias: str) -> str:
        """Join each unit `u` to its latest rows of `table` at or after a `?` time, at most a
        `?` number of them, as `alias`: one index seek and a short range per unit.  SQLite says
        it with an `IN` subquery; PostgreSQL with LATERAL (see `latest_join`)."""
        return f"""JOIN {table} {alias} ON {alias}.id IN (SELECT x.id FROM {table} x
            WHERE x.unit_id = u.id AND x.at >= ? AND x.at <= ?
            ORDER BY x.at DESC, x.id DESC LIMIT ?)"""

    def timeline(
        self,
        province: str | None,
        step: str | None,
        *,
        since: datetime | None = None,
        latest: int | None = None,
        until: datetime | None = None,
    ) -> Iterator[TimelineEvent]:
        """The recorded events for the filter stamped at or after `since`, oldest first; the
        last probe row of each unit says when a complete run last found the same again.  With
        `since`, each unit's last probe row and attestation before it come too (the state
        that the first event after `since` changed).

        With `latest`, only the latest `latest` probe rows and attestations of each unit and
        the latest `latest` waivers of the filter: index seeks per unit with a LIMIT, so the
        cost follows units × `latest`, not history.  Any `latest` events of the filter are
        among them, each with the event before it on its unit (with `latest` + 1).

        With `until`, nothing stamped after it (the history of a past table)."""
        cond, args = unit_filter(province, step)
        s = to_us(since) if since is not None else -(2**62)
        e = to_us(until) if until is not None else 2**62
        if latest is None:
            results = "JOIN results r ON r.unit_id = u.id AND r.at >= ? AND r.at <= ?"
            attestations = "JOIN attestations a ON a.unit_id = u.id AND a.at >= ? AND a.at <= ?"
            first: tuple[object, ...] = (s, e)
            waiver_order = ""
            last: tuple[object, ...] = ()
        else:
            results = self.latest_rows_join("results", "r")
            attestations = self.latest_rows_join("attestations", "a")
            first = (s, e, latest)
            waiver_order = " ORDER BY u.at DESC, u.id DESC LIMIT ?"
            last = (latest,)
        before = ""
        if since is not None:
            before = f"""
            UNION ALL
            SELECT r.at, u.province, u.step, u.commune, 'probe', r.outcome, r.reason,
                   ru.run_by || '@' || ru.host, '', r.id, r.run_id
            FROM units u {self.latest_join("results", "r")} JOIN runs ru ON ru.id = r.run_id
            WHERE {cond}
            UNION ALL
            SELECT a.at, u.province, u.step, u.commune, 'attestation', a.outcome,
                   COALESCE(a.note, ''), a.attested_by,
                   COALESCE(a.evidence_url, 'sha256:' || a.evidence_sha256), a.id, {NO_RUN}
            FROM units u {self.latest_join("attestations", "a")} WHERE {cond}"""
        sql = f"""
            SELECT r.at, u.province, u.step, u.commune, 'probe', r.outcome, r.reason,
                   ru.run_by || '@' || ru.host, '', r.id, r.run_id
            FROM units u {results} JOIN runs ru ON ru.id = r.run_id
            WHERE {cond}
            UNION ALL
            SELECT a.at, u.province, u.step, u.commune, 'attestation', a.outcome,
                   COALESCE(a.note, ''), a.attested_by,
                   COALESCE(a.evidence_url, 'sha256:' || a.evidence_sha256), a.id, {NO_RUN}
            FROM units u {attestations} WHERE {cond}
            UNION ALL
            SELECT * FROM (SELECT u.at, u.province, u.step, '', 'waiver', 'waived', u.reason,
                   u.approver, '', u.until_at, {NO_RUN}
            FROM waivers u WHERE {cond} AND u.at >= ? AND u.at <= ?{waiver_order}) AS w{before}
            ORDER BY 1, 5, 10
        """
        values = (*first, *args, *first, *args, *args, s, e, *last)
        if since is not None:  # each unit's state before `since`: its last probe and attestation
            values += (s - 1, *args, s - 1, *args)
        with self._reading():
            rows = self._rows(sql, values)
            last_probe: dict[UnitKey, int] = {}
            for i, row in enumerate(rows):
                if row[4] == "probe":
                    last_probe[(row[1], row[2], row[3])] = i
            cells = {(p, s) for p, s, _ in last_probe}
            oldest = oldest_by_province((k[0], from_us(rows[i][0])) for k, i in last_probe.items())
            # "Last confirmed" as of `until` (a past table's history): no later run counts.
            moment = until or FAR_FUTURE
            runs = self._confirming_runs(cells, moment, moment, oldest)
        cover = covering_runs(runs, cells, moment)
        confirmed_rows = {}
        for key, i in last_probe.items():
            run = cover.get((key[0], key[1]))
            at = from_us(rows[i][0])
            if run is not None and run.confirmed_at is not None and run.started_at > at:
                confirmed_rows[i] = run.confirmed_at
        for i, (at, p, s, c, kind, outcome, reason, by, evidence, extra, run) in enumerate(rows):
            # Who and when stay data: the reader words them in its language and time zone
            # (`people.history_lines`), a waiver's end included.
            until = from_us(extra) if kind == "waiver" else None
            yield TimelineEvent(
                from_us(at), p, s, c, kind, outcome, reason, by, evidence,
                confirmed_rows.get(i), until, None if run is None else int(run),
            )  # fmt: skip

    def timeline_count(
        self,
        province: str | None,
        step: str | None,
        *,
        since: datetime | None = None,
        before: datetime,
        cap: int,
    ) -> int:
        """How many events `timeline` has for the filter stamped at or after `since` and
        before `before`, counting at most `cap` of each kind (an index range per unit)."""
        cond, args = unit_filter(province, step)
        window = (to_us(since) if since is not None else -(2**62), to_us(before))
        units = f"SELECT u.id FROM units u WHERE {cond}"
        total = 0
        with self._reading():
            for sql, values in (
                (f"SELECT 1 FROM results r WHERE r.unit_id IN ({units})", (*args, *window)),
                (f"SELECT 1 FROM attestations r WHERE r.unit_id IN ({units})", (*args, *window)),
                (f"SELECT 1 FROM waivers r WHERE {cond.replace('u.', 'r.')}", (*args, *window)),
            ):
                rows = self._rows(
                    f"SELECT COUNT(*) FROM ({sql} AND r.at >= ? AND r.at < ? LIMIT ?) AS n",
                    (*values, cap),
                )
                total += int(rows[0][0])
        return total


class QueuedWriter:
    """What every backend's run writer shares: the engine only puts results on a queue; one
    thread takes them as handed over (single results are gathered up to about `BATCH`, or
    whatever arrived within 0.2 s) and hands each batch to `_commit`, one transaction per
    batch, so a crash loses at most the batch in flight and what the caller has not handed
    over yet.  After the first error nothing more is written and `finish` raises it.

    A backend implements `_commit` (which calls `_accepted` once its batch is committed),
    `_close_run`, `_read_run` and `_disconnect`, then calls `_start` when its connection is
    open."""

    batch_size = BATCH

    def __init__(self, run_id: int, start: RunStart) -> None:
        self.run_id = run_id
        self.start = start
        # Sequences of results, handed over whole: each hand-over wakes this thread, which
        # then contends with the event loop for the interpreter.
        self.queue: queue.Queue[Sequence[ProbeResultLike] | None] = queue.Queue()
        self.error: StoreError | None = None
        self.seen: set[UnitKey] = set()
        self.last_at: datetime | None = None
        # Repeats an incomplete run must write out, since it confirms nothing implicitly.
        self.repeats: list[tuple[int, float, int]] = []  # latest row id, duration, at
        self.written = 0
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)

    def _start(self) -> None:
        self._thread.start()

    def put(self, result: ProbeResultLike) -> None:
        self.queue.put((result,))

    def put_many(self, results: Sequence[ProbeResultLike]) -> None:
        if results:
            self.queue.put(results)

    def finish(self, *, interrupted: bool, finished_at: datetime, duration_s: float) -> RunRecord:
        """Commit what is queued, stop the thread, record the run's end; raise the first store
        error, if any (what was committed before it stays)."""
        self.queue.put(None)
        self._thread.join()
        complete = (
            not interrupted and not self.error and len(self.seen) == self.start.expected_results
        )
        try:
            if not self.error:
                confirmed = self.last_at or finished_at
                self._close_run(
                    close_values(
                        self.run_id, confirmed, finished_at, duration_s, complete, interrupted
                    ),
                    write_repeats=not complete,
                )
        finally:
            self._disconnect()
        if self.error:
            raise self.error
        return self._read_run()

    def _repeat_rows(self) -> list[tuple[int, float, int, int]]:
        return [(self.run_id, ms, at, rid) for rid, ms, at in self.repeats]

    def _loop(self) -> None:
        finished = False
        while not finished:
            batch: list[ProbeResultLike] = []
            item = self.queue.get()  # wait for the first result of a batch
            while True:
                if item is None:
                    finished = True
                    break
                batch += item
                if len(batch) >= self.batch_size:
                    break
                try:
                    item = self.queue.get(timeout=0.2)
                except queue.Empty:
                    break
            if batch and not self.error:
                self._commit(batch)

    def _accepted(
        self,
        batch: list[ProbeResultLike],
        keys: list[UnitKey],
        written: int,
        repeats: list[tuple[int, float, int]],
    ) -> None:
        """Bookkeeping once a batch (whose units are `keys`) is committed."""
        self.written += written
        self.repeats += repeats
        self.seen.update(keys)
        latest = max(r.at for r in batch)
        if self.last_at is None or latest > self.last_at:
            self.last_at = latest

    def _commit(self, batch: list[ProbeResultLike]) -> None:
        raise NotImplementedError

    def _close_run(self, values: tuple[object, ...], *, write_repeats: bool) -> None:
        raise NotImplementedError

    def _read_run(self) -> RunRecord:
        raise NotImplementedError

    def _disconnect(self) -> None:
        raise NotImplementedError
