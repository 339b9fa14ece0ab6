"""Signed evidence bundles (issue 12): `keygen`, `export`, `import` and `verify` on real files.

Commands run in-process through `cli.main` with an environment frozen at the telegram's time,
so every site's evidence is stamped as it would have been at 13:00 on 28 June 2025.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import Result

from cutover.cli import main
from cutover.env import Environment, fixed_clock

T = datetime.fromisoformat("2025-06-28T13:00:00+07:00")
TAG = "telegram-2025-06-28"
TABLES = ("runs", "units", "results", "attestations", "waivers", "bundle_imports")


@dataclass
class Ran:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    @property
    def err_lines(self) -> list[str]:
        return self.err.splitlines()


def cutover(
    *args: str | Path,
    site: str = "central",
    at: datetime = T,
    environ: dict[str, str] | None = None,
) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    env = Environment(
        clock=fixed_clock(at),
        environ={"NO_COLOR": "1", "CUTOVER_SITE": site, **(environ or {})},
        stdout=out,
        stderr=err,
        user="tester",
        host="test-host",
    )
    code = 0
    try:
        main([str(a) for a in args], env=env)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return Ran(code, out.getvalue(), err.getvalue())


def ok(*args: str | Path, **kw: Any) -> Ran:
    ran = cutover(*args, **kw)
    assert ran.code == 0, ran.err
    return ran


def counts(db: Path | str) -> dict[str, int]:
    return {t: rows(db, f"SELECT COUNT(*) FROM {t}")[0][0] for t in TABLES}


def rows(db: Path | str, sql: str) -> list[tuple[Any, ...]]:
    """Rows of a SQLite file, or of a PostgreSQL store as its URL's role sees them."""
    if str(db).startswith("postgresql://"):
        import psycopg

        with psycopg.connect(str(db)) as pg:
            return pg.execute(sql).fetchall()  # type: ignore[arg-type]
    with sqlite3.connect(db) as conn:
        found = conn.execute(sql).fetchall()
    conn.close()
    return found


def keyid_of_pub(path: Path) -> str:
    from cryptography.hazmat.primitives import serialization

    public = serialization.load_pem_public_key(path.read_bytes())
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()


def statement_of(path: Path) -> dict[str, Any]:
    envelope = json.loads(path.read_text(encoding="utf-8"))
    return json.loads(base64.b64decode(envelope["payload"]))  # type: ignore[no-any-return]


