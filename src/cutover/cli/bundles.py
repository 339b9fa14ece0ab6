"""Signed evidence bundles: `keygen`, `export`, `import` and `verify` (see `cutover.bundles`).

They need the optional extra `cutover[bundles]`; without it each says so in one line (exit 2).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cutover.cli.app import app
from cutover.cli.common import ChecklistOpt, DbOpt, Output, ProvincesOpt, env_of, open_store_for
from cutover.errors import UsageError
from cutover.render.text import terminal

if TYPE_CHECKING:
    from cutover.bundles import Checked, Piece, Rejected
    from cutover.checklist import LoadedChecklist
    from cutover.env import Environment
    from cutover.geo import Geography
    from cutover.store.base import ImportOutcome

PassphraseEnvOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--passphrase-env",
        help="Name of the environment variable that holds the private key's passphrase.",
    ),
]
TrustOpt = Annotated[
    Path, typer.Option("--trust", help="Trust file: provinces -> public keys and threshold.")
]
ChecklistsOpt = Annotated[
    Optional[list[str]],  # noqa: UP045
    typer.Option(
        "--checklist",
        help="A checklist version to accept (repeatable; default: the current checklist).",
    ),
]
BundlesArg = Annotated[list[Path], typer.Argument(help="Bundle files (.json or .intoto.jsonl).")]


def require_bundles() -> None:
    """The optional dependencies, or one line saying how to install them."""
    try:
        import cutover.bundles  # noqa: F401
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] not in ("securesystemslib", "cryptography"):
            raise
        raise UsageError(
            f"signed bundles need the optional dependencies ({exc.name} is missing): "
            "pip install 'cutover[bundles]'"
        ) from None


def _passphrase(env: Environment, variable: str | None, what: str) -> bytes:
    """From the named environment variable (its bytes as the process was given them, UTF-8
    or not), else asked on the terminal."""
    if variable is not None:
        value = env.get(variable)
        if value is None:
            raise UsageError(f"--passphrase-env {variable}: the variable is not set or is empty")
        return os.fsencode(value)
    if not sys.stdin.isatty():
        raise UsageError(f"{what}: give the passphrase with --passphrase-env VAR")
    import getpass

    try:
        typed = getpass.getpass(f"passphrase for {what}: ")
    except UnicodeDecodeError:
        raise UsageError(
            f"{what}: the passphrase typed is not text in the terminal's encoding "
            "(give it with --passphrase-env VAR)"
        ) from None
    return os.fsencode(typed)


@app.command()
def keygen(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="Directory for NAME.key and NAME.pub.")],
    name: Annotated[str, typer.Option("--name", help="File name for the pair, e.g. hp-officer.")],
    passphrase_env: PassphraseEnvOpt = None,
    ask: Annotated[
        bool, typer.Option("--ask-passphrase", help="Encrypt with a passphrase typed twice.")
    ] = False,
) -> int:
    """Make an Ed25519 key pair for signing bundles and print its key id."""
    require_bundles()
    from cutover import bundles

    env = env_of(ctx)
    io = Output(env)
    secret = None
    if passphrase_env is not None or ask:
        secret = _passphrase(env, passphrase_env, f"{name}.key")
        if passphrase_env is None and secret != _passphrase(env, None, f"{name}.key (again)"):
            raise UsageError("the two passphrases differ")
    files = bundles.write_keypair(out, name, secret)
    io.out(f"keyid {files.keyid}")
    protection = "passphrase-protected" if files.encrypted else "not encrypted"
    io.out(f"private key: {files.private} (mode 0600, {protection}); it stays with its signer")
    io.out(f"public key: {files.public}; list it in the importer's trust file")
    return 0


@app.command()
def export(
    ctx: typer.Context,
    province: Annotated[
        list[str],
        typer.Option("--province", "-p", help="Province (repeatable with a .intoto.jsonl file)."),
    ],
    key: Annotated[
        list[Path], typer.Option("--key", help="Private key to sign with (repeatable).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Bundle file to write.")],
    passphrase_env: PassphraseEnvOpt = None,
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Write a signed bundle of a province's results, attestations, waivers and runs."""
    require_bundles()
    from cutover import bundles, service

    env = env_of(ctx)
    io = Output(env)
    site = env.site  # a CUTOVER_SITE that is no site name is refused before signing
    bundles.check_target(output)
    c = service.prepare(
        service.Selection(province, None, None, checklist, None, provinces_file, probing=False),
        environ=env.environ,
        cwd=env.cwd,
    )
    bundles.check_count(output, len(c.provinces))  # before any passphrase is asked for
    signers = [
        bundles.load_signer(k, lambda path: _passphrase(env, passphrase_env, f"--key {path}"))
        for k in key
    ]
    keyids = [s.public_key.keyid for s in signers]
    if len(set(keyids)) < len(keyids):
        raise UsageError("the same key is given twice with --key")
    store = open_store_for(env, db, create=False)
    at = env.now()
    exported = [
        bundles.export(store, p, c.loaded, signers, site=site, at=at, by=f"{env.user}@{env.host}")
        for p in c.provinces
    ]
    bundles.write_bundle(output, [e.envelope for e in exported])
    for p, e in zip(c.provinces, exported, strict=True):
        ev = e.evidence
        io.out(
            terminal(
                f"exported province {p.code} ({p.name}) from site {site}, sequence "
                f"{e.sequence}: {len(ev.runs)} runs, {len(ev.results)} results, "
                f"{len(ev.attestations)} attestations, {len(ev.waivers)} waivers"
            )
        )
    io.out(terminal(f"signed by {', '.join(keyids)} -> {output}"))
    return 0


