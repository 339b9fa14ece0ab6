"""The store contract: typed records, the `Store` protocol every backend implements, and
`open_store`, which picks the backend from a path or URL.

Nothing outside `cutover.store` imports a backend module.  Times handed to and from a store
are aware `datetime`s; how a backend keeps them is its own business (SQLite: integer
microseconds since the Unix epoch, which both SQLite and PostgreSQL order correctly).

History is kept as *changes*: a probe result identical to the unit's latest one (same outcome,
reason, observed value and TLS flag) is not written again.  Instead a run that completes records
when it finished probing (`confirmed_at`) and what it covered (`scope_provinces` ×
`scope_steps`); such a run confirms every unchanged unit of its scope at that time.  See
`cutover.store.evidence` for the rule that turns rows and confirmations into evidence at T.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal, NamedTuple, Protocol

from cutover.records import quick_init

UnitKey = tuple[str, str, str]  # province code, step id, commune code ("" for province-level)
ProbeOutcome = Literal["pass", "fail", "unknown"]
PersonOutcome = Literal["pass", "fail"]


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Later than any time the store keeps (a waiver ends before it): later still, a time overflows
# where it is shown in another zone.
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def to_us(moment: datetime) -> int:
    """Aware time -> integer microseconds since the epoch (exact: no float rounding)."""
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


# Below this (2096-10-03) a time in microseconds divided by a million is within a quarter of a
# microsecond of the exact seconds, so `fromtimestamp` rounds it back to the exact time.
_FLOAT_EXACT_US = 4_000_000_000_000_000


def from_us(value: int) -> datetime:
    """Integer microseconds since the epoch -> aware UTC time, exactly."""
    if 0 <= value < _FLOAT_EXACT_US:  # every stored run, result and attestation so far
        return _fromtimestamp(value / 1_000_000, UTC)  # ~40% faster: a read makes thousands
    # Seconds and microseconds given apart: exact for any time (waivers until 9999, say).
    seconds, micros = divmod(value, 1_000_000)
    return EPOCH + timedelta(0, seconds, micros)


_fromtimestamp = datetime.fromtimestamp


def new_uid() -> str:
    """A row identity that survives export to and import from another site."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class RunStart:
    """What the caller says about a run before it starts: where it comes from and what it covers."""

    checklist_id: str
    checklist_digest: str
    checklist_source: str
    command: str
    user: str
    host: str
    site: str  # the province code or office that produced the run
    started_at: datetime
    scope_provinces: tuple[str, ...]
    scope_steps: tuple[str, ...]  # automated steps only: manual ones are never probed
    expected_results: int  # units the run will probe; a run is complete only if it saw them all
    uid: str = field(default_factory=new_uid)


@dataclass(frozen=True)
class RunRecord:
    """One run as stored: who ran it where, its scope, and how it ended."""

    id: int
    uid: str
    site: str
    user: str
    host: str
    command: str
    checklist_id: str
    checklist_digest: str
    checklist_source: str
    started_at: datetime
    finished_at: datetime | None
    confirmed_at: datetime | None  # its last result's time; None until it finishes
    duration_s: float | None  # measured with a monotonic clock, not wall-clock differences
    complete: bool  # finished, not interrupted, and every unit of its scope answered
    interrupted: bool
    scope_provinces: tuple[str, ...] = ()
    scope_steps: tuple[str, ...] = ()

    def covers(self, province: str, step: str) -> bool:
        return province in self.scope_provinces and step in self.scope_steps


@quick_init
@dataclass(frozen=True, slots=True)
class ProbeRow:
    """One stored probe result: the first time a unit was seen in this state."""

    province: str
    step: str
    commune: str
    outcome: ProbeOutcome
    reason: str
    observed: str | None
    at: datetime
    insecure: bool
    run_id: int
    by: str  # user@host of the run