def jcs(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# --- keys --------------------------------------------------------------------------------


def test_keygen_writes_a_private_pem_and_a_public_pem_and_prints_the_key_id(
    tmp_path: Path,
) -> None:
    ran = cutover("keygen", "--out", tmp_path / "keys", "--name", "hp-officer")
    assert ran.code == 0, ran.err
    private, public = tmp_path / "keys/hp-officer.key", tmp_path / "keys/hp-officer.pub"
    keyid = keyid_of_pub(public)
    assert ran.lines == [
        f"keyid {keyid}",
        f"private key: {private} (mode 0600, not encrypted); it stays with its signer",
        f"public key: {public}; list it in the importer's trust file",
    ]
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_text().startswith("-----BEGIN PRIVATE KEY-----\n")  # PKCS#8
    assert public.read_text().startswith("-----BEGIN PUBLIC KEY-----\n")  # SubjectPublicKeyInfo
    # The documented key id, computed by another tool.
    if shutil.which("openssl"):
        der = subprocess.run(
            ["openssl", "pkey", "-pubin", "-in", str(public), "-outform", "DER"],
            capture_output=True,
            check=True,
        ).stdout
        assert hashlib.sha256(der).hexdigest() == keyid
    again = cutover("keygen", "--out", tmp_path / "keys", "--name", "hp-officer")
    assert again.code == 2
    assert again.err_lines == [
        f"cutover: error: {private} already exists; choose another --name or move it away"
    ]
    assert cutover("keygen", "--out", tmp_path, "--name", "../x").code == 2


def test_a_passphrase_protected_key_signs_only_with_its_passphrase(
    tmp_path: Path, demo_copy: Path, elsewhere: Path
) -> None:
    # fmt: off
    ran = cutover("keygen", "--out", tmp_path, "--name", "enc", "--passphrase-env", "KEYPASS",
                  environ={"KEYPASS": "correct horse"})
    # fmt: on
    assert ran.code == 0, ran.err
    assert "(mode 0600, passphrase-protected)" in ran.lines[1]
    assert (tmp_path / "enc.key").read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    export = ("export", "-p", "31", "--key", tmp_path / "enc.key", "-o", tmp_path / "b.json")
    export += ("--db", demo_copy)  # type: ignore[assignment]
    no_pass = cutover(*export)
    assert no_pass.code == 2
    assert no_pass.err_lines == [
        f"cutover: error: --key {tmp_path / 'enc.key'}: give the passphrase with "
        "--passphrase-env VAR"
    ]
    wrong = cutover(*export, "--passphrase-env", "KEYPASS", environ={"KEYPASS": "wrong"})
    # For about one wrong passphrase in 250, ", or the key file is damaged" follows (see below).
    assert len(wrong.err_lines) == 1 and wrong.err_lines[0].startswith(
        f"cutover: error: --key {tmp_path / 'enc.key'}: wrong passphrase"
    )
    unset = cutover(*export, "--passphrase-env", "NOPE")
    assert unset.err_lines == [
        "cutover: error: --passphrase-env NOPE: the variable is not set or is empty"
    ]
    assert not (tmp_path / "b.json").exists()
    right = cutover(*export, "--passphrase-env", "KEYPASS", environ={"KEYPASS": "correct horse"})
    assert right.code == 0, right.err
    assert (tmp_path / "b.json").is_file()


# An Ed25519 key encrypted with scrypt at N = 3 (passphrase "right"): N must be a power of
# two, and OpenSSL refuses it whatever the passphrase.
SCRYPT_N3 = b"""-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGaMFYGCSqGSIb3DQEFDTBJMCgGCSsGAQQB2kcECzAbBBCHI2VKLhSfT+0jmMwicme+AgEDAgEI
AgEBMB0GCWCGSAFlAwQBKgQQ+/dUCwbkq7A4gnJt+pFuHARA5e3vkNUdAiZGDe8tyrZhXvgGqzkm
6kcknJzBm7EpidvKHA8m1BsXXkf8gcF0vjyh7jwkLxBEBcP7PaJ3WYrapg==
-----END ENCRYPTED PRIVATE KEY-----
"""


def test_each_way_a_signing_key_fails_to_open_says_why(tmp_path: Path) -> None:
    """A wrong passphrase mostly fails the decryption, but for about one in 250 what it
    decrypts to ends in valid padding and the parse fails instead (the CI run once met one
    and read "not a PEM private key"): both blame the passphrase, the second not alone.  An
    algorithm cryptography does not know, an unknown key type, an empty passphrase and
    OpenSSL's own refusal each say so, never with a traceback."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from cutover.bundles.keys import load_signer
    from cutover.errors import UsageError

    key = tmp_path / "enc.key"

    def refusal(pem: bytes, passphrase: bytes) -> str:
        key.write_bytes(pem)
        key.chmod(0o600)
        with pytest.raises(UsageError) as refused:
            load_signer(key, lambda _path: passphrase)
        return str(refused.value).removeprefix(f"--key {key}: ")

    def pem_of(label: bytes, der: bytes) -> bytes:
        return b"-----BEGIN %s-----\n%s-----END %s-----\n" % (
            label, base64.encodebytes(der), label,
        )  # fmt: skip

    secret = Ed25519PrivateKey.generate()
    pem = secret.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"correct horse"),
    )
    kinds: dict[bool, bytes] = {}  # whether cryptography's message names the decryption
    for i in range(5000):
        wrong = f"wrong {i}".encode()
        try:
            serialization.load_pem_private_key(pem, password=wrong)
        except ValueError as exc:
            kinds.setdefault("decrypt" in str(exc).lower(), wrong)
        if len(kinds) == 2:
            break
    assert set(kinds) == {True, False}, kinds
    assert refusal(pem, kinds[True]) == "wrong passphrase"
    assert refusal(pem, kinds[False]) == "wrong passphrase, or the key file is damaged"
    assert refusal(pem, b"") == "the key is encrypted and the passphrase is empty"
    key.write_bytes(pem)
    assert load_signer(key, lambda _path: b"correct horse").public_key is not None
    # A cipher cryptography does not know fails whatever the passphrase: the key's
    # AES-256-CBC (OID 2.16.840.1.101.3.4.1.42) made an unassigned sibling.
    der = base64.b64decode(b"".join(pem.splitlines()[1:-1]))
    aes = bytes.fromhex("060960864801650304012a")
    assert der.count(aes) == 1
    unknown = pem_of(b"ENCRYPTED PRIVATE KEY", der.replace(aes, aes[:-1] + b"\x7f"))
    assert refusal(unknown, b"correct horse") == (
        "encrypted with an algorithm cutover cannot read "
        "(Unknown key encryption algorithm: 2.16.840.1.101.3.4.1.127)"
    )
    # An unknown key type (Ed25519's OID 1.3.101.112 made 1.3.101.127), unencrypted.
    plain = secret.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    ed25519 = bytes.fromhex("06032b6570")
    assert plain.count(ed25519) == 1
    odd = pem_of(b"PRIVATE KEY", plain.replace(ed25519, ed25519[:-1] + b"\x7f"))
    assert refusal(odd, b"") == "not an Ed25519 key (Unknown key type: 1.3.101.127)"
    assert refusal(SCRYPT_N3, b"right") == (
        "cannot read the encrypted key: OpenSSL refused it (a damaged file, or key "
        "derivation parameters it does not accept)"
    )
    assert refusal(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", b"") == (
        "not a PEM private key"
    )
    # An Ed25519 key of 30 bytes instead of 32, unencrypted: OpenSSL's own refusal.
    short = b"MCwCAQAwBQYDK2VwBCAEHuW8ZBvwxw01w8eDQbjAqvyiQMxe3qNN1OJR0O2eKQ=="
    assert refusal(pem_of(b"PRIVATE KEY", base64.b64decode(short)), b"") == (
        "not a valid private key (OpenSSL refused it)"
    )
    assert refusal(pem_of(b"OPENSSH PRIVATE KEY", b"openssh-key-v1\0"), b"") == (
        "an OpenSSH private key; export signs with a PEM (PKCS#8) Ed25519 key, which "
        "`cutover keygen` makes"
    )


def test_a_passphrase_not_in_utf8_is_used_as_its_bytes(tmp_path: Path, demo_copy: Path) -> None:
    """A passphrase variable holding bytes that are not UTF-8 (the process sees them as
    surrogate escapes) encrypts and opens the key by those bytes, not an internal error."""
    odd = {"KEYPASS": os.fsdecode(b"caf\xe9 \xff")}
    ok("keygen", "--out", tmp_path, "--name", "k", "--passphrase-env", "KEYPASS", environ=odd)
    out = tmp_path / "b.json"
    export = ("export", "-p", "31", "--key", tmp_path / "k.key", "-o", out, "--db", demo_copy)
    ok(*export, "--passphrase-env", "KEYPASS", environ=odd)
    assert out.is_file()


def test_a_private_key_others_can_read_is_refused(
    tmp_path: Path, demo_copy: Path, elsewhere: Path
) -> None:
    cutover("keygen", "--out", tmp_path, "--name", "k")
    (tmp_path / "k.key").chmod(0o644)
    # fmt: off
    ran = cutover("export", "-p", "31", "--key", tmp_path / "k.key", "-o", tmp_path / "b.json",
                  "--db", demo_copy)
    # fmt: on
    assert ran.code == 2
    assert ran.err_lines == [
        f"cutover: error: --key {tmp_path / 'k.key'}: private key is accessible by others "
        f"(mode 0644); run `chmod 600 {tmp_path / 'k.key'}`"
    ]


def test_a_public_key_given_to_export_is_named_as_such(
    tmp_path: Path, demo_copy: Path, elsewhere: Path
) -> None:
    cutover("keygen", "--out", tmp_path, "--name", "k")
    # fmt: off
    ran = cutover("export", "-p", "31", "--key", tmp_path / "k.pub", "-o", tmp_path / "b.json",
                  "--db", demo_copy)
    # fmt: on
    assert (ran.code, ran.out) == (2, "")
    assert ran.err_lines == [
        f"cutover: error: --key {tmp_path / 'k.pub'}: is a public key; export signs with the "
        f"signer's private key (--key {tmp_path / 'k.key'}?), and the public key goes in the "
        "importer's trust file"
    ]
    assert not (tmp_path / "b.json").exists()


# --- a small world: one site's store, keys for 31 (two) and 01, another key, a trust file -


@dataclass
class World:
    root: Path
    site_db: Path  # the demo store, as site 31 holds it
    central: Path | str  # a SQLite file, or a PostgreSQL store's URL (its owner, national)
    trust: Path

    def key(self, name: str) -> Path:
        return self.root / "keys" / f"{name}.key"

    def export(self, name: str, *keys: str, province: str = "31", **kw: Any) -> Path:
        out = self.root / name
        args: list[str | Path] = ["export", "-p", province, "-o", out, "--db", self.site_db]
        for k in keys or ("hp-officer",):
            args += ["--key", self.key(k)]
        ran = cutover(*args, site=kw.get("site", "31"), at=kw.get("at", T + timedelta(hours=1)))
        assert ran.code == 0, ran.err
        return out

    def import_(self, *paths: Path, trust: Path | None = None) -> Ran:
        return cutover("import", "--trust", trust or self.trust, *paths, "--db", self.central)

    def verify(self, *paths: Path, trust: Path | None = None) -> Ran:
        return cutover("verify", *paths, "--trust", trust or self.trust)

    def resign(
        self,
        source: Path,
        name: str,
        change: Callable[[dict[str, Any]], None],
        key: str = "hp-officer",
        reseal: bool = True,
    ) -> Path:
        """A statement changed and signed again with a trusted key: what a dishonest or
        buggy site could produce.  `reseal` recomputes the province digest as an honest
        producer would."""
        from cutover import bundles

        statement = statement_of(source)
        change(statement)
        if reseal:
            evidence = statement["predicate"]["evidence"]
            statement["subject"][0]["digest"]["sha256"] = hashlib.sha256(jcs(evidence)).hexdigest()
        signer = bundles.load_signer(self.key(key), lambda _: b"")
        out = self.root / name
        out.write_text(json.dumps(bundles.sign(statement, [signer])), encoding="utf-8")
        return out


@pytest.fixture
def world(
    request: pytest.FixtureRequest, tmp_path: Path, demo_copy: Path, elsewhere: Path
) -> World:
    """The central store is a SQLite file, or with `@BOTH_STORES` also a PostgreSQL one."""
    from cutover.bundles import write_keypair

    for name in ("hp-officer", "hp-leader", "hn", "stranger"):
        write_keypair(tmp_path / "keys", name, None)
    trust = tmp_path / "trust.yaml"
    trust.write_text(
        "provinces:\n"
        '  "31": {keys: [keys/hp-officer.pub, keys/hp-leader.pub]}\n'
        '  "01": {keys: [keys/hn.pub]}\n',
        encoding="utf-8",
    )
    evidence = tmp_path / "register.pdf"
    evidence.write_bytes(b"%PDF-1.4 the steering committee's register of received plans")
    # fmt: off
    ok("mark", "31", "commune-plans", "--by", "Nguyễn Văn A", "--evidence-file", evidence,
       "--db", demo_copy, site="31", at=T - timedelta(hours=2))
    ok("waive", "31", "online-payment-test", "--reason", "bank link late",
       "--approver", "Chủ tịch UBND", "--until", "2025-06-30T17:00+07:00",
       "--db", demo_copy, site="31", at=T - timedelta(hours=1))
    # fmt: on
    central: Path | str = tmp_path / "central.db"
    if getattr(request, "param", "sqlite") == "postgres":
        from cutover.store import admin

        db = request.getfixturevalue("pg_db")
        admin.init(db.url, {})
        central = db.url
    return World(tmp_path, demo_copy, central, trust)


# The tests where the central store's backend matters run against both.
BOTH_STORES = pytest.mark.parametrize("world", ["sqlite", "postgres"], indirect=True)


def test_export_carries_the_province_its_evidence_and_the_runs_in_an_intoto_statement(
    world: World,
) -> None:
    bundle = world.export("31.json", "hp-officer", "hp-leader")
    envelope = json.loads(bundle.read_text(encoding="utf-8"))
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    assert [s["keyid"] for s in envelope["signatures"]] == [
        keyid_of_pub(world.root / "keys/hp-officer.pub"),
        keyid_of_pub(world.root / "keys/hp-leader.pub"),
    ]
    statement = statement_of(bundle)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://cutover.example/readiness-evidence/v1"
    predicate = statement["predicate"]
    evidence = predicate["evidence"]
    register = hashlib.sha256((world.root / "register.pdf").read_bytes()).hexdigest()
    (attestation,) = evidence["attestations"]
    assert statement["subject"] == [
        {"name": "province/31", "digest": {"sha256": hashlib.sha256(jcs(evidence)).hexdigest()}},
        {
            "name": f"evidence/{attestation['uid']}/register.pdf",
            "digest": {"sha256": register},
        },
    ]
    assert attestation["evidenceSha256"] == register and attestation["site"] == "31"
    assert attestation["by"] == "Nguyễn Văn A"
    assert [w["reason"] for w in evidence["waivers"]] == ["bank link late"]
    assert predicate["province"] == {"code": "31", "name": "Thành phố Hải Phòng"}
    assert predicate["site"] == "31"
    assert predicate["export"]["sequence"] == 1
    assert predicate["export"]["exportedAt"] == "2025-06-28T07:00:00.000000Z"
    assert predicate["checklist"]["id"] == "cutover-2025-06"
    # The demo's national run, narrowed to this province; every result is about 31.
    (run,) = evidence["runs"]
    assert run["scope"]["provinces"] == ["31"] and run["complete"] is True
    assert len(evidence["results"]) == 121
    assert {r["province"] for r in evidence["results"]} == {"31"}
    assert {r["run"] for r in evidence["results"]} == {run["uid"]}
    again = statement_of(world.export("31-again.json"))["predicate"]["export"]
    assert again["sequence"] == 2


def test_securesystemslib_verifies_a_cutover_bundle_without_cutover(world: World) -> None:
    """Independent code: securesystemslib's DSSE envelope and keys, then a hand-written PAE
    with pyca/cryptography.  Nothing from cutover is imported."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.serialization import load_pem_public_key
    from securesystemslib.dsse import Envelope
    from securesystemslib.signer import SSlibKey

    bundle = world.export("31.json", "hp-officer", "hp-leader")
    keys = []
    for name in ("hp-officer", "hp-leader"):
        public = load_pem_public_key((world.root / f"keys/{name}.pub").read_bytes())
        keys.append(
            SSlibKey.from_crypto(public, keyid=keyid_of_pub(world.root / f"keys/{name}.pub"))
        )  # type: ignore[arg-type]
    envelope = Envelope.from_dict(json.loads(bundle.read_text(encoding="utf-8")))
    accepted = envelope.verify(keys, 2)
    assert set(accepted) == {k.keyid for k in keys}
    assert json.loads(envelope.payload)["_type"] == "https://in-toto.io/Statement/v1"

    raw = json.loads(bundle.read_text(encoding="utf-8"))
    payload = base64.b64decode(raw["payload"])
    kind = raw["payloadType"].encode()
    pae = b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)
    for signature, name in zip(raw["signatures"], ("hp-officer", "hp-leader"), strict=True):
        public = load_pem_public_key((world.root / f"keys/{name}.pub").read_bytes())
        public.verify(base64.b64decode(signature["sig"]), pae)  # type: ignore[union-attr,call-arg]
        with pytest.raises(InvalidSignature):
            public.verify(base64.b64decode(signature["sig"]), pae + b" ")  # type: ignore[union-attr,call-arg]


