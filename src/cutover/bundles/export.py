"""Export over the store contract: read a province's rows, number the bundle, sign it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from securesystemslib.signer import CryptoSigner

from cutover.bundles.envelope import sign
from cutover.bundles.statement import build_statement
from cutover.checklist import LoadedChecklist
from cutover.errors import UsageError
from cutover.geo import Province
from cutover.store.base import ProvinceEvidence, Store


@dataclass(frozen=True)
class Exported:
    envelope: dict[str, Any]
    sequence: int
    evidence: ProvinceEvidence


def export(
    store: Store,
    province: Province,
    checklist: LoadedChecklist,
    signers: Sequence[CryptoSigner],
    *,
    site: str,
    at: datetime,
    by: str,
) -> Exported:
    evidence = store.province_evidence(province.code)
    if not (evidence.runs or evidence.attestations or evidence.waivers):
        raise UsageError(
            f"the store {store.location} holds nothing about province {province.code} "
            f"({province.name}); run `cutover check --province {province.code}` first"
        )
    sequence = store.record_export(site, province.code, at)  # gaps are harmless: order counts
    try:
        statement = build_statement(
            evidence,
            province=province,
            checklist=checklist,
            site=site,
            sequence=sequence,
            exported_at=at,
            exported_by=by,
        )
    except ValidationError as exc:  # e.g. a site name over 256 characters
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise UsageError(
            f"cannot export province {province.code}: {where}: {first['msg']}"
        ) from None
    return Exported(sign(statement, signers), sequence, evidence)