@dataclass(frozen=True)
class AttestationRecord:
    """A person's word on a unit (`cutover mark`), with its evidence."""

    province: str
    step: str
    commune: str
    outcome: PersonOutcome
    by: str
    at: datetime
    evidence_url: str | None = None
    evidence_sha256: str | None = None
    evidence_name: str | None = None
    note: str | None = None
    site: str = ""
    uid: str = field(default_factory=new_uid)
    id: int | None = None  # assigned by the store

    @property
    def evidence(self) -> str:
        if self.evidence_url:
            return self.evidence_url
        return f"sha256:{self.evidence_sha256}" if self.evidence_sha256 else ""


@dataclass(frozen=True)
class WaiverRecord:
    """A waiver as stored (`cutover waive`): the cell, why, who approved it, until when."""

    province: str
    step: str
    reason: str
    approver: str
    until: datetime
    at: datetime
    site: str = ""
    uid: str = field(default_factory=new_uid)
    id: int | None = None


TimelineKind = Literal["probe", "attestation", "waiver"]


@dataclass(frozen=True)
class TimelineEvent:
    """One recorded event about a unit, for `cutover history`."""

    at: datetime
    province: str
    step: str
    commune: str
    kind: TimelineKind
    outcome: str  # pass | fail | unknown | waived
    reason: str
    by: str  # a probe row: its run's user@host; an attestation: who; a waiver: its approver
    evidence: str = ""
    confirmed_at: datetime | None = None  # probe rows: the last run that found the same again
    until: datetime | None = None  # waivers: when the waiver ends
    run_id: int | None = None  # probe rows: the run that wrote it


@dataclass(frozen=True)
class StoreDescription:
    """What `cutover db` shows: where the store is, its schema, counts and size, its last run."""

    location: str
    backend: str
    schema_version: int
    counts: Mapping[str, int]
    size_bytes: int | None
    last_run: RunRecord | None
    details: tuple[str, ...] = ()  # backend-specific lines, e.g. the PostgreSQL role's reach


@dataclass(frozen=True)
class RawEvidence:
    """What a backend reads for a window of time; `cutover.store.evidence` turns it into the
    evidence and history at any moment of the window.  Rows are oldest first."""

    probes: Mapping[UnitKey, Sequence[ProbeRow]]  # latest at `start`, then every row to `end`
    attestations: Mapping[UnitKey, Sequence[AttestationRecord]]
    waivers: Mapping[tuple[str, str], Sequence[WaiverRecord]]
    # The earliest pass (probe or person) at or before `end` of every unit with a failing row
    # here: only failing evidence can make a unit `regressed`, so only those units need it.
    first_done: Mapping[UnitKey, datetime]
    runs: Sequence[RunRecord]  # complete runs that may confirm a row, newest first


@dataclass(frozen=True, slots=True)
class ResultRecord:
    """A stored probe result as it travels between sites: its run is named by uid, since row
    ids are local to one store.  (run uid, unit, at) identifies it in every store."""

    run_uid: str
    province: str
    step: str
    commune: str
    outcome: ProbeOutcome
    reason: str
    observed: str | None
    at: datetime
    insecure: bool
    duration_ms: float | None = None


@dataclass(frozen=True)
class ProvinceEvidence:
    """Every stored row about one province: its results, the runs they came from or that
    confirm them (scopes narrowed to the province), its attestations and waivers.  What a
    signed bundle carries (see `cutover.bundles`)."""

    province: str
    runs: tuple[RunRecord, ...]
    results: tuple[ResultRecord, ...]
    attestations: tuple[AttestationRecord, ...]
    waivers: tuple[WaiverRecord, ...]


@dataclass(frozen=True)
class BundleOrigin:
    """Where an imported bundle came from: the exporting site, its per-province sequence
    number (replay protection), and the signed payload's SHA-256 (idempotence)."""

    site: str
    province: str
    sequence: int
    exported_at: datetime
    payload_sha256: str
    signed_by: tuple[str, ...]  # key ids that verified


ImportStatus = Literal["imported", "already imported", "replay", "conflict"]


@dataclass(frozen=True)
class ImportOutcome:
    """What `Store.import_evidence` did; anything but "imported" changed nothing."""

    status: ImportStatus
    detail: str = ""
    runs: int = 0  # new rows of each kind
    results: int = 0
    attestations: int = 0
    waivers: int = 0