def _checklists(geo: Geography, names: list[str] | None, cwd: Path) -> dict[str, LoadedChecklist]:
    """The checklist versions an importer accepts, by digest."""
    from cutover.checklist import Endpoints, load_checklist

    endpoints = Endpoints(geo)
    wanted: list[str | None] = list(names) if names else [None]
    # The centre probes nothing: the endpoints a province's overlay defines are not its concern.
    loaded = [load_checklist(name, geo, endpoints, probing=False, cwd=cwd) for name in wanted]
    return {c.digest: c for c in loaded}


def _verified(
    bundle: list[Path],
    trust: Path,
    checklist: list[str] | None,
    provinces_file: Path | None,
    cwd: Path,
) -> list[tuple[Piece, Checked | Rejected]]:
    from cutover import bundles
    from cutover.geo import load_geography

    geo = load_geography(provinces_file, cwd=cwd)
    known = _checklists(geo, checklist, cwd)
    trusted = bundles.load_trust(trust, geo)
    out: list[tuple[Piece, Checked | Rejected]] = []
    for path in bundle:
        for piece in bundles.read_bundle_file(path):
            try:
                out.append((piece, bundles.verify(piece, trusted, known, geo)))
            except bundles.Rejected as exc:
                out.append((piece, exc))
    return out


@app.command("import")
def import_(
    ctx: typer.Context,
    bundle: BundlesArg,
    trust: TrustOpt,
    checklist: ChecklistsOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Verify bundles and add their rows to the store, keeping each site as their origin."""
    require_bundles()
    from cutover import bundles

    env = env_of(ctx)
    io = Output(env)
    results = _verified(bundle, trust, checklist, provinces_file, env.cwd)
    store = open_store_for(env, db)
    rejected = 0
    for piece, checked in results:
        if isinstance(checked, bundles.Rejected):
            io.err(f"rejected {piece.label}: {checked.reason}")
            rejected += 1
            continue
        outcome = store.import_evidence(checked.origin, checked.evidence, env.now())
        if outcome.status in ("replay", "conflict"):
            io.err(f"rejected {piece.label}: {outcome.status}: {outcome.detail}")
            rejected += 1
        else:
            io.out(terminal(_imported_line(piece.label, checked, outcome)))
    return 1 if rejected else 0


def _imported_line(label: str, checked: Checked, outcome: ImportOutcome) -> str:
    if outcome.status == "already imported":
        return f"already imported {label}: {outcome.detail}; nothing changed"
    o = checked.origin
    return (
        f"imported {label}: province {o.province} from site {o.site}, sequence {o.sequence}, "
        f"{len(o.signed_by)} of {checked.threshold} required signatures: "
        f"{outcome.runs} runs, {outcome.results} results, {outcome.attestations} attestations, "
        f"{outcome.waivers} waivers new"
    )


@app.command()
def verify(
    ctx: typer.Context,
    bundle: BundlesArg,
    trust: TrustOpt,
    checklist: ChecklistsOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Verify bundles without importing them, and show who signed what."""
    require_bundles()
    from cutover import bundles

    env = env_of(ctx)
    io = Output(env)
    results = _verified(bundle, trust, checklist, provinces_file, env.cwd)
    bad = 0
    for piece, checked in results:
        if isinstance(checked, bundles.Rejected):
            io.out(terminal(f"{piece.label}: rejected: {checked.reason}"))
            for n, check in enumerate(checked.signatures, 1):
                io.out(terminal(f"  signature {n}: {check.line()}"))
            bad += 1
            continue
        for line in _verified_lines(piece.label, checked):
            io.out(terminal(line))  # bundle-supplied text made inert
    return 1 if bad else 0


def _verified_lines(label: str, checked: Checked) -> list[str]:
    p, o, ev = checked.predicate, checked.origin, checked.evidence
    files = sum(1 for a in ev.attestations if a.evidence_sha256)
    lines = [
        f"{label}: verified: province {o.province} ({p.province.name}) from site {o.site}, "
        f"sequence {o.sequence}, exported {o.exported_at.isoformat()} by {p.export.exported_by}"
    ]
    lines += [f"  signature {n}: {c.line()}" for n, c in enumerate(checked.signatures, 1)]
    lines.append(
        f"  {len(o.signed_by)} valid signatures, {checked.threshold} required for province "
        f"{o.province}"
    )
    lines.append(
        f"  signed contents: checklist {p.checklist.id} sha256:{p.checklist.digest.sha256[:12]}…, "
        f"{len(ev.runs)} runs, {len(ev.results)} results, {len(ev.attestations)} attestations "
        f"({files} evidence files), {len(ev.waivers)} waivers"
    )
    return lines
