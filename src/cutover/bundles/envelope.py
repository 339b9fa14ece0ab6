"""DSSE: the pre-authentication encoding, signing an envelope (securesystemslib), and a
strict reading of one."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from securesystemslib.dsse import Envelope
from securesystemslib.signer import CryptoSigner

from cutover.bundles.schema import PAYLOAD_TYPE, Rejected, canonical

MAX_SIGNATURES = 16  # each one may be tried against every trusted key


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
