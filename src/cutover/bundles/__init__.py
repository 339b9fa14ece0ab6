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

Modules: `schema` (the JSON shape, canonical JSON, `Rejected`), `statement` (records <->
JSON), `envelope` (DSSE), `keys`, `trust`, `files` (reading and writing bundle files),
`verify`, `export`.

Signing and verifying use securesystemslib (`dsse.Envelope`, `CryptoSigner`, `SSlibKey`) on
pyca/cryptography; both are the optional extra `cutover[bundles]`.
"""

from __future__ import annotations

from cutover.bundles.envelope import pae, parse_envelope, sign
from cutover.bundles.export import Exported, export
from cutover.bundles.files import (
    JSONL_SUFFIX,
    MAX_BUNDLE_BYTES,
    Piece,
    check_count,
    check_target,
    read_bundle_file,
    write_bundle,
)
from cutover.bundles.keys import KeyFiles, PublicKey, keyid_of, load_signer, write_keypair
from cutover.bundles.schema import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Rejected,
)
from cutover.bundles.statement import build_statement
from cutover.bundles.trust import Trust, load_trust
from cutover.bundles.verify import Checked, SignatureCheck, verify

__all__ = [
    "JSONL_SUFFIX",
    "MAX_BUNDLE_BYTES",
    "PAYLOAD_TYPE",
    "PREDICATE_TYPE",
    "STATEMENT_TYPE",
    "Checked",
    "Exported",
    "KeyFiles",
    "Piece",
    "PublicKey",
    "Rejected",
    "SignatureCheck",
    "Trust",
    "build_statement",
    "check_count",
    "check_target",
    "export",
    "keyid_of",
    "load_signer",
    "load_trust",
    "pae",
    "parse_envelope",
    "read_bundle_file",
    "sign",
    "verify",
    "write_bundle",
    "write_keypair",
]
