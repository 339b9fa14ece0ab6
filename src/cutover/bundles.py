"""Signed evidence bundles for sites without a connection: an in-toto Statement v1 inside a
DSSE envelope, signed with Ed25519 keys.  Pure logic: rows come from and go to the store
through its contract (`Store.province_evidence`, `record_export`, `import_evidence`).

    envelope  (DSSE)     {"payloadType": "application/vnd.in-toto+json",
                          "payload": base64(statement), "signatures": [{"keyid", "sig"}]}
                         each sig = Ed25519 over PAE(payloadType, payload), as DSSE defines it
    statement (in-toto)  {"_type": "https://in-toto.io/Statement/v1",
                          "subject": [province/P (digest of the evidence), evidence/UID/NAME …],
                          "predicateType": PREDICATE_TYPE, "predicate": …}
    predicate (cutover)  province, site, export {sequence, exportedAt, exportedBy, tool},
                         checklist {id, digest}, evidence {runs, results, attestations, waivers}

A key id is the lowercase hex SHA-256 of the public key's DER SubjectPublicKeyInfo, so anyone
can compute it from the `.pub` file (`openssl pkey -pubin -outform DER | sha256sum`).  The
statement is serialised as canonical JSON (sorted keys, no spaces, UTF-8; it holds no
floating-point numbers, so this is RFC 8785), and the `province/P` subject's digest is the
SHA-256 of the canonical JSON of `predicate.evidence`.  Times are UTC, `…T06:00:00.000000Z`.

Signing and verifying use securesystemslib (`dsse.Envelope`, `CryptoSigner`, `SSlibKey`) on
pyca/cryptography; both are the optional extra `cutover[bundles]`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    StringConstraints,
    ValidationError,
)
from pydantic.alias_generators import to_camel
from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner, Signature, SSlibKey

from cutover import __version__
from cutover.checklist import LoadedChecklist
from cutover.errors import ConfigError, Problem, UsageError
from cutover.geo import Geography, Province
from cutover.models import Strict, validate
from cutover.store.base import (
    AttestationRecord,
    BundleOrigin,
    ProvinceEvidence,
    ResultRecord,
    RunRecord,
    Store,
    WaiverRecord,
)
from cutover.yamlio import load_file

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://cutover.example/readiness-evidence/v1"
MAX_BUNDLE_BYTES = 64 * 2**20  # per file; a province's full history is a few hundred KB
MAX_SIGNATURES = 16  # each one may be tried against every trusted key
JSONL_SUFFIX = ".intoto.jsonl"
KEY_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


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
    site: Short
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
    site: Short
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
    site: Short
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
    site: Name
    export: ExportJson
    checklist: ChecklistRef
    evidence: EvidenceJson


class Subject(Model):
    name: Text
    digest: dict[Short, Short]


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


# --- DSSE ----------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what each signature covers."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def sign(statement: Mapping[str, Any], signers: Sequence[CryptoSigner]) -> dict[str, Any]:
    """One envelope over the statement, one signature per signer."""
    envelope = Envelope(canonical(statement), PAYLOAD_TYPE, {})
    for signer in signers:
        envelope.sign(signer)
    return dict(envelope.to_dict())


@dataclass(frozen=True)
class RawSignature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class RawEnvelope:
    payload: bytes
    payload_type: str
    signatures: tuple[RawSignature, ...]


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise Rejected(f"malformed envelope: {what} is not a string")
    try:  # DSSE allows standard or URL-safe base64
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        try:
            return base64.b64decode(value, altchars=b"-_", validate=True)
        except binascii.Error:
            raise Rejected(f"malformed envelope: {what} is not base64") from None


def parse_envelope(raw: bytes) -> RawEnvelope:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise Rejected(f"malformed JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Rejected("malformed envelope: not a JSON object")
    missing = [k for k in ("payload", "payloadType", "signatures") if k not in data]
    if missing:
        raise Rejected(f"malformed envelope: no {missing[0]!r}; not a DSSE envelope")
    if not isinstance(data["payloadType"], str) or not isinstance(data["signatures"], list):
        raise Rejected("malformed envelope: payloadType must be a string, signatures a list")
    if len(data["signatures"]) > MAX_SIGNATURES:
        raise Rejected(
            f"malformed envelope: {len(data['signatures'])} signatures, at most {MAX_SIGNATURES}"
        )
    signatures = []
    for n, item in enumerate(data["signatures"], 1):
        if not isinstance(item, dict) or "sig" not in item:
            raise Rejected(f"malformed envelope: signature {n} has no 'sig'")
        keyid = item.get("keyid") or ""
        if not isinstance(keyid, str):
            raise Rejected(f"malformed envelope: signature {n}: keyid is not a string")
        signatures.append(RawSignature(keyid, _b64(item["sig"], f"signature {n}")))
    payload = _b64(data["payload"], "payload")
    return RawEnvelope(payload, data["payloadType"], tuple(signatures))


# --- keys ----------------------------------------------------------------------------------


def keyid_of(public: Ed25519PublicKey) -> str:
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return sha256(der)


@dataclass(frozen=True)
class PublicKey:
    keyid: str
    path: str  # as the trust file names it
    key: SSlibKey


@dataclass(frozen=True)
class KeyFiles:
    keyid: str
    private: Path
    public: Path
    encrypted: bool


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)  # whatever the umask says
        os.write(fd, data)
    finally:
        os.close(fd)


def write_keypair(folder: Path, name: str, passphrase: bytes | None) -> KeyFiles:
    """A new Ed25519 pair: NAME.key (PKCS#8 PEM, mode 0600, encrypted when a passphrase is
    given) and NAME.pub (SubjectPublicKeyInfo PEM).  Existing files are never overwritten."""
    if not KEY_NAME.fullmatch(name):
        raise UsageError(f"--name {name!r}: use letters, digits, '.', '_' or '-'")
    private_path, public_path = folder / f"{name}.key", folder / f"{name}.pub"
    for path in (private_path, public_path):
        if path.exists() or path.is_symlink():
            raise UsageError(f"{path} already exists; choose another --name or move it away")
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        _write_new(private_path, pem, 0o600)
        _write_new(public_path, public, 0o644)
    except OSError as exc:
        raise UsageError(f"cannot write keys in {folder}: {exc.strerror or exc}") from None
    return KeyFiles(keyid_of(key.public_key()), private_path, public_path, bool(passphrase))


def load_signer(path: Path, passphrase: Callable[[Path], bytes]) -> CryptoSigner:
    """A private key file as a signer; `passphrase` is asked only for an encrypted key.  Like
    ssh, a key file others can read or write is refused."""
    try:
        info = path.stat()
        data = path.read_bytes() if stat.S_ISREG(info.st_mode) else b""
    except OSError as exc:
        raise UsageError(f"--key {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise UsageError(f"--key {path}: not a regular file")
    if info.st_mode & 0o077:
        raise UsageError(
            f"--key {path}: private key is accessible by others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
        )
    try:
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:  # encrypted
            key = serialization.load_pem_private_key(data, password=passphrase(path))
    except ValueError as exc:
        what = "wrong passphrase" if "decrypt" in str(exc).lower() else "not a PEM private key"
        raise UsageError(f"--key {path}: {what}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"--key {path}: not an Ed25519 key")
    public = key.public_key()
    return CryptoSigner(key, SSlibKey.from_crypto(public, keyid=keyid_of(public)))


def load_public_key(path: Path, display: str) -> PublicKey:
    """A SubjectPublicKeyInfo PEM file; raises ValueError with what is wrong."""
    try:
        data = _read_regular(path, 65_536)
    except Rejected as exc:
        raise ValueError(f"cannot read public key {display}: {exc.reason}") from None
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError:
        raise ValueError(f"{display} is not a PEM public key") from None
    if not isinstance(public, Ed25519PublicKey):
        raise ValueError(f"{display} is not an Ed25519 public key")
    keyid = keyid_of(public)
    return PublicKey(keyid, display, SSlibKey.from_crypto(public, keyid=keyid))


# --- the trust file ------------------------------------------------------------------------


class TrustEntry(Strict):
    keys: list[str] = Field(min_length=1)
    threshold: int = Field(default=1, ge=1)


class TrustModel(Strict):
    provinces: dict[str, TrustEntry]


@dataclass(frozen=True)
class ProvinceTrust:
    keys: tuple[PublicKey, ...]
    threshold: int


@dataclass(frozen=True)
class Trust:
    file: str
    provinces: Mapping[str, ProvinceTrust]

    def keys(self) -> dict[str, tuple[PublicKey, list[str]]]:
        """Every key the file lists, by key id, with the provinces it may sign for."""
        found: dict[str, tuple[PublicKey, list[str]]] = {}
        for code, entry in self.provinces.items():
            for key in entry.keys:
                found.setdefault(key.keyid, (key, []))[1].append(code)
        return found


def load_trust(path: Path, geo: Geography) -> Trust:
    """The trust file: provinces (code, slug or name) -> public key paths (relative to the
    file) and a threshold.  Every problem is reported with its line, then exit 2."""
    doc = load_file(path)
    provinces = doc.data.get("provinces") if isinstance(doc.data, dict) else None
    if isinstance(provinces, dict):
        unquoted = [k for k in provinces if not isinstance(k, str)]
        if unquoted:
            raise ConfigError(
                [
                    doc.problem(("provinces", str(k)), f'quote the province code: "{k!s:0>2}"')
                    for k in unquoted
                ]
            )
    model = validate(TrustModel, doc)
    problems: list[Problem] = []
    entries: dict[str, ProvinceTrust] = {}
    for name, entry in model.provinces.items():
        where = ("provinces", name)
        try:
            code = geo.find(name).code
        except UsageError as exc:
            problems.append(doc.problem(where, str(exc)))
            continue
        if code in entries:
            problems.append(doc.problem(where, f"province {code} is listed twice"))
            continue
        keys: dict[str, PublicKey] = {}
        for n, text in enumerate(entry.keys):
            try:
                key = load_public_key(path.parent / text, text)
            except ValueError as exc:
                problems.append(doc.problem((*where, "keys", n), str(exc)))
                continue
            if key.keyid in keys:
                problems.append(doc.problem((*where, "keys", n), f"{text} is listed twice"))
            keys[key.keyid] = key
        if entry.threshold > len(keys) and len(keys) == len(entry.keys):
            problems.append(
                doc.problem(
                    (*where, "threshold"),
                    f"threshold {entry.threshold} is more than the {len(keys)} keys listed",
                )
            )
        entries[code] = ProvinceTrust(tuple(keys.values()), entry.threshold)
    if problems:
        raise ConfigError(problems)
    return Trust(doc.file, entries)


# --- reading bundle files ------------------------------------------------------------------


@dataclass(frozen=True)
class Piece:
    """One envelope from a bundle file (`FILE`, or `FILE:LINE` in JSON Lines), or why the
    file cannot be read."""

    label: str
    raw: bytes = b""
    problem: str = ""


def read_bundle_file(path: Path, limit: int = MAX_BUNDLE_BYTES) -> list[Piece]:
    label = str(path)
    try:
        data = _read_regular(path, limit)
    except Rejected as exc:
        return [Piece(label, problem=exc.reason)]
    if not path.name.endswith((".jsonl", ".JSONL")):
        return [Piece(label, data)]
    pieces = [
        Piece(f"{label}:{n}", line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()
    ]
    return pieces or [Piece(label, problem="empty JSON Lines file: no envelope")]


def _read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most `limit` bytes.  Opening does not block, so a
    FIFO or a device is refused at once instead of waiting for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except FileNotFoundError:
        raise Rejected("no such file") from None
    except OSError as exc:
        raise Rejected(f"cannot open: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Rejected(f"not a regular file ({_kind(info.st_mode)})")
        if info.st_size > limit:
            raise Rejected(f"too large: {info.st_size:,} bytes, over the {limit:,}-byte limit")
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise Rejected(f"too large: over the {limit:,}-byte limit")
        return b"".join(chunks)
    except OSError as exc:
        raise Rejected(f"cannot read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if test(mode):
            return name
    return "not a file"


def write_bundle(path: Path, envelopes: Sequence[Mapping[str, Any]]) -> None:
    """One envelope as a JSON document, or JSON Lines for a `.intoto.jsonl` name; written to
    a temporary file first, so a reader never sees half a bundle."""
    if path.name.endswith(JSONL_SUFFIX):
        text = "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in envelopes)
    elif len(envelopes) == 1:
        text = json.dumps(envelopes[0], indent=2) + "\n"
    else:
        raise UsageError(f"-o {path}: several provinces need a {JSONL_SUFFIX} file")
    temporary = path.with_name(f".{path.name}.partial")
    try:
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise UsageError(f"-o {path}: {exc.strerror or exc}") from None


# --- verification --------------------------------------------------------------------------

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


# --- export and import over the store contract -----------------------------------------------


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
    sequence = store.record_export(site, province.code, at)
    statement = build_statement(
        evidence,
        province=province,
        checklist=checklist,
        site=site,
        sequence=sequence,
        exported_at=at,
        exported_by=by,
    )
    return Exported(sign(statement, signers), sequence, evidence)