def test_pae_is_the_dsse_one() -> None:
    from securesystemslib.dsse import Envelope

    from cutover.bundles import pae

    # The example of the DSSE protocol document.
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )
    body = "Hải Phòng".encode()
    assert (
        pae("application/vnd.in-toto+json", body)
        == Envelope(body, "application/vnd.in-toto+json", {}).pae()
    )


def test_verify_shows_who_signed_what(world: World) -> None:
    bundle = world.export("31.json", "hp-officer", "hp-leader")
    officer = keyid_of_pub(world.root / "keys/hp-officer.pub")
    leader = keyid_of_pub(world.root / "keys/hp-leader.pub")
    ran = world.verify(bundle)
    assert ran.code == 0, ran.out
    digest = statement_of(bundle)["predicate"]["checklist"]["digest"]["sha256"]
    assert ran.lines == [
        f"{bundle}: verified: province 31 (Thành phố Hải Phòng) from site 31, sequence 1, "
        "exported 2025-06-28T07:00:00+00:00 by tester@test-host",
        f"  signature 1: keyid {officer[:16]}… keys/hp-officer.pub (for 31): valid",
        f"  signature 2: keyid {leader[:16]}… keys/hp-leader.pub (for 31): valid",
        "  2 valid signatures, 1 required for province 31",
        f"  signed contents: checklist cutover-2025-06 sha256:{digest[:12]}…, 1 runs, "
        "121 results, 1 attestations (1 evidence files), 1 waivers",
    ]
    assert not Path(world.central).exists()  # verification only


@BOTH_STORES
def test_import_keeps_the_origin_and_is_idempotent(world: World) -> None:
    bundle = world.export("31.json")
    first = world.import_(bundle)
    assert first.code == 0, first.err
    assert first.lines == [
        f"imported {bundle}: province 31 from site 31, sequence 1, 1 of 1 required "
        "signatures: 1 runs, 121 results, 1 attestations, 1 waivers new"
    ]
    site = {
        "runs": rows(
            world.site_db, "SELECT uid, site, started_at, confirmed_at, complete FROM runs"
        ),
        "attestations": rows(
            world.site_db, "SELECT uid, site, at, evidence_sha256 FROM attestations"
        ),
        "waivers": rows(world.site_db, "SELECT uid, site, at, until_at FROM waivers"),
    }
    central = {
        "runs": rows(
            world.central, "SELECT uid, site, started_at, confirmed_at, complete FROM runs"
        ),
        "attestations": rows(
            world.central, "SELECT uid, site, at, evidence_sha256 FROM attestations"
        ),
        "waivers": rows(world.central, "SELECT uid, site, at, until_at FROM waivers"),
    }
    # Each row keeps its site and times, under province 31's uid (imported_uid).
    assert central == {t: [(f"31:{uid}", *rest) for uid, *rest in r] for t, r in site.items()}
    assert rows(world.central, "SELECT scope_provinces FROM runs") == [("31",)]
    before = counts(world.central)
    again = world.import_(bundle)
    assert again.code == 0
    assert again.lines == [
        f"already imported {bundle}: province 31 from site 31, sequence 1; nothing changed"
    ]
    assert counts(world.central) == before
    # A newer export of the same rows adds nothing but its own ledger line.
    newer = world.export("31-2.json")
    added = world.import_(newer).lines[0]
    assert added.endswith("0 runs, 0 results, 0 attestations, 0 waivers new")
    assert counts(world.central) == {**before, "bundle_imports": 2}


@BOTH_STORES
def test_a_province_matrix_survives_the_trip(world: World) -> None:
    bundle = world.export("31.json")
    assert world.import_(bundle).code == 0
    args = ("matrix", "-p", "31", "--format", "json", "--as-of", "2025-06-28T13:00+07:00")
    site = json.loads(cutover(*args, "--db", world.site_db).out)
    central = json.loads(cutover(*args, "--db", world.central).out)
    assert central["cells"] == site["cells"]
    statuses = {c["step"]: c["status"] for c in central["cells"]}
    assert statuses["commune-plans"] == "done" and statuses["online-payment-test"] == "waived"


# --- rejections: each on a real file, and nothing of the bundle reaches the store -----------


@pytest.fixture
def loaded(world: World) -> World:
    """The central store already holds one bundle from site 31 (sequence 1)."""
    assert world.import_(world.export("first.json")).code == 0
    return world


def rejected(world: World, bundle: Path, reason: str, trust: Path | None = None) -> None:
    """Import refuses `bundle` with exactly `reason`, exit 1, and changes nothing."""
    before = counts(world.central)
    ran = world.import_(bundle, trust=trust)
    assert (ran.code, ran.out) == (1, ""), ran
    assert ran.err_lines == [f"cutover: rejected {bundle}: {reason}"]
    assert counts(world.central) == before
    check = world.verify(bundle, trust=trust)
    if not reason.startswith(("replay", "conflict")):  # the store's checks; verify has none
        assert check.code == 1 and check.lines[0] == f"{bundle}: rejected: {reason}"


def _payload(bundle: Path, change: Callable[[bytes], bytes], name: str) -> Path:
    envelope = json.loads(bundle.read_text(encoding="utf-8"))
    payload = change(base64.b64decode(envelope["payload"]))
    envelope["payload"] = base64.b64encode(payload).decode()
    out = bundle.with_name(name)
    out.write_text(json.dumps(envelope), encoding="utf-8")
    return out


def test_tampered_payload(loaded: World) -> None:
    bundle = loaded.export("2.json")
    text = statement_of(bundle)["predicate"]["evidence"]["results"]
    assert any(r["outcome"] == "fail" for r in text)
    tampered = _payload(
        bundle, lambda p: p.replace(b'"outcome":"fail"', b'"outcome":"pass"'), "tampered.json"
    )
    keyid = keyid_of_pub(loaded.root / "keys/hp-officer.pub")
    rejected(
        loaded,
        tampered,
        f"bad signature: keyid {keyid[:16]}…: does not verify with any trusted key",
    )


def test_swapped_signature(loaded: World) -> None:
    one, two = loaded.export("2.json"), loaded.export("3.json")
    envelope = json.loads(one.read_text(encoding="utf-8"))
    envelope["signatures"] = json.loads(two.read_text(encoding="utf-8"))["signatures"]
    swapped = loaded.root / "swapped.json"
    swapped.write_text(json.dumps(envelope), encoding="utf-8")
    keyid = keyid_of_pub(loaded.root / "keys/hp-officer.pub")
    rejected(
        loaded, swapped, f"bad signature: keyid {keyid[:16]}…: does not verify with any trusted key"
    )


def test_one_bad_signature_among_good_ones_rejects(loaded: World) -> None:
    good = loaded.export("2.json", "hp-officer", "hp-leader")
    other = loaded.export("3.json", "hp-officer", "hp-leader")
    envelope = json.loads(good.read_text(encoding="utf-8"))
    envelope["signatures"][1] = json.loads(other.read_text(encoding="utf-8"))["signatures"][1]
    mixed = loaded.root / "mixed.json"
    mixed.write_text(json.dumps(envelope), encoding="utf-8")
    keyid = keyid_of_pub(loaded.root / "keys/hp-leader.pub")
    rejected(
        loaded, mixed, f"bad signature: keyid {keyid[:16]}…: does not verify with any trusted key"
    )


