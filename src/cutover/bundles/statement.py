"""Store records <-> the predicate's JSON, and the in-toto Statement v1 around it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from cutover import __version__
from cutover.bundles.schema import (
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    AttestationJson,
    ChecklistRef,
    Digest,
    EvidenceJson,
    ExportJson,
    Predicate,
    ProvinceRef,
    ResultJson,
    RunJson,
    Scope,
    WaiverJson,
    canonical,
    sha256,
)
from cutover.checklist import LoadedChecklist
from cutover.geo import Province
from cutover.store.base import (
    AttestationRecord,
    ProvinceEvidence,
    ResultRecord,
    RunRecord,
    WaiverRecord,
)

# --- records <-> JSON ----------------------------------------------------------------------


def _us(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1_000_000)


def run_json(run: RunRecord) -> RunJson:
    return RunJson(
        uid=run.uid,
        site=run.site,
        user=run.user,
        host=run.host,
        command=run.command,
        checklist=ChecklistRef(
            id=run.checklist_id,
            digest=Digest(sha256=run.checklist_digest),
            source=run.checklist_source,
        ),
        started_at=run.started_at,
        finished_at=run.finished_at,
        confirmed_at=run.confirmed_at,
        duration_us=_us(run.duration_s),
        complete=run.complete,
        interrupted=run.interrupted,
        scope=Scope(provinces=list(run.scope_provinces), steps=list(run.scope_steps)),
    )


def evidence_json(evidence: ProvinceEvidence) -> EvidenceJson:
    results = [
        ResultJson(
            run=r.run_uid,
            province=r.province,
            step=r.step,
            commune=r.commune,
            outcome=r.outcome,
            reason=r.reason,
            observed=r.observed,
            at=r.at,
            insecure=r.insecure,
            duration_us=_us(None if r.duration_ms is None else r.duration_ms / 1000),
        )
        for r in evidence.results
    ]
    attestations = [
        AttestationJson(
            uid=a.uid,
            site=a.site,
            province=a.province,
            step=a.step,
            commune=a.commune,
            outcome=a.outcome,
            by=a.by,
            at=a.at,
            evidence_url=a.evidence_url,
            evidence_sha256=a.evidence_sha256,
            evidence_name=a.evidence_name,
            note=a.note,
        )
        for a in evidence.attestations
    ]
    waivers = [
        WaiverJson(
            uid=w.uid,
            site=w.site,
            province=w.province,
            step=w.step,
            reason=w.reason,
            approver=w.approver,
            until=w.until,
            at=w.at,
        )
        for w in evidence.waivers
    ]
    runs = [run_json(r) for r in evidence.runs]
    return EvidenceJson(runs=runs, results=results, attestations=attestations, waivers=waivers)


def _seconds(us: int | None) -> float | None:
    return None if us is None else us / 1_000_000


def evidence_records(province: str, data: EvidenceJson) -> ProvinceEvidence:
    runs = tuple(
        RunRecord(
            id=0,
            uid=r.uid,
            site=r.site,
            user=r.user,
            host=r.host,
            command=r.command,
            checklist_id=r.checklist.id,
            checklist_digest=r.checklist.digest.sha256,
            checklist_source=r.checklist.source or "",
            started_at=r.started_at,
            finished_at=r.finished_at,
            confirmed_at=r.confirmed_at,
            duration_s=_seconds(r.duration_us),
            complete=r.complete,
            interrupted=r.interrupted,
            scope_provinces=tuple(r.scope.provinces),
            scope_steps=tuple(r.scope.steps),
        )
        for r in data.runs
    )
    results = tuple(
        ResultRecord(
            r.run, r.province, r.step, r.commune, r.outcome, r.reason, r.observed, r.at,
            r.insecure, None if r.duration_us is None else r.duration_us / 1000,
        )
        for r in data.results
    )  # fmt: skip
    attestations = tuple(
        AttestationRecord(
            a.province, a.step, a.commune, a.outcome, a.by, a.at, a.evidence_url,
            a.evidence_sha256, a.evidence_name, a.note, a.site, a.uid,
        )
        for a in data.attestations
    )  # fmt: skip
    waivers = tuple(
        WaiverRecord(w.province, w.step, w.reason, w.approver, w.until, w.at, w.site, w.uid)
        for w in data.waivers
    )
    return ProvinceEvidence(province, runs, results, attestations, waivers)


# --- the statement -------------------------------------------------------------------------


def evidence_subjects(attestations: Sequence[AttestationJson]) -> list[dict[str, Any]]:
    """One subject per evidence file an attestation names (by its SHA-256)."""
    subjects = []
    for a in attestations:
        if a.evidence_sha256:
            name = f"evidence/{a.uid}" + (f"/{a.evidence_name}" if a.evidence_name else "")
            subjects.append({"name": name, "digest": {"sha256": a.evidence_sha256}})
    return subjects


def build_statement(
    evidence: ProvinceEvidence,
    *,
    province: Province,
    checklist: LoadedChecklist,
    site: str,
    sequence: int,
    exported_at: datetime,
    exported_by: str,
) -> dict[str, Any]:
    rows = evidence_json(evidence)
    predicate = Predicate(
        province=ProvinceRef(code=province.code, name=province.name),
        site=site,
        export=ExportJson(
            sequence=sequence,
            exported_at=exported_at,
            exported_by=exported_by,
            tool=f"cutover {__version__}",
        ),
        checklist=ChecklistRef(
            id=checklist.checklist.id,
            digest=Digest(sha256=checklist.digest),
            source=checklist.source,
        ),
        evidence=rows,
    ).model_dump(mode="json", by_alias=True)
    province_subject = {
        "name": f"province/{province.code}",
        "digest": {"sha256": sha256(canonical(predicate["evidence"]))},
    }
    return {
        "_type": STATEMENT_TYPE,
        "subject": [province_subject, *evidence_subjects(rows.attestations)],
        "predicateType": PREDICATE_TYPE,
        "predicate": predicate,
    }