class OutcomeChange(NamedTuple):
    """A probe row or attestation as the history series replays it (light: 100,000s of them)."""

    at_us: int
    source: Literal["probe", "attestation"]
    province: str
    step: str
    commune: str
    outcome: str


class ProbeResultLike(Protocol):
    """What the writer needs of an engine result (`cutover.engine.Result`)."""

    @property
    def province(self) -> str: ...
    @property
    def step(self) -> str: ...
    @property
    def commune(self) -> str: ...
    @property
    def at(self) -> datetime: ...
    @property
    def insecure(self) -> bool: ...
    @property
    def outcome(self) -> OutcomeLike: ...


class OutcomeLike(Protocol):
    @property
    def status(self) -> ProbeOutcome: ...
    @property
    def reason(self) -> str: ...
    @property
    def observed(self) -> str | None: ...
    @property
    def duration_ms(self) -> float: ...


class RunWriter(Protocol):
    """Takes one run's results as they arrive; commits in batches on its own connection."""

    run_id: int

    def put(self, result: ProbeResultLike) -> None: ...

    def put_many(self, results: Sequence[ProbeResultLike]) -> None:
        """Several results at once (the caller no longer changes the sequence)."""
        ...

    def finish(self, *, interrupted: bool, finished_at: datetime, duration_s: float) -> RunRecord:
        """Commit what is queued, record the run's end, and raise the first store error."""
        ...


class Store(Protocol):
    location: str
    # A monotonic time after which reads stop with a StoreError (None: no limit); a server
    # sets it per request so a page of many statements is bounded as a whole.
    deadline: float | None

    # writing: the only ways rows enter a store
    def start_run(self, start: RunStart) -> RunWriter: ...
    def add_attestation(self, record: AttestationRecord) -> AttestationRecord: ...
    def add_waiver(self, record: WaiverRecord) -> WaiverRecord: ...
    def record_export(self, site: str, province: str, at: datetime) -> int:
        """Number the next bundle this store exports for a province (1, 2, …), and keep it."""
        ...

    def import_evidence(
        self, origin: BundleOrigin, evidence: ProvinceEvidence, at: datetime
    ) -> ImportOutcome:
        """Add a verified bundle's rows in one transaction, keeping their uids and sites.
        Idempotent (rows already present by identity are skipped); a bundle already imported,
        or not newer than the last one from its site and province (replay), or whose rows
        contradict stored rows with the same identity (conflict), changes nothing."""
        ...

    # reading
    def raw_evidence(
        self,
        provinces: Sequence[str],
        steps: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        window_rows: bool = True,
    ) -> RawEvidence: ...
    def changes(
        self, provinces: Sequence[str], steps: Sequence[str], start: datetime, end: datetime
    ) -> list[OutcomeChange]: ...
    def evaluation_times(self, until: datetime, limit: int) -> list[datetime]: ...
    def province_evidence(self, province: str) -> ProvinceEvidence: ...
    def last_run(self, until: datetime | None = None) -> RunRecord | None:
        """The newest run recorded (the highest id); with `until`, the newest that had
        started at or before it."""
        ...

    def last_change(self) -> datetime | None: ...
    def change_marker(self) -> str: ...
    def readable_provinces(self) -> tuple[str, ...] | None: ...
    def last_heard(self, provinces: Sequence[str], until: datetime) -> dict[str, datetime]:
        """When each province was last heard from (a run covering it, an attestation about
        it) at or before `until`; provinces never heard from are absent."""
        ...

    def runs(self, limit: int = 20) -> list[RunRecord]: ...
    def timeline(
        self,
        province: str | None,
        step: str | None,
        *,
        since: datetime | None = None,
        latest: int | None = None,
        until: datetime | None = None,
    ) -> Iterator[TimelineEvent]:
        """Events at or after `since` (and at or before `until`), oldest first; with `latest`,
        only the latest `latest` of each unit (and of the filter's waivers), read with index
        seeks and a LIMIT."""
        ...

    def timeline_count(
        self,
        province: str | None,
        step: str | None,
        *,
        since: datetime | None = None,
        before: datetime,
        cap: int,
    ) -> int:
        """The events `timeline` has in [`since`, `before`), counting at most `cap` a kind."""
        ...

    def describe(self) -> StoreDescription: ...
    def integrity(self) -> list[str]: ...
    def close(self) -> None: ...