def test_key_of_another_province(loaded: World) -> None:
    bundle = loaded.export("2.json", "hn")
    keyid = keyid_of_pub(loaded.root / "keys/hn.pub")
    rejected(
        loaded,
        bundle,
        f"key keys/hn.pub (keyid {keyid[:16]}…) is trusted for 01, not for province 31",
    )


def test_key_the_trust_file_does_not_list(loaded: World) -> None:
    bundle = loaded.export("2.json", "stranger")
    keyid = keyid_of_pub(loaded.root / "keys/stranger.pub")
    rejected(
        loaded, bundle, f"untrusted signature: keyid {keyid[:16]}…: not a key the trust file lists"
    )


def test_the_keyid_is_only_a_hint(loaded: World) -> None:
    """DSSE: a signature without a keyid, or with a wrong one, is tried with every trusted
    key; what counts is which key verifies it."""
    envelope = json.loads(loaded.export("2.json", "hp-officer", "hp-leader").read_text())
    del envelope["signatures"][0]["keyid"]
    envelope["signatures"][1]["keyid"] = keyid_of_pub(loaded.root / "keys/hn.pub")
    hinted = loaded.root / "hints.json"
    hinted.write_text(json.dumps(envelope), encoding="utf-8")
    ran = loaded.verify(hinted)
    assert ran.code == 0, ran.out
    officer = keyid_of_pub(loaded.root / "keys/hp-officer.pub")
    leader = keyid_of_pub(loaded.root / "keys/hp-leader.pub")
    assert ran.lines[1:4] == [
        f"  signature 1: keyid {officer[:16]}… keys/hp-officer.pub (for 31): valid",
        f"  signature 2: keyid {leader[:16]}… keys/hp-leader.pub (for 31): valid",
        "  2 valid signatures, 1 required for province 31",
    ]
    assert loaded.import_(hinted).code == 0
    envelope["signatures"] = envelope["signatures"][:1]
    envelope["payload"] = base64.b64encode(b"{}").decode()
    hinted.write_text(json.dumps(envelope), encoding="utf-8")
    rejected(
        loaded, hinted, "untrusted signature: a signature without keyid: no trusted key verifies it"
    )


def test_missing_signature(loaded: World) -> None:
    envelope = json.loads(loaded.export("2.json").read_text(encoding="utf-8"))
    envelope["signatures"] = []
    bare = loaded.root / "bare.json"
    bare.write_text(json.dumps(envelope), encoding="utf-8")
    rejected(loaded, bare, "not signed: the envelope has no signatures")


def test_fewer_valid_signatures_than_the_threshold(loaded: World) -> None:
    strict = loaded.root / "strict.yaml"
    strict.write_text(
        'provinces:\n  "31": {keys: [keys/hp-officer.pub, keys/hp-leader.pub], threshold: 2}\n',
        encoding="utf-8",
    )
    one = loaded.export("2.json", "hp-officer")
    rejected(loaded, one, "1 valid signature for province 31, 2 required", trust=strict)
    both = loaded.export("3.json", "hp-officer", "hp-leader")
    ran = loaded.import_(both, trust=strict)
    assert ran.code == 0, ran.err
    assert "2 of 2 required signatures" in ran.lines[0]


@BOTH_STORES
def test_replayed_older_bundle(loaded: World) -> None:
    older, newer = loaded.export("2.json"), loaded.export("3.json")
    assert loaded.import_(newer).code == 0
    rejected(
        loaded,
        older,
        "replay: sequence 2 from site 31 for province 31 is not newer than sequence 3 "
        "already imported (exported 2025-06-28T07:00:00+00:00)",
    )


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("result", "cross-province row: result for province 01 in a bundle for province 31"),
        (
            "commune",
            "cross-province row: result for commune {commune}, which is not in province 31",
        ),
        (
            "attestation",
            "cross-province row: attestation for province 01 in a bundle for province 31",
        ),
        ("waiver", "cross-province row: waiver for province 01 in a bundle for province 31"),
        ("step", "result for step 'no-such-step', which no known checklist has"),
        ("run", "cross-province row: run {uid} covers province 01"),
    ],
)
def test_row_about_another_province(loaded: World, case: str, reason: str) -> None:
    from cutover.geo import load_geography

    hanoi = load_geography().by_code["01"].communes[0].code

    def change(statement: dict[str, Any]) -> None:
        evidence = statement["predicate"]["evidence"]
        if case == "result":
            evidence["results"][0]["province"] = "01"
        elif case == "commune":
            next(r for r in evidence["results"] if r["commune"])["commune"] = hanoi
        elif case in ("attestation", "waiver"):
            evidence[f"{case}s"][0]["province"] = "01"
        elif case == "step":
            evidence["results"][0]["step"] = "no-such-step"
        else:
            evidence["runs"][0]["scope"]["provinces"].append("01")

    bundle = loaded.resign(loaded.export("2.json"), "cross.json", change)
    uid = statement_of(bundle)["predicate"]["evidence"]["runs"][0]["uid"]
    rejected(loaded, bundle, reason.format(uid=uid, commune=hanoi))


def test_evidence_that_does_not_match_its_subject_digest(loaded: World) -> None:
    def change(statement: dict[str, Any]) -> None:
        statement["predicate"]["evidence"]["results"][0]["reason"] = "edited after sealing"

    bundle = loaded.resign(loaded.export("2.json"), "unsealed.json", change, reseal=False)
    rejected(loaded, bundle, "the digest of province/31 does not match the evidence it carries")


def test_unknown_checklist_digest_is_named(loaded: World) -> None:
    from cutover.checklist import packaged_checklists

    edited = loaded.root / "cutover-2025-06.yaml"
    text = (packaged_checklists() / "cutover-2025-06.yaml").read_text(encoding="utf-8")
    edited.write_text(text + "\n# edited at the site\n", encoding="utf-8")
    digest = hashlib.sha256(edited.read_bytes()).hexdigest()
    out = loaded.root / "edited.json"
    # fmt: off
    ran = cutover("export", "-p", "31", "--key", loaded.key("hp-officer"), "-o", out,
                  "--checklist", edited, "--db", loaded.site_db, site="31")
    # fmt: on
    assert ran.code == 0, ran.err
    known = hashlib.sha256(text.encode()).hexdigest()
    rejected(
        loaded,
        out,
        f"unknown checklist cutover-2025-06 sha256:{digest}; this importer knows "
        f"cutover-2025-06 sha256:{known[:12]}… (load that version with --checklist FILE)",
    )
    # An importer that loads both versions accepts it.
    # fmt: off
    both = cutover("import", "--trust", loaded.trust, out, "--checklist", edited, "--checklist",
                   "cutover-2025-06", "--db", loaded.central)
    # fmt: on
    assert both.code == 0, both.err


def test_truncated_file(loaded: World) -> None:
    bundle = loaded.export("2.json")
    data = bundle.read_bytes()
    bundle.write_bytes(data[: len(data) // 2])
    before = counts(loaded.central)
    ran = loaded.import_(bundle)
    assert ran.code == 1
    (line,) = ran.err_lines
    assert line.startswith(f"cutover: rejected {bundle}: malformed JSON: ")
    assert counts(loaded.central) == before


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (
            b'{"payload": "e30=", "payloadType": "application/vnd.in-toto+json"}',
            "malformed envelope: no 'signatures'; not a DSSE envelope",
        ),
        (b"[1, 2]", "malformed envelope: not a JSON object"),
        (
            b'{"payload": "%%%", "payloadType": "x", "signatures": []}',
            "malformed envelope: payload is not base64",
        ),
        (
            b'{"payload": "e30=", "payloadType": "application/json", "signatures": []}',
            "payloadType is 'application/json', expected 'application/vnd.in-toto+json'",
        ),
    ],
)
def test_malformed_envelope(loaded: World, content: bytes, reason: str) -> None:
    bundle = loaded.root / "bad.json"
    bundle.write_bytes(content)
    rejected(loaded, bundle, reason)


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        (
            "_type",
            "https://in-toto.io/Statement/v0.1",
            "not an in-toto Statement v1 (_type 'https://in-toto.io/Statement/v0.1')",
        ),
        (
            "predicateType",
            "https://slsa.dev/provenance/v1",
            "predicateType 'https://slsa.dev/provenance/v1' is not "
            "https://cutover.example/readiness-evidence/v1",
        ),
        (
            "sequence",
            "2",
            "malformed statement: predicate.export.sequence: Input should be a valid integer",
        ),
        (
            "site",
            "",
            "malformed statement: predicate.site: String should have at least 1 character",
        ),
        (
            "at",
            "2025-06-28 06:00",
            "malformed statement: predicate.evidence.results.0.at: Value error, expected a UTC "
            "time like 2025-06-28T06:00:00.000000Z",
        ),
    ],
)
def test_malformed_statement_signed_by_a_trusted_key(
    loaded: World, field: str, value: str, reason: str
) -> None:
    def change(statement: dict[str, Any]) -> None:
        predicate = statement["predicate"]
        if field in ("_type", "predicateType"):
            statement[field] = value
        elif field == "sequence":
            predicate["export"]["sequence"] = value
        elif field == "site":
            predicate["site"] = value
        else:
            predicate["evidence"]["results"][0]["at"] = value

    rejected(loaded, loaded.resign(loaded.export("2.json"), "odd.json", change), reason)


