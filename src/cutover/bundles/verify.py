"""Verifying a bundle: every check but the store's own (replay, already imported, conflicts)."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import ValidationError
from securesystemslib.signer import Signature

from cutover.bundles.envelope import RawEnvelope, pae, parse_envelope
from cutover.bundles.files import Piece
from cutover.bundles.keys import PublicKey
from cutover.bundles.schema import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Predicate,
    Rejected,
    Subject,
    canonical,
    sha256,
)
from cutover.bundles.statement import evidence_records, evidence_subjects
from cutover.bundles.trust import ProvinceTrust, Trust
from cutover.checklist import LoadedChecklist
from cutover.geo import Geography
from cutover.store.base import BundleOrigin, ProvinceEvidence

Verdict = Literal["valid", "invalid", "unknown key"]


@dataclass(frozen=True)
class SignatureCheck:
    keyid: str  # the signature's own (unauthenticated) hint
    verdict: Verdict
    key: PublicKey | None = None  # the trusted key that verified it
    provinces: tuple[str, ...] = ()  # what that key may sign for

    def line(self) -> str:
        if self.verdict == "valid" and self.key is not None:
            key = self.key
            return f"keyid {key.keyid[:16]}… {key.path} (for {', '.join(self.provinces)}): valid"
        if not self.keyid:
            return "a signature without keyid: no trusted key verifies it"
        if self.verdict == "invalid":
            return f"keyid {self.keyid[:16]}…: does not verify with any trusted key"
        return f"keyid {self.keyid[:16]}…: not a key the trust file lists"


@dataclass(frozen=True)
class Checked:
    """A bundle whose signatures, structure and contents passed every check."""

    label: str
    origin: BundleOrigin
    predicate: Predicate
    evidence: ProvinceEvidence
    signatures: tuple[SignatureCheck, ...]
    threshold: int


def check_signatures(envelope: RawEnvelope, trust: Trust) -> list[SignatureCheck]:
    """Which trusted key, if any, made each signature.  The keyid is only a hint (DSSE): a
    signature whose hint names no trusted key is tried with every trusted key."""
    message = pae(envelope.payload_type, envelope.payload)
    known = trust.keys()
    checks = []
    for raw in envelope.signatures:
        hinted = [known[raw.keyid]] if raw.keyid in known else []
        verdict: Verdict = "invalid" if hinted else "unknown key"
        found: SignatureCheck | None = None
        others = [k for i, k in known.items() if i != raw.keyid]
        for key, provinces in hinted + others:
            try:
                key.key.verify_signature(Signature(key.keyid, raw.sig.hex()), message)
            except Exception:  # securesystemslib's UnverifiedSignatureError, VerificationError
                continue
            found = SignatureCheck(raw.keyid, "valid", key, tuple(provinces))
            break
        checks.append(found or SignatureCheck(raw.keyid, verdict))
    return checks


def verify(
    piece: Piece,
    trust: Trust,
    checklists: Mapping[str, LoadedChecklist],
    geo: Geography,
) -> Checked:
    """Every check but the store's (replay, already imported, conflicts); raises Rejected."""
    if piece.problem:
        raise Rejected(piece.problem)
    envelope = parse_envelope(piece.raw)
    if envelope.payload_type != PAYLOAD_TYPE:
        raise Rejected(f"payloadType is {envelope.payload_type!r}, expected {PAYLOAD_TYPE!r}")
    if not envelope.signatures:
        raise Rejected("not signed: the envelope has no signatures")
    checks = check_signatures(envelope, trust)
    if not any(c.verdict == "valid" for c in checks):
        first = checks[0]
        what = "bad signature" if first.verdict == "invalid" else "untrusted signature"
        raise Rejected(f"{what}: {first.line()}", checks)
    statement = _statement(envelope.payload, checks)
    predicate = _predicate(statement, checks)
    code = predicate.province.code
    entry = trust.provinces.get(code)
    if entry is None:
        raise Rejected(f"province {code} is not in the trust file {trust.file}", checks)
    _signers_trusted(checks, code, entry)
    evidence = _contents(statement, predicate, checklists, geo, checks)
    origin = BundleOrigin(
        predicate.site,
        code,
        predicate.export.sequence,
        predicate.export.exported_at,
        sha256(envelope.payload),
        tuple(sorted({c.key.keyid for c in checks if c.key is not None})),
    )
    return Checked(piece.label, origin, predicate, evidence, tuple(checks), entry.threshold)


def _signers_trusted(checks: Sequence[SignatureCheck], code: str, entry: ProvinceTrust) -> None:
    """Every signature must be a valid one by a key trusted for the province, and there must
    be at least the threshold of distinct keys."""
    for check in checks:
        if check.verdict == "invalid":
            raise Rejected(f"bad signature: {check.line()}", checks)
        if check.verdict == "unknown key":
            raise Rejected(f"untrusted signature: {check.line()}", checks)
        if code not in check.provinces and check.key is not None:
            raise Rejected(
                f"key {check.key.path} (keyid {check.key.keyid[:16]}…) is trusted for "
                f"{', '.join(check.provinces)}, not for province {code}",
                checks,
            )
    valid = {c.key.keyid for c in checks if c.key is not None}
    if len(valid) < entry.threshold:
        raise Rejected(
            f"{len(valid)} valid signature{'s' if len(valid) != 1 else ''} for province {code}, "
            f"{entry.threshold} required",
            checks,
        )