def open_store(
    location: str | Path | None,
    *,
    environ: Mapping[str, str],
    create: bool = True,
    query_timeout: float | None = None,
    read_only: bool = False,
) -> Store:
    """The store at a path or URL (`--db`/`CUTOVER_DB`); default: `cutover.db` in the user data
    directory.  `create=False` refuses to make a new one (reading commands).  A
    `postgresql://` (or `postgres://`) URL opens the PostgreSQL backend, which needs the
    `cutover[postgres]` extra and a schema made by `cutover db init`.  With `query_timeout`
    (seconds) a read that takes longer is stopped with a StoreError; `read_only` makes the
    database itself refuse writes and refuses a store that would need migrating (both for
    `cutover serve`)."""
    text = store_location(location, environ)
    if is_postgres(text):
        return _postgres(text, environ, query_timeout, read_only)
    from cutover.store.sqlite import SqliteStore, default_path

    if text.startswith("sqlite:///"):
        text = text.removeprefix("sqlite://")
    if text:
        path, default_dir = Path(text), False
    else:
        path, default_dir = default_path(environ), True
    return SqliteStore(
        path,
        environ=environ,
        create=create,
        default_dir=default_dir,
        query_timeout=query_timeout,
        read_only=read_only,
    )


def store_location(location: str | Path | None, environ: Mapping[str, str]) -> str:
    """`--db` if given, else `CUTOVER_DB`, else "" (the default SQLite file).  A URL of
    another kind (`mysql://…`) is a usage error, not a SQLite file named `mysql:/…`."""
    import re

    from cutover.errors import OptionError, UsageError

    text = str(location) if location is not None else environ.get("CUTOVER_DB") or ""
    scheme = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", text)
    if scheme and not is_postgres(text) and not text.startswith("sqlite:///"):
        what = (
            "a sqlite URL has three slashes"
            if scheme[1].lower() == "sqlite"
            else f"unknown store URL scheme {scheme[1]!r}"
        )
        # --db names the command's help (an option value); CUTOVER_DB is the environment's.
        error = OptionError if location is not None else UsageError
        raise error(
            f"{'--db' if location is not None else 'CUTOVER_DB'}: {what}; give a SQLite file "
            "path, sqlite:///PATH, or a postgresql:// (or postgres://) URL"
        )
    return text


def is_postgres(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def public_location(url: str) -> str:
    """A PostgreSQL URL without its password or query values, to show and to log."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<malformed PostgreSQL URL>"
    if ":" in host:
        host = f"[{host}]"
    user = f"{parts.username}@" if parts.username else ""
    query = "&".join(f"{k.partition('=')[0]}=***" for k in parts.query.split("&") if k)
    return urlunsplit((parts.scheme, user + host + port, parts.path, query, ""))


def _postgres(
    url: str, environ: Mapping[str, str], query_timeout: float | None, read_only: bool
) -> Store:
    require_psycopg()
    from cutover.store.postgres import PostgresStore

    return PostgresStore(url, environ=environ, query_timeout=query_timeout, read_only=read_only)


def require_psycopg() -> None:
    """A clear usage error (exit 2) when the `postgres` extra is not installed."""
    from cutover.errors import UsageError

    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        if (exc.name or "").startswith("psycopg"):
            raise UsageError(
                "a postgresql:// store needs psycopg: pip install 'cutover[postgres]'"
            ) from None
        if "pq wrapper" in str(exc):  # psycopg is there but finds no libpq
            raise UsageError(
                "psycopg cannot load libpq: pip install 'cutover[postgres]' (psycopg[binary])"
                " or install libpq"
            ) from None
        raise
