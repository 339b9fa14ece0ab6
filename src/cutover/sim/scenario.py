"""Scenarios: which provinces (and communes) pass each simulated feature, plus faults.

Features are the simulator's own API surface, not checklist steps:
    units_declared    /national/api/provinces/{code}/units
    portal_closed     /p/{code}/portal/                 (closed = redirect to the national portal)
    sso_client        /sso/oauth2/authorize             (client dvc-{code} registered)
    filing_tested     /national/api/communes/{commune}/filing-tests   (commune level)
    dossier_synced    /national/api/provinces/{code}/dossier-sync
    payment_tested    /national/api/provinces/{code}/payment-tests/latest
    promotion_intake  /national/api/provinces/{code}/promotion-notices
    eid_codes         /edoc/api/agencies?province={code}
"""

from __future__ import annotations

import zlib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, PlainValidator, WithJsonSchema, model_validator

from cutover.errors import UsageError
from cutover.geo import check_province_code
from cutover.models import Strict, first_close, shown, validate
from cutover.yamlio import load_file

FEATURES = (
    "units_declared",
    "portal_closed",
    "sso_client",
    "filing_tested",
    "dossier_synced",
    "payment_tested",
    "promotion_intake",
    "eid_codes",
)


def _feature(value: Any) -> str:
    if value not in FEATURES:
        close = first_close(str(value), list(FEATURES))
        raise ValueError(
            f"unknown feature {shown(value)}{close}; the features are {', '.join(FEATURES)}"
        )
    return str(value)


def _as_of(value: Any) -> str:
    """An ISO 8601 date-time (the simulated clock): checked here, where the file can be
    named, rather than when `cutover demo` reads it as if it were its --as-of option."""
    example = "e.g. 2025-06-28T13:00:00+07:00"
    if isinstance(value, datetime):
        return _within_years(value).isoformat()
    if isinstance(value, date):
        raise ValueError(f"{value} is a date without a time ({example})")
    if not isinstance(value, str):
        raise ValueError(f"expected a date-time ({example}), got {shown(value)}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        if "out of range" in str(exc):
            raise ValueError(f"impossible date {shown(value)}: {exc}") from None
        raise ValueError(f"not an ISO 8601 date-time: {shown(value)} ({example})") from None
    _within_years(moment)
    return value


def _within_years(moment: datetime) -> datetime:
    """As `--as-of` is: a time in FIRST_YEAR-LAST_YEAR (one outside them would overflow when
    the demo's clock is set to it); a time without an offset is Vietnam's, as there."""
    from zoneinfo import ZoneInfo

    from cutover.models import FIRST_YEAR, LAST_YEAR, within_years

    aware = moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    if not within_years(aware):
        raise ValueError(f"{moment.isoformat()} is outside {FIRST_YEAR}-{LAST_YEAR}")
    return moment


Feature = Annotated[str, PlainValidator(_feature), WithJsonSchema({"enum": list(FEATURES)})]
Code = Annotated[
    str,
    PlainValidator(check_province_code),
    WithJsonSchema({"type": "string", "pattern": r"^\d{2}$"}),
]
AsOf = Annotated[str, BeforeValidator(_as_of)]
FaultKind = Literal[
    "latency", "hang", "reset", "status", "invalid_json", "oversized", "redirect_loop"
]


class Assignment(Strict):
    """Exactly one of `passing` or `failing`; the other provinces get the opposite.

    For the commune-level feature (`filing_tested`), a failing province has `tested_share` of
    its communes tested (chosen by a hash of the commune code, so the same ones every time),
    `shares` sets that share per province, and `communes_passing` / `communes_failing` stage
    any commune of the 3,321 explicitly, whatever its province does."""

    passing: list[Code] | None = None
    failing: list[Code] | None = None
    tested_share: float = Field(default=0.8, ge=0, le=1)  # commune level: share tested when failing
    shares: dict[Code, Annotated[float, Field(ge=0, le=1)]] = {}
    communes_passing: list[Annotated[str, Field(pattern=r"^\d{5}$")]] = []
    communes_failing: list[Annotated[str, Field(pattern=r"^\d{5}$")]] = []
    invented: bool = True
    note: str | None = None

    @model_validator(mode="after")
    def _one_list(self) -> Assignment:
        if (self.passing is None) == (self.failing is None):
            raise ValueError("give exactly one of 'passing' or 'failing'")
        return self

    def passes(self, code: str) -> bool:
        if self.passing is not None:
            return code in self.passing
        return code not in (self.failing or [])


class Fault(Strict):
    path: str  # regular expression matched against the request path
    kind: FaultKind
    ms: int = Field(default=0, ge=0)
    status: int = Field(default=503, ge=100, le=599)


class Scenario(Strict):
    id: str
    title: str
    as_of: AsOf | None = None
    source: str | None = None
    features: dict[Feature, Assignment] = {}
    faults: list[Fault] = []

    def passes(self, feature: str, code: str) -> bool:
        assignment = self.features.get(feature)
        return assignment.passes(code) if assignment else True

    def tested_share(self, code: str) -> float:
        assignment = self.features.get("filing_tested")
        if assignment is None:
            return 1.0
        if code in assignment.shares:
            return assignment.shares[code]
        return 1.0 if assignment.passes(code) else assignment.tested_share

    def commune_tested(self, commune: str, province: str) -> bool:
        """Whether a commune has filed a test dossier: its explicit state if staged, else
        whether its hash falls within its province's tested share."""
        assignment = self.features.get("filing_tested")
        if assignment is not None:
            if commune in assignment.communes_failing:
                return False
            if commune in assignment.communes_passing:
                return True
        share = self.tested_share(province)
        return (zlib.crc32(commune.encode()) % 1000) < share * 1000

    def unknown_communes(self, known: set[str]) -> list[str]:
        """Staged commune codes that are not among `known` (a typo would stage nothing)."""
        assignment = self.features.get("filing_tested")
        if assignment is None:
            return []
        staged = [*assignment.communes_passing, *assignment.communes_failing]
        return sorted({c for c in staged if c not in known})


SCENARIO_DIR = Path(__file__).parent / "scenarios"
DEFAULT_SCENARIO = "2025-06-28T13:00"


def load_scenario(name: str | None) -> Scenario:
    name = name or DEFAULT_SCENARIO
    path = Path(name)
    if not path.is_file():
        shipped = {s.stem.replace("T1300", "T13:00"): s for s in SCENARIO_DIR.glob("*.yaml")}
        if name not in shipped:
            raise UsageError(
                f"no scenario {name!r}{first_close(name, list(shipped))}; "
                f"shipped: {', '.join(sorted(shipped))}"
            )
        path = shipped[name]
    return validate(Scenario, load_file(path))


def validate_scenario_data(data: object, name: str) -> Scenario:
    from cutover.yamlio import Document

    return validate(Scenario, Document(data, name))