def test_too_many_signatures(loaded: World) -> None:
    envelope = json.loads(loaded.export("2.json").read_text(encoding="utf-8"))
    envelope["signatures"] *= 17
    crowded = loaded.root / "crowded.json"
    crowded.write_text(json.dumps(envelope), encoding="utf-8")
    rejected(loaded, crowded, "malformed envelope: 17 signatures, at most 16")


def test_oversized_file(loaded: World) -> None:
    from cutover.bundles import MAX_BUNDLE_BYTES

    big = loaded.root / "big.json"
    with big.open("wb") as handle:  # sparse: costs no disk
        handle.truncate(MAX_BUNDLE_BYTES + 1)
    rejected(
        loaded,
        big,
        f"too large: {MAX_BUNDLE_BYTES + 1:,} bytes, over the {MAX_BUNDLE_BYTES:,}-byte limit",
    )


def test_a_fifo_or_a_directory_is_refused_without_blocking(loaded: World) -> None:
    fifo = loaded.root / "pipe.json"
    os.mkfifo(fifo)
    folder = loaded.root / "folder.json"
    folder.mkdir()
    missing = loaded.root / "missing.json"
    result: list[Ran] = []
    worker = threading.Thread(
        target=lambda: result.append(loaded.import_(fifo, folder, missing)), daemon=True
    )
    worker.start()
    worker.join(30)
    assert not worker.is_alive(), "import blocked on a FIFO"
    (ran,) = result
    assert ran.code == 1
    assert ran.err_lines == [
        f"cutover: rejected {fifo}: not a regular file (a FIFO)",
        f"cutover: rejected {folder}: not a regular file (a directory)",
        f"cutover: rejected {missing}: no such file",
    ]


@BOTH_STORES
@pytest.mark.parametrize("kind", ["attestation", "waiver", "result", "run"])
def test_a_conflicting_row_rejects_the_whole_bundle(loaded: World, kind: str) -> None:
    """A newer bundle with a new attestation and one row that contradicts the stored row
    with the same identity: nothing of it is imported (one transaction)."""
    ok("mark", "31", "service-centre-addresses", "--by", "Trần B",
       "--evidence", "https://example.gov.vn/list", "--db", loaded.site_db, site="31")  # fmt: skip

    def change(statement: dict[str, Any]) -> None:
        evidence = statement["predicate"]["evidence"]
        if kind == "attestation":
            evidence["attestations"][0]["note"] = "rewritten history"
        elif kind == "waiver":
            evidence["waivers"][0]["reason"] = "rewritten history"
        elif kind == "result":
            evidence["results"][0]["reason"] = "rewritten history"
        else:
            evidence["runs"][0]["startedAt"] = "2025-06-27T00:00:00.000000Z"

    bundle = loaded.resign(loaded.export("2.json"), "conflict.json", change)
    evidence = statement_of(bundle)["predicate"]["evidence"]
    assert len(evidence["attestations"]) == 2  # the new one is not imported either
    result = evidence["results"][0]
    reason = {
        "attestation": f"attestation {evidence['attestations'][0]['uid']} differs from the "
        "stored one with that uid",
        "waiver": f"waiver {evidence['waivers'][0]['uid']} differs from the stored one with "
        "that uid",
        "result": f"the result of run {result['run']} for 31 {result['step']} "
        f"{result['commune']} at 2025-06-28T06:00:00+00:00 differs from the stored one",
        "run": f"run {evidence['runs'][0]['uid']} differs from the stored run with that uid "
        "(started_at)",
    }[kind]
    rejected(loaded, bundle, f"conflict: {reason}")


@BOTH_STORES
def test_a_run_seen_running_gets_its_end_from_a_later_bundle(world: World) -> None:
    """A bundle exported while a run was still going carries the run without an end; the
    next bundle records its end, and only then does the run confirm anything."""
    with sqlite3.connect(world.site_db) as conn:
        saved = conn.execute("SELECT finished_at, confirmed_at, complete FROM runs").fetchone()
        conn.execute("UPDATE runs SET finished_at = NULL, confirmed_at = NULL, complete = 0")
    conn.close()
    assert world.import_(world.export("running.json")).code == 0
    assert rows(world.central, "SELECT finished_at, complete FROM runs") == [(None, 0)]
    with sqlite3.connect(world.site_db) as conn:
        conn.execute("UPDATE runs SET finished_at = ?, confirmed_at = ?, complete = ?", saved)
    conn.close()
    ran = world.import_(world.export("finished.json"))
    assert ran.code == 0
    assert ran.lines[0].endswith("0 runs, 0 results, 0 attestations, 0 waivers new")
    assert rows(world.central, "SELECT finished_at, confirmed_at, complete FROM runs") == [saved]


@BOTH_STORES
def test_json_lines_hold_several_envelopes_each_judged_alone(world: World) -> None:
    office = world.root / "office.yaml"
    office.write_text(
        'provinces:\n  "31": {keys: [keys/hp-officer.pub]}\n'
        '  "01": {keys: [keys/hp-officer.pub]}\n',
        encoding="utf-8",
    )
    out = world.root / "both.intoto.jsonl"
    # fmt: off
    ran = cutover("export", "-p", "31", "-p", "01", "--key", world.key("hp-officer"), "-o", out,
                  "--db", world.site_db, site="office")
    # fmt: on
    assert ran.code == 0, ran.err
    assert [ln.split(":")[0] for ln in ran.lines] == [
        "exported province 01 (Thành phố Hà Nội) from site office, sequence 1",
        "exported province 31 (Thành phố Hải Phòng) from site office, sequence 1",
        "signed by " + keyid_of_pub(world.root / "keys/hp-officer.pub") + f" -> {out}",
    ]
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and all(json.loads(ln)["payloadType"] for ln in lines)
    out.write_text(lines[0] + "\n" + lines[1][:100] + "\n", encoding="utf-8")  # cut the last
    imported = world.import_(out, trust=office)
    assert imported.code == 1
    assert imported.lines[0].startswith(f"imported {out}:1: province 01 from site office")
    (line,) = imported.err_lines
    assert line.startswith(f"cutover: rejected {out}:2: malformed JSON")
    assert rows(world.central, "SELECT DISTINCT province FROM results") == [("01",)]
    # The demo's national run is in both provinces' bundles: one row per province, each
    # scoped to its own province, so neither province's bundles can end or widen the other's.
    again = world.root / "31.json"
    ok("export", "-p", "31", "--key", world.key("hp-officer"), "-o", again,
       "--db", world.site_db, site="office")  # fmt: skip
    added = world.import_(again, trust=office).lines[0]
    assert added.endswith("1 runs, 121 results, 1 attestations, 1 waivers new")
    (uid,) = {u for (u,) in rows(world.site_db, "SELECT uid FROM runs")}
    assert rows(world.central, "SELECT uid, scope_provinces FROM runs ORDER BY uid") == [
        (f"01:{uid}", "01"),
        (f"31:{uid}", "31"),
    ]
    # fmt: off
    several = cutover("export", "-p", "31", "-p", "01", "--key", world.key("hp-officer"), "-o",
                      world.root / "both.json", "--db", world.site_db)
    # fmt: on
    assert several.code == 2
    assert several.err_lines == [
        f"cutover: error: -o {world.root / 'both.json'}: several provinces need a "
        ".intoto.jsonl file"
    ]


# --- a province's key reaches only its own province's rows ---------------------------------
# Uids travel in bundles, which are not secret: province 01 can put one of 31's uids on a row
# about itself, signed with its own key.  At the centre each bundle's rows live under its
# province's uids, so 01's rows can neither block, close nor widen 31's.


def forged_01(world: World, change: Callable[[dict[str, Any]], None]) -> Path:
    """Province 01's own bundle, changed and signed again with 01's key: valid for 01."""
    bundle = world.export("01.json", "hn", province="01", site="01")
    return world.resign(bundle, "forged-01.json", change, key="hn")


def matrix_31(db: Path | str, as_of: datetime) -> list[dict[str, Any]]:
    ran = cutover("matrix", "-p", "31", "--format", "json", "--as-of", as_of.isoformat(),
                  "--db", db, at=as_of)  # fmt: skip
    assert ran.err == ""
    return json.loads(ran.out)["cells"]  # type: ignore[no-any-return]


def with_run(evidence: dict[str, Any], run: dict[str, Any]) -> None:
    """`run` in place of the bundle's run with its uid, or added."""
    evidence["runs"] = [r for r in evidence["runs"] if r["uid"] != run["uid"]] + [run]


