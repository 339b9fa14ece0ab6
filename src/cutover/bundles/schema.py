"""The bundle's JSON shape: the predicate's models (unknown fields are ignored, as in-toto
asks), canonical JSON, digests, UTC times, and `Rejected`, the one-line reason a bundle is
refused."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

from cutover.env import site_problem

if TYPE_CHECKING:
    from cutover.bundles.verify import SignatureCheck

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://cutover.example/readiness-evidence/v1"


class Rejected(Exception):
    """A bundle that must not be imported, with the one-line reason."""

    def __init__(self, reason: str, signatures: Sequence[SignatureCheck] = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.signatures = tuple(signatures)


# --- canonical JSON, digests, times ------------------------------------------------------


def canonical(data: object) -> bytes:
    return json.dumps(
        data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_stamp(value: object) -> datetime:
    if isinstance(value, datetime) and value.tzinfo is not None:  # built in Python
        return value.astimezone(UTC)
    if not isinstance(value, str) or not _STAMP.fullmatch(value):
        raise ValueError("expected a UTC time like 2025-06-28T06:00:00.000000Z")
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


Stamp = Annotated[datetime, PlainValidator(parse_stamp), PlainSerializer(stamp)]
Short = Annotated[str, StringConstraints(max_length=256)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=256)]
Text = Annotated[str, StringConstraints(max_length=100_000)]
Hex64 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
Count = Annotated[int, Field(ge=0)]


def _site(value: str) -> str:
    problem = site_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


SiteName = Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_site)]
RowSite = Annotated[str, StringConstraints(max_length=256), AfterValidator(_site)]


# --- the predicate's JSON shape (unknown fields are ignored, as in-toto asks) --------------


class Model(BaseModel):
    model_config = ConfigDict(
        extra="ignore", strict=True, frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class Digest(Model):
    sha256: Hex64


class ChecklistRef(Model):
    id: Short
    digest: Digest
    source: Text | None = None


class Scope(Model):
    provinces: list[Short]
    steps: list[Short]


class RunJson(Model):
    uid: Name
    site: RowSite
    user: Short
    host: Short
    command: Text
    checklist: ChecklistRef
    started_at: Stamp
    finished_at: Stamp | None
    confirmed_at: Stamp | None
    duration_us: Count | None
    complete: bool
    interrupted: bool
    scope: Scope


class ResultJson(Model):
    run: Name
    province: Name
    step: Name
    commune: Short
    outcome: Literal["pass", "fail", "unknown"]
    reason: Text
    observed: Text | None
    at: Stamp
    insecure: bool
    duration_us: Count | None


class AttestationJson(Model):
    uid: Name
    site: RowSite
    province: Name
    step: Name
    commune: Short
    outcome: Literal["pass", "fail"]
    by: Text
    at: Stamp
    evidence_url: Text | None
    evidence_sha256: Hex64 | None
    evidence_name: Text | None
    note: Text | None


class WaiverJson(Model):
    uid: Name
    site: RowSite
    province: Name
    step: Name
    reason: Text
    approver: Text
    until: Stamp
    at: Stamp


class EvidenceJson(Model):
    runs: list[RunJson]
    results: list[ResultJson]
    attestations: list[AttestationJson]
    waivers: list[WaiverJson]


class ProvinceRef(Model):
    code: Name
    name: Text


class ExportJson(Model):
    sequence: Annotated[int, Field(ge=1)]
    exported_at: Stamp
    exported_by: Text
    tool: Text


class Predicate(Model):
    province: ProvinceRef
    site: SiteName
    export: ExportJson
    checklist: ChecklistRef
    evidence: EvidenceJson


class Subject(Model):
    name: Text
    digest: dict[Short, Short]