def _statement(payload: bytes, checks: Sequence[SignatureCheck]) -> dict[str, Any]:
    try:
        statement = json.loads(payload)
    except (ValueError, RecursionError):
        raise Rejected("malformed statement: the payload is not JSON", checks) from None
    if not isinstance(statement, dict):
        raise Rejected("malformed statement: not a JSON object", checks)
    if statement.get("_type") != STATEMENT_TYPE:
        raise Rejected(f"not an in-toto Statement v1 (_type {statement.get('_type')!r})", checks)
    if statement.get("predicateType") != PREDICATE_TYPE:
        raise Rejected(
            f"predicateType {statement.get('predicateType')!r} is not {PREDICATE_TYPE}", checks
        )
    return statement


def _predicate(statement: Mapping[str, Any], checks: Sequence[SignatureCheck]) -> Predicate:
    try:
        return Predicate.model_validate(statement.get("predicate"))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in ("predicate", *first["loc"]))
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise Rejected(f"malformed statement: {where}: {first['msg']}{more}", checks) from None


def _contents(
    statement: Mapping[str, Any],
    predicate: Predicate,
    checklists: Mapping[str, LoadedChecklist],
    geo: Geography,
    checks: Sequence[SignatureCheck],
) -> ProvinceEvidence:
    code = predicate.province.code

    def reject(reason: str) -> Rejected:
        return Rejected(reason, checks)

    _subjects(statement, predicate, reject)
    known_steps = _known_checklists(predicate, checklists, reject)
    province = geo.by_code.get(code)
    if province is None:
        raise reject(f"province {code} is not one of the {len(geo.provinces)} provinces")
    communes = {c.code for c in province.communes} | {""}
    evidence = predicate.evidence
    rows: list[tuple[str, str, str, str]] = [
        ("result", r.province, r.step, r.commune) for r in evidence.results
    ]
    rows += [("attestation", a.province, a.step, a.commune) for a in evidence.attestations]
    rows += [("waiver", w.province, w.step, "") for w in evidence.waivers]
    for kind, row_province, step, commune in rows:
        if row_province != code:
            raise reject(f"cross-province row: {kind} for province {row_province} in a "
                         f"bundle for province {code}")  # fmt: skip
        if commune not in communes:
            raise reject(f"cross-province row: {kind} for commune {commune}, which is not "
                         f"in province {code}")  # fmt: skip
        if step not in known_steps:
            raise reject(f"{kind} for step {step!r}, which no known checklist has")
    runs = {r.uid for r in evidence.runs}
    for run in evidence.runs:
        if set(run.scope.provinces) - {code}:
            others = ", ".join(sorted(set(run.scope.provinces) - {code}))
            raise reject(f"cross-province row: run {run.uid} covers province {others}")
    for result in evidence.results:
        if result.run not in runs:
            raise reject(f"a result refers to run {result.run}, which the bundle does not hold")
    return evidence_records(code, evidence)


def _subjects(
    statement: Mapping[str, Any], predicate: Predicate, reject: Callable[[str], Rejected]
) -> None:
    """The subjects name the province with the digest of the evidence, and each evidence
    file an attestation names."""
    try:
        subjects = [Subject.model_validate(s) for s in statement.get("subject") or []]
    except ValidationError:
        raise reject("malformed statement: subject") from None
    code = predicate.province.code
    digest = sha256(canonical(statement["predicate"]["evidence"]))
    named = [s for s in subjects if s.name.startswith("province/")]
    if [s.name for s in named] != [f"province/{code}"]:
        raise reject(f"the subject must name province/{code} once (found {len(named)})")
    if named[0].digest.get("sha256") != digest:
        raise reject(f"the digest of province/{code} does not match the evidence it carries")
    files = {(s.name, s.digest.get("sha256")) for s in subjects if s is not named[0]}
    expected = {
        (s["name"], s["digest"]["sha256"])
        for s in evidence_subjects(predicate.evidence.attestations)
    }
    if files != expected:
        raise reject("the evidence-file subjects do not match the attestations' digests")


def _known_checklists(
    predicate: Predicate,
    checklists: Mapping[str, LoadedChecklist],
    reject: Callable[[str], Rejected],
) -> set[str]:
    """The checklist digests the bundle names (its own and each run's) must all be ones this
    importer has loaded; returns the step ids they define."""
    named = [predicate.checklist, *(r.checklist for r in predicate.evidence.runs)]
    for ref in named:
        if ref.digest.sha256 not in checklists:
            known = ", ".join(
                f"{c.checklist.id} sha256:{d[:12]}…" for d, c in sorted(checklists.items())
            )
            raise reject(
                f"unknown checklist {ref.id} sha256:{ref.digest.sha256}; this importer knows "
                f"{known} (load that version with --checklist FILE)"
            )
    return {s.id for d in {r.digest.sha256 for r in named} for s in checklists[d].checklist.steps}