@BOTH_STORES
@pytest.mark.parametrize("kind", ["run", "attestation", "waiver"])
def test_another_provinces_key_cannot_block_a_provinces_bundles(world: World, kind: str) -> None:
    """01 imports first a row about itself with one of 31's uids (a run with another
    command); 31's genuine bundles still import, and 31's cells are what 31 says."""
    b31 = world.export("31.json")
    theirs = statement_of(b31)["predicate"]["evidence"]
    uid = theirs[f"{kind}s"][0]["uid"]

    def change(statement: dict[str, Any]) -> None:
        evidence = statement["predicate"]["evidence"]
        if kind == "run":
            run = theirs["runs"][0]
            scope = {**run["scope"], "provinces": ["01"]}
            with_run(evidence, {**run, "command": "cutover check --forged", "scope": scope})
        else:
            row = {**theirs[f"{kind}s"][0], "province": "01"}
            if kind == "attestation":
                row |= {"commune": "", "evidenceSha256": None, "evidenceName": None}
            evidence[f"{kind}s"].append(row)

    forged = world.import_(forged_01(world, change))
    assert forged.code == 0, forged.err  # validly signed by 01, about 01
    ran = world.import_(b31)
    assert ran.code == 0, ran.err
    assert ran.lines[0].endswith("1 runs, 121 results, 1 attestations, 1 waivers new")
    assert world.import_(world.export("31-2.json")).code == 0  # and every later one
    assert matrix_31(world.central, T) == matrix_31(world.site_db, T)
    table = f"{kind}s"
    found = rows(world.central, f"SELECT uid FROM {table} WHERE uid LIKE '%{uid}' ORDER BY uid")
    assert found == [(f"01:{uid}",), (f"31:{uid}",)]


def killed_check(db: Path, overlay: Path, cwd: Path) -> datetime:
    """`check --province 31` into `db` as site 31, in its own process, killed with SIGKILL
    once its run is in the store (every probe hangs): the run stays open.  Returns its start."""
    from cutover.store.base import from_us

    def open_runs() -> list[tuple[Any, ...]]:
        return rows(db, "SELECT started_at FROM runs WHERE finished_at IS NULL")

    proc = subprocess.Popen(
        [sys.executable, "-m", "cutover", "check", "--province", "31", "--tag", TAG,
         "--endpoints", str(overlay), "--timeout", "60", "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=cwd,
        env={**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(db), "CUTOVER_SITE": "31"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not open_runs() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.kill()
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    (started,) = open_runs()
    return from_us(started[0])


@BOTH_STORES
def test_another_provinces_key_cannot_close_a_provinces_open_run(
    world: World, make_sim: Any, overlay_file: Any
) -> None:
    """31's check is killed and its bundle carries the run open, so 31's cells go stale; 01
    ends a run of that uid (complete, confirmed later) in its own bundle: 31's run stays open
    and only 31's scope, and 31's cells stay stale."""
    from cutover.bundles.schema import stamp

    sim = make_sim(faults=[{"path": "^/", "kind": "hang"}])
    started = killed_check(world.site_db, overlay_file(sim.base_url), world.root)
    later = started + timedelta(days=3)
    b31 = world.export("31.json", at=started + timedelta(minutes=1))
    assert world.import_(b31).code == 0
    (open_run,) = [
        r for r in statement_of(b31)["predicate"]["evidence"]["runs"] if r["finishedAt"] is None
    ]
    stale = matrix_31(world.site_db, later)
    assert "stale" in {c["status"] for c in stale}
    assert matrix_31(world.central, later) == stale

    def change(statement: dict[str, Any]) -> None:
        end = stamp(later - timedelta(hours=1))
        closed = {"finishedAt": end, "confirmedAt": end, "durationUs": 1, "complete": True}
        scope = {**open_run["scope"], "provinces": ["01"]}
        with_run(statement["predicate"]["evidence"], {**open_run, **closed, "scope": scope})

    assert world.import_(forged_01(world, change)).code == 0
    assert matrix_31(world.central, later) == stale
    uid = open_run["uid"]
    found = rows(
        world.central,
        f"SELECT uid, scope_provinces, finished_at, complete FROM runs WHERE uid LIKE '%{uid}'"
        " ORDER BY uid",
    )
    assert [(u, s, f is None, c) for u, s, f, c in found] == [
        (f"01:{uid}", "01", False, 1),
        (f"31:{uid}", "31", True, 0),
    ]


@BOTH_STORES
def test_an_export_of_imported_rows_gives_back_their_uids_and_imports_with_one_prefix(
    world: World,
) -> None:
    """A store that imported 31's bundle (and has a row of its own about 31) exports 31 with
    the site's uids, results still naming their run; a fresh store importing that export has
    the same rows and matrix, each uid under one `31:`."""
    assert world.import_(world.export("31.json")).code == 0
    ok("mark", "31", "service-centre-addresses", "--by", "Trần B", "--evidence",
       "https://example.gov.vn/list", "--db", world.central, site="central")  # fmt: skip
    out = world.root / "central-31.json"
    ok("export", "-p", "31", "--key", world.key("hp-officer"), "-o", out,
       "--db", world.central, site="central")  # fmt: skip
    exported = statement_of(out)["predicate"]["evidence"]
    site = statement_of(world.export("again.json"))["predicate"]["evidence"]
    assert exported["runs"] == site["runs"] and exported["results"] == site["results"]
    assert exported["waivers"] == site["waivers"]
    assert exported["attestations"][0] == site["attestations"][0]
    local = rows(world.central, "SELECT uid FROM attestations WHERE site = 'central'")
    assert [a["uid"] for a in exported["attestations"][1:]] == [u for (u,) in local]

    fresh = world.root / "fresh.db"
    assert cutover("import", "--trust", world.trust, out, "--db", fresh).code == 0
    assert matrix_31(fresh, T) == matrix_31(world.central, T)
    for table in ("runs", "attestations", "waivers"):
        bundle = sorted((r["uid"], r["site"]) for r in exported[table])
        assert sorted(rows(fresh, f"SELECT uid, site FROM {table}")) == [
            (f"31:{u}", s) for u, s in bundle
        ]
    (run,) = exported["runs"]
    linked = "SELECT ru.uid, COUNT(*) FROM results r JOIN runs ru ON ru.id = r.run_id"
    assert rows(fresh, linked + " GROUP BY ru.uid") == [(f"31:{run['uid']}", 121)]


def test_export_of_an_empty_store_is_refused(tmp_path: Path, elsewhere: Path) -> None:
    from cutover.bundles import write_keypair
    from cutover.store.sqlite import SqliteStore

    SqliteStore(tmp_path / "empty.db", environ={}).close()
    write_keypair(tmp_path, "k", None)
    # fmt: off
    ran = cutover("export", "-p", "hai phong", "--key", tmp_path / "k.key", "-o",
                  tmp_path / "b.json", "--db", tmp_path / "empty.db")
    # fmt: on
    assert ran.code == 2
    assert ran.err_lines == [
        f"cutover: error: the store {tmp_path / 'empty.db'} holds nothing about province 31 "
        "(Thành phố Hải Phòng); run `cutover check --province 31` first"
    ]


def test_a_site_name_too_long_for_a_bundle_is_a_usage_error(world: World) -> None:
    ran = cutover("export", "-p", "31", "--key", world.key("hp-officer"), "-o",
                  world.root / "b.json", "--db", world.site_db, site="x" * 300)  # fmt: skip
    assert ran.code == 2
    assert ran.err_lines == [
        f"cutover: error: CUTOVER_SITE {'x' * 40!r}… (300 characters): a site name must be at "
        "most 256 characters"
    ]
    assert not (world.root / "b.json").exists()


# --- where a bundle is written -------------------------------------------------------------


def export_to(world: World, output: Path, site: str = "31") -> Ran:
    # fmt: off
    return cutover("export", "-p", "31", "--key", world.key("hp-officer"), "-o", output,
                   "--db", world.site_db, site=site)
    # fmt: on


def partials(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".partial"))


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink"])
def test_export_refuses_a_target_that_is_not_a_regular_file(world: World, kind: str) -> None:
    target = world.root / "out" / "b.json"
    target.parent.mkdir()
    kept = world.root / "kept.json"
    kept.write_text("the link's own file\n", encoding="utf-8")
    if kind == "fifo":
        os.mkfifo(target)
        what = "is a FIFO, not a regular file; give the path of a new or existing regular file"
    elif kind == "directory":
        target.mkdir()
        what = "is a directory, not a regular file; give the path of a new or existing regular file"
    else:
        target.symlink_to(kept)
        what = "is a symbolic link, which writing would replace; give the path of the file itself"
    ran = export_to(world, target)
    assert (ran.code, ran.out) == (2, ""), ran
    assert ran.err_lines == [f"cutover: error: -o {target}: {what}"]
    mode = os.lstat(target).st_mode
    assert {"fifo": stat.S_ISFIFO, "directory": stat.S_ISDIR, "symlink": stat.S_ISLNK}[kind](mode)
    assert kept.read_text(encoding="utf-8") == "the link's own file\n"
    assert partials(target.parent) == []


def test_export_replaces_an_existing_regular_file(world: World) -> None:
    target = world.root / "b.json"
    target.write_text("an older bundle\n", encoding="utf-8")
    assert export_to(world, target).code == 0
    assert statement_of(target)["predicate"]["site"] == "31"
    assert partials(world.root) == []


@pytest.mark.parametrize(
    ("where", "reason"),
    [("file.txt/b.json", "Not a directory"), ("missing/b.json", "No such file or directory")],
)
def test_export_to_a_path_that_cannot_be_written_is_one_usage_error(
    world: World, where: str, reason: str
) -> None:
    (world.root / "file.txt").write_text("a regular file, not a directory\n", encoding="utf-8")
    target = world.root / where
    ran = export_to(world, target)
    assert (ran.code, ran.out) == (2, ""), ran
    assert ran.err_lines == [f"cutover: error: cannot write {target}: {reason}"]
    assert partials(world.root) == []


def test_a_write_that_fails_midway_keeps_the_old_bundle_and_leaves_no_partial_file(
    tmp_path: Path,
) -> None:
    """A real failure after the temporary file exists: a file size limit (which binds root
    too; Python ignores SIGXFSZ, so the write fails with EFBIG)."""
    resource = pytest.importorskip("resource")
    from cutover.bundles import write_bundle
    from cutover.errors import UsageError

    target = tmp_path / "b.json"
    target.write_text("the previous bundle\n", encoding="utf-8")
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
    try:
        with pytest.raises(UsageError) as caught:
            write_bundle(target, [{"payload": "x" * 100_000}])
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert str(caught.value) == f"cannot write {target}: File too large"
    assert target.read_text(encoding="utf-8") == "the previous bundle\n"
    assert partials(tmp_path) == []


# --- text from a bundle is inert on the terminal -------------------------------------------

EVIL = "\x1b[2J\x1b[31mEVIL<b>"


def test_export_refuses_a_site_name_with_escapes(world: World) -> None:
    ran = export_to(world, world.root / "b.json", site=EVIL)
    assert (ran.code, ran.out) == (2, ""), ran
    assert ran.err_lines == [
        "cutover: error: CUTOVER_SITE '\\x1b[2J\\x1b[31mEVIL<b>': a site name must be printable "
        "text: no control character, escape sequence or line break"
    ]
    assert not (world.root / "b.json").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["check", "--province", "31", "--format", "json"],
        ["mark", "31", "portal-closure", "--by", "officer", "--evidence", "https://x.gov.vn/a"],
        [
            "waive",
            "31",
            "portal-closure",
            "--reason",
            "r",
            "--approver",
            "a",
            "--until",
            "2030-01-01T00:00:00+07:00",
        ],
    ],
)
def test_every_command_that_records_a_site_refuses_one_with_escapes(
    cli: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
    demo_copy: Path,
    command: list[str],
) -> None:
    """The site is written on every run, attestation and waiver and later exported: the
    rule is applied where it enters, not only at export."""
    before = demo_copy.read_bytes()
    monkeypatch.setenv("CUTOVER_SITE", EVIL)
    ran = cli(*command, "--db", str(demo_copy))
    assert (ran.code, ran.out) == (2, ""), ran
    assert ran.err_lines == [
        "cutover: error: CUTOVER_SITE '\\x1b[2J\\x1b[31mEVIL<b>': a site name must be printable "
        "text: no control character, escape sequence or line break"
    ]
    assert demo_copy.read_bytes() == before


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("predicate", "predicate.site"),
        ("run", "predicate.evidence.runs.0.site"),
        ("waiver", "predicate.evidence.waivers.0.site"),
    ],
)
def test_a_bundle_whose_site_has_escapes_is_rejected(
    loaded: World, where: str, reason: str
) -> None:
    def change(statement: dict[str, Any]) -> None:
        predicate = statement["predicate"]
        if where == "predicate":
            predicate["site"] = EVIL
        else:
            predicate["evidence"][f"{where}s"][0]["site"] = EVIL

    bundle = loaded.resign(loaded.export("2.json"), "evil.json", change)
    rejected(
        loaded,
        bundle,
        f"malformed statement: {reason}: Value error, a site name must be printable text: "
        "no control character, escape sequence or line break",
    )


def test_escapes_in_other_bundle_fields_never_reach_the_terminal(loaded: World) -> None:
    def change(statement: dict[str, Any]) -> None:
        predicate = statement["predicate"]
        predicate["province"]["name"] = f"{EVIL}\x1b]0;retitled\x07"
        predicate["export"]["exportedBy"] = f"x\n{EVIL}@host"

    def step(statement: dict[str, Any]) -> None:
        statement["predicate"]["evidence"]["results"][0]["step"] = f"{EVIL}\x9b2J"

    bundle = loaded.resign(loaded.export("2.json"), "evil.json", change)
    odd = loaded.resign(bundle, "odd.json", step)
    checked = loaded.verify(bundle)
    assert checked.code == 0, checked.out
    assert checked.lines[0] == (
        f"{bundle}: verified: province 31 (EVIL<b>) from site 31, sequence 2, "
        "exported 2025-06-28T07:00:00+00:00 by x EVIL<b>@host"
    )
    imported = loaded.import_(bundle, odd)
    assert imported.code == 1
    for ran in (checked, imported, loaded.verify(odd)):
        assert not any(c in ran.out + ran.err for c in "\x1b\x07\x9b"), ran


# --- the trust file ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            'provinces:\n  "31": {keys: [keys/hp-officer.pub], treshold: 1}\n',
            "trust.yaml:2:39: provinces.31.treshold: unknown key 'treshold' "
            "(did you mean 'threshold'?)",
        ),
        (
            'provinces:\n  "31": {keys: [keys/nope.pub]}\n',
            "trust.yaml:2:17: provinces.31.keys[0]: cannot read public key keys/nope.pub: "
            "no such file",
        ),
        (
            'provinces:\n  "31": {keys: [keys]}\n',
            "trust.yaml:2:17: provinces.31.keys[0]: cannot read public key keys: "
            "not a regular file (a directory)",
        ),
        (
            'provinces:\n  "31": {keys: [keys/hp-officer.key]}\n',
            "trust.yaml:2:17: provinces.31.keys[0]: keys/hp-officer.key is not a PEM public key",
        ),
        (
            'provinces:\n  "31": {keys: [keys/hp-officer.pub], threshold: 2}\n',
            "trust.yaml:2:39: provinces.31.threshold: threshold 2 is more than the 1 keys listed",
        ),
        (
            "provinces:\n  01: {keys: [keys/hn.pub]}\n",
            'trust.yaml:2:3: provinces.1: quote the province code: "01"',
        ),
        (
            'provinces:\n  "qq": {keys: [keys/hn.pub]}\n',
            "trust.yaml:2:3: provinces.qq: unknown province 'qq' (see `cutover provinces`)",
        ),
        (
            'provinces:\n  "31": {keys: [keys/hn.pub]}\n  "hai-phong": {keys: [keys/hn.pub]}\n',
            "trust.yaml:3:3: provinces.hai-phong: province 31 is listed twice",
        ),
        (
            'provinces:\n  "31": {keys: [keys/hn.pub], threshold: 0}\n',
            "trust.yaml:2:31: provinces.31.threshold: Input should be greater than or equal to 1 "
            "(got int 0)",
        ),
    ],
)
def test_trust_file_errors_are_located(world: World, text: str, problem: str) -> None:
    trust = world.root / "trust.yaml"
    trust.write_text(text, encoding="utf-8")
    bundle = world.export("31.json")
    for command in (world.import_(bundle, trust=trust), world.verify(bundle, trust=trust)):
        assert command.code == 2
        assert command.err_lines == [f"cutover: error: {world.root}/{problem}"]
    assert not Path(world.central).exists()


def test_without_the_optional_dependencies_each_command_says_how_to_get_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "securesystemslib"]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "securesystemslib", None)
    for name in [m for m in sys.modules if m.startswith("cutover.bundles")]:
        monkeypatch.delitem(sys.modules, name)
    for args in (
        ("keygen", "--out", tmp_path, "--name", "k"),
        ("export", "-p", "31", "--key", tmp_path / "k.key", "-o", tmp_path / "b.json"),
        ("import", "--trust", tmp_path / "t.yaml", tmp_path / "b.json"),
        ("verify", tmp_path / "b.json", "--trust", tmp_path / "t.yaml"),
    ):
        ran = cutover(*args)
        assert ran.code == 2
        (line,) = ran.err_lines
        assert line.startswith("cutover: error: signed bundles need the optional dependencies (")
        assert line.endswith("is missing): pip install 'cutover[bundles]'")
    assert not (tmp_path / "k.key").exists()


# --- the whole path: 34 sites, one centre ---------------------------------------------------


@dataclass
class Nation:
    """34 sites' bundles and the store of one `check --all` over the same scenario."""

    root: Path
    codes: list[str]
    bundles: list[Path]
    trust: Path
    reference: Path

    def site_db(self, code: str) -> Path:
        return self.root / "sites" / f"{code}.db"

    def import_all(self, central: Path | str) -> Ran:
        return cutover("import", "--trust", self.trust, *self.bundles, "--db", central)


@pytest.fixture(scope="module")
def nation(telegram_sim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nation]:  # type: ignore[no-untyped-def]
    """Each province checks itself against one simulator into its own SQLite file (site =
    its code) and exports a bundle signed with its own key; the reference checks all at once,
    with the same attestation and waiver recorded at the sites and at the reference.  Made
    once for the SQLite and the PostgreSQL centre."""
    from cutover.geo import load_geography
    from cutover.sim.app import overlay_for
    from cutover.yamlio import dump

    tmp_path = tmp_path_factory.mktemp("nation")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)  # no provinces.yaml or checklists here: the packaged data is used
        overlay = tmp_path / "overlay.yaml"
        overlay.write_text(dump(overlay_for(telegram_sim.base_url)), encoding="utf-8")
        codes = [p.code for p in load_geography().provinces]
        assert len(codes) == 34
        register = tmp_path / "register.pdf"
        register.write_bytes(b"received plans")
        # fmt: off
        people = {
            "31": ("mark", "31", "commune-plans", "--by", "Nguyễn Văn A",
                   "--evidence-file", register),
            "01": ("waive", "01", "online-payment-test", "--reason", "bank link late",
                   "--approver", "Chủ tịch UBND", "--until", "2025-06-30T17:00+07:00"),
        }
        # fmt: on
        trust = ["provinces:"]
        bundles_dir = tmp_path / "bundles"
        bundles_dir.mkdir()
        (tmp_path / "sites").mkdir()
        for code in codes:
            ok("keygen", "--out", tmp_path / "keys", "--name", f"site-{code}")
            trust.append(f'  "{code}": {{keys: [keys/site-{code}.pub]}}')
            db = tmp_path / "sites" / f"{code}.db"
            if code in people:
                ok(*people[code], "--db", db, site=code, at=T - timedelta(hours=1))
            # fmt: off
            checked = cutover("check", "--province", code, "--tag", TAG, "--endpoints",
                              overlay, "--db", db, "--format", "json", site=code)
            # fmt: on
            assert checked.code in (0, 1), checked.err
            key = tmp_path / "keys" / f"site-{code}.key"
            # fmt: off
            ok("export", "--province", code, "--key", key, "-o", bundles_dir / f"{code}.json",
               "--db", db, site=code, at=T + timedelta(minutes=5))
            # fmt: on
        (tmp_path / "trust.yaml").write_text("\n".join(trust) + "\n", encoding="utf-8")

        reference = tmp_path / "reference.db"
        for args in people.values():
            ok(*args, "--db", reference, at=T - timedelta(hours=1))
        # fmt: off
        single = cutover("check", "--all", "--tag", TAG, "--endpoints", overlay, "--db",
                         reference, "--format", "json")
        # fmt: on
        assert single.code == 1, single.err
        yield Nation(
            tmp_path, codes, sorted(bundles_dir.iterdir()), tmp_path / "trust.yaml", reference
        )


def national_cells(db: Path | str) -> tuple[list[tuple[Any, ...]], dict[str, Any]]:
    ran = cutover("matrix", "--format", "json", "--as-of", "2025-06-28T13:00+07:00", "--db", db)
    assert ran.code == 1, ran.err
    data = json.loads(ran.out)
    found = [
        (c["province"], c["step"], c["status"], c["reason"], c["communes"]) for c in data["cells"]
    ]
    return found, data["totals"]


def the_centre_gets_the_matrix_of_one_check_all(nation: Nation, central: Path | str) -> None:
    """The centre imports all 34; the national matrix equals the one of a single `check
    --all`, every run, attestation and waiver keeps its site and its uid under its province
    (`P:uid`), and importing all again changes nothing."""
    imported = nation.import_all(central)
    assert imported.code == 0, imported.err
    assert imported.err == ""
    assert len(imported.lines) == 34
    assert all(line.startswith("imported ") for line in imported.lines)

    national, totals = national_cells(central)
    assert (national, totals) == national_cells(nation.reference)
    assert len(national) == 34 * 17
    assert totals["portal-closure"]["done"] == 32  # the telegram's 32/34, not an empty table
    statuses = {(p, s): status for p, s, status, _, _ in national}
    assert statuses[("31", "commune-plans")] == "done"
    assert statuses[("01", "online-payment-test")] == "waived"

    def site_rows(code: str, table: str) -> set[tuple[str, str]]:
        found = rows(nation.site_db(code), f"SELECT uid, site FROM {table}")
        return {(f"{code}:{uid}", site) for uid, site in found}

    site_runs = set().union(*(site_rows(code, "runs") for code in nation.codes))
    assert set(rows(central, "SELECT uid, site FROM runs")) == site_runs
    assert {site for _, site in site_runs} == set(nation.codes)
    for table, code in (("attestations", "31"), ("waivers", "01")):
        assert set(rows(central, f"SELECT uid, site FROM {table}")) == site_rows(code, table)
    before = counts(central)
    again = nation.import_all(central)
    assert again.code == 0
    assert all(line.startswith("already imported ") for line in again.lines)
    assert counts(central) == before


def test_34_sites_export_and_the_centre_gets_the_matrix_of_one_check_all(
    nation: Nation, tmp_path: Path, elsewhere: Path
) -> None:
    the_centre_gets_the_matrix_of_one_check_all(nation, tmp_path / "central.db")


def test_34_sites_export_and_a_postgresql_centre_gets_the_same_matrix(
    nation: Nation, pg_db: Any, elsewhere: Path
) -> None:
    """The same bundles into the shared PostgreSQL store, imported by its national owner."""
    from cutover.store import admin

    admin.init(pg_db.url, {})
    the_centre_gets_the_matrix_of_one_check_all(nation, pg_db.url)


# --- PostgreSQL: exporting from the shared store, and who may import ------------------------


@pytest.fixture
def pg_world(world: World, pg_db: Any) -> tuple[World, Any]:
    """A PostgreSQL central store that imported site 31's bundle, with province roles for 31
    and 01 and the national reader."""
    from cutover.store import admin

    admin.init(pg_db.url, {})
    for who, province in (("p31", "31"), ("p01", "01"), ("reader", None)):
        admin.grant(pg_db.url, {}, pg_db.role(who), province, f"pw-{who}")
    world.central = pg_db.url
    assert world.import_(world.export("31.json")).code == 0
    return world, pg_db


def test_a_postgresql_store_exports_what_a_sqlite_site_would(
    pg_world: tuple[World, Any],
) -> None:
    world, db = pg_world
    out = world.root / "from-pg.json"
    # fmt: off
    ran = cutover("export", "-p", "31", "--key", world.key("hp-officer"), "-o", out,
                  "--db", db.url, site="central")
    # fmt: on
    assert ran.code == 0, ran.err
    assert ran.lines[0] == (
        "exported province 31 (Thành phố Hải Phòng) from site central, sequence 1: "
        "1 runs, 121 results, 1 attestations, 1 waivers"
    )
    from_site = statement_of(world.export("from-site.json"))["predicate"]["evidence"]
    assert statement_of(out)["predicate"]["evidence"] == from_site
    # Imported into a fresh SQLite store, it gives the site's matrix.
    elsewhere = world.root / "elsewhere.db"
    assert cutover("import", "--trust", world.trust, out, "--db", elsewhere).code == 0
    args = ("matrix", "-p", "31", "--format", "json", "--as-of", "2025-06-28T13:00+07:00")
    site = json.loads(cutover(*args, "--db", world.site_db).out)
    assert json.loads(cutover(*args, "--db", elsewhere).out)["cells"] == site["cells"]
    # A province role exports its own province; row-level security hides the others.
    p31 = db.role_url(db.role("p31"), "pw-p31")
    mine = world.root / "p31.json"
    # fmt: off
    ok("export", "-p", "31", "--key", world.key("hp-officer"), "-o", mine, "--db", p31, site="31")
    hidden = cutover("export", "-p", "31", "--key", world.key("hp-officer"), "-o",
                     world.root / "no.json", "--db", db.role_url(db.role("p01"), "pw-p01"))
    # fmt: on
    assert statement_of(mine)["predicate"]["evidence"] == from_site
    assert hidden.code == 2 and "holds nothing about province 31" in hidden.err
    assert rows(db.url, "SELECT site, province, seq FROM bundle_exports ORDER BY site") == [
        ("31", "31", 1),
        ("central", "31", 1),
    ]


def test_a_province_role_cannot_import_another_provinces_bundle(
    pg_world: tuple[World, Any],
) -> None:
    """Importing is the national owner's job: the database refuses a province role's rows
    about another province, in one line, and nothing of the bundle is written."""
    world, db = pg_world
    newer = world.export("2.json")
    before = counts(db.url)
    p01 = db.role_url(db.role("p01"), "pw-p01")
    ran = cutover("import", "--trust", world.trust, newer, "--db", p01)
    assert (ran.code, ran.out) == (3, "")
    assert ran.err_lines == [
        "cutover: error: PostgreSQL refused to write the bundle of province 31 from site 31 as "
        f"role {db.role('p01')} (province 01 only): new row violates row-level security policy "
        'for table "runs"; nothing of it was written'
    ]
    assert counts(db.url) == before
    reader = db.role_url(db.role("reader"), "pw-reader")
    refused = cutover("import", "--trust", world.trust, newer, "--db", reader)
    assert refused.code == 3 and counts(db.url) == before
    # The ledgers: the reader reads them all, a province role only its own province's.
    assert rows(reader, "SELECT province, seq FROM bundle_imports") == [("31", 1)]
    assert rows(db.role_url(db.role("p31"), "pw-p31"), "SELECT seq FROM bundle_imports") == [(1,)]
    assert rows(p01, "SELECT * FROM bundle_imports") == []
    assert world.import_(newer).code == 0  # the owner imports it
