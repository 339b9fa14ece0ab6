"""`cutover validate`: what each file is, and every problem in it."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cutover import checklist as cl
from cutover import geo as geomod
from cutover import templates
from cutover.errors import ConfigError, Problem
from cutover.yamlio import Document, load_file


@dataclass
class Report:
    ok: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if not p.warning]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.warning]


def _kind(doc: Document) -> str:
    data = doc.data
    if isinstance(data, dict):
        if "steps" in data:
            return "checklist"
        if "provinces" in data and isinstance(data["provinces"], list):
            return "provinces"
        if {"endpoints", "province_endpoints", "provinces"} & set(data):
            return "overlay"
        if {"features", "faults", "as_of"} & set(data):
            return "scenario"
    return "unknown"


Named = tuple[Path, str]  # a path and how to show it


def default_paths(environ: Mapping[str, str], cwd: Path | None = None) -> list[Named]:
    """provinces.yaml, every checklist, and the overlay from CUTOVER_ENDPOINTS if set: found in
    `cwd`, the command's working directory (None: the process's)."""
    from cutover.env import anchored

    paths = [geomod.default_provinces_path(cwd)]
    local = Path("checklists")
    if (folder := anchored(local, cwd)).is_dir():
        found = sorted(folder.glob("*.yaml"))
        paths += [(p, str(local / p.name)) for p in found]
    else:
        paths += [
            (p, f"<packaged>/checklists/{p.name}")
            for p in sorted(cl.packaged_checklists().glob("*.yaml"))
        ]
    overlay = environ.get("CUTOVER_ENDPOINTS")
    if overlay:
        paths.append((anchored(Path(overlay), cwd), overlay))
    return paths


def validate_paths(paths: list[Named], cwd: Path | None = None) -> Report:
    """Load every file; provinces and overlays first, since checklists are checked against them.
    Without a provinces file, the one `cwd` (the command's directory) has or the packaged one."""
    report = Report()
    docs: list[Document] = []
    for path, display in paths:
        try:
            docs.append(load_file(path, display))
        except ConfigError as exc:
            report.problems += exc.problems
    by_kind: dict[str, list[Document]] = {}
    for doc in docs:
        by_kind.setdefault(_kind(doc), []).append(doc)
    for doc in by_kind.get("unknown", []):
        report.problems.append(
            Problem(
                doc.file,
                "not a checklist, provinces file, endpoint overlay or simulator scenario "
                "(expected a top-level 'steps', 'provinces', 'endpoints' or 'features')",
            )
        )
    for doc in by_kind.get("scenario", []):
        report.problems += _scenario(doc, report)
    geo = _geography(by_kind.get("provinces", []), report, cwd)
    overlays = [(doc.file, o) for doc in by_kind.get("overlay", []) if (o := _overlay(doc, report))]
    if geo is None:
        return report
    overlay = overlays[-1][1] if overlays else None
    endpoints = cl.Endpoints(geo, overlay)
    for doc in by_kind.get("checklist", []) + by_kind.get("overlay", []):
        report.problems += secret_warnings(doc)
    checklists = []
    for doc in by_kind.get("checklist", []):
        try:
            loaded = cl.load_checklist_document(doc, geo, endpoints, local=True)
        except ConfigError as exc:
            report.problems += exc.problems
            continue
        checklists.append(loaded.checklist)
        report.problems += loaded.warnings
        steps = len(loaded.checklist.steps)
        report.ok.append(f"ok {doc.file} (checklist {loaded.checklist.id}, {steps} steps)")
    overlay_docs = [d for d in by_kind.get("overlay", []) if d.file in {o for o, _ in overlays}]
    if overlay is not None and overlay_docs:
        checklists = checklists or _default(geo, cwd)
        report.problems += overlay_gaps(overlay_docs[-1], endpoints, checklists)
    return report


def overlay_gaps(
    doc: Document, endpoints: cl.Endpoints, checklists: list[cl.Checklist]
) -> list[Problem]:
    """A warning for each endpoint a checklist's probes use that the overlay does not give:
    those probes would go to the production URL of provinces.yaml."""
    problems = []
    for checklist in checklists:
        steps = [s for s in checklist.steps if not s.verify.manual]
        for gap in cl.fallbacks(endpoints, steps, endpoints.geo.provinces):
            message = (
                f"no endpoint {gap.name!r}, which checklist {checklist.id} uses "
                f"({', '.join(gap.steps)}): its probes would use {gap.where()}"
            )
            problems.append(doc.problem(("endpoints",), message, warning=True))
    return problems


def _default(geo: geomod.Geography, cwd: Path | None) -> list[cl.Checklist]:
    """The checklist `check` would use, when only an overlay is being validated."""
    try:
        return [cl.load_checklist(None, geo, cl.Endpoints(geo), cwd=cwd).checklist]
    except ConfigError:
        return []


def _geography(docs: list[Document], report: Report, cwd: Path | None) -> geomod.Geography | None:
    chosen: geomod.Geography | None = None
    for doc in docs:
        try:
            chosen = geomod.load_document(doc)
        except ConfigError as exc:
            report.problems += exc.problems
            continue
        units = sum(p.unit_count for p in chosen.provinces)
        report.ok.append(
            f"ok {doc.file} ({len(chosen.provinces)} provinces, {units:,} units, "
            f"matches {chosen.package_label})"
        )
    if chosen is None and not docs:
        try:
            return geomod.load_geography(cwd=cwd)
        except ConfigError as exc:
            report.problems += exc.problems
    return chosen


def _scenario(doc: Document, report: Report) -> list[Problem]:
    from cutover.models import validate
    from cutover.sim.scenario import Scenario

    try:
        scenario = validate(Scenario, doc)
    except ConfigError as exc:
        return exc.problems
    report.ok.append(f"ok {doc.file} (simulator scenario {scenario.id})")
    return []


def _overlay(doc: Document, report: Report) -> cl.Overlay | None:
    from cutover.models import validate

    try:
        overlay = validate(cl.Overlay, doc)
    except ConfigError as exc:
        report.problems += exc.problems
        return None
    report.ok.append(
        f"ok {doc.file} (endpoint overlay, {len(overlay.endpoints)} national, "
        f"{len(overlay.province_endpoints)} per-province endpoints)"
    )
    return overlay


# Literals that look like credentials.  A secret belongs in the environment or a file the
# probe reads at run time (`${env:NAME}`, `${file:PATH}`), never in a checklist or overlay
# that is copied, committed and printed.  The warning names where, never the value.
_REFERENCE = re.compile(r"\$\{(?:env|file):[^}]*\}")
_SECRET_NAMES = {"password", "passwd", "pwd", "passphrase", "secret", "token", "apikey", "key"}
_SECRET_WORDS = {"password", "passwd", "passphrase", "secret", "token", "apikey"}
_AUTH_HEADERS = {"authorization", "proxyauthorization", "cookie", "xapikey", "xauthtoken"}
_AUTH_SCHEMES = {"bearer", "basic", "token", "digest", "negotiate", "apikey"}
# `Bearer ${env:TOK}`: a scheme word, then only references (resolved at run time).
_SCHEME_THEN_REFERENCE = re.compile(r"\s*([A-Za-z-]+)\s+(?:\$\{(?:env|file):[^}]*\}\s*)+")
_USERINFO = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://([^/?#]*)@")
_QUERY = re.compile(r"[?&;]([^=&#;]+)=([^&#;]*)")
_WELL_KNOWN = re.compile(
    r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\."  # a JWT
    r"|\b(?:gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|AKIA[0-9A-Z]{16}|sk-[A-Za-z0-9_-]{20,})"
)
_RUN = re.compile(r"[A-Za-z0-9_+=-]{32,}")
_SUGGEST = "; write a reference such as ${env:NAME} or ${file:PATH} instead"


def secret_warnings(doc: Document) -> list[Problem]:
    """A warning for each string in `doc` that looks like a password, token or key."""
    found = []
    for path, text in templates.strings_in(doc.data):
        key = path[-1] if path and isinstance(path[-1], str) else ""
        reason = looks_secret(key, text)
        if reason:
            found.append(doc.problem(path, reason + _SUGGEST, warning=True))
    return found


def looks_secret(key: str, text: str) -> str | None:
    """Why the value `text` of key `key` looks like a literal credential, or None."""
    literal = templates.PLACEHOLDER.sub("", _REFERENCE.sub("", text)).strip()
    if not literal:
        return None
    name = _name(key)
    bare = _REFERENCE.sub("", text)  # references are fine wherever they are
    userinfo = _USERINFO.match(bare)
    if userinfo:
        user, colon, password = userinfo[1].partition(":")
        if _literal(password if colon else user):
            return "URL with a literal password or token before the @"
    for param, value in _QUERY.findall(bare):
        if _sensitive(_name(param)) and _literal(value):
            return f"URL query parameter {param[:40]!r} with a literal value"
    if name in _AUTH_HEADERS:
        words = literal.split()
        if len(words) > 1 or words[0].lower() not in _AUTH_SCHEMES:
            return f"literal credential in the {key[:40]} header"
    elif _sensitive(name) and not _is_url(literal) and not _scheme_then_reference(text):
        return f"literal value for {key[:40]!r}"
    if _WELL_KNOWN.search(literal):
        return "looks like an access token or API key"
    if any(_random(run) for run in _RUN.findall(literal)):
        return "a long random-looking string (a token or key?)"
    return None


def _name(key: str) -> str:
    return re.sub(r"[^a-z0-9]", "", key.lower())


# Query or fragment parameters of a link that carry a credential: a signature of a signed
# link (S3, GCS, Azure SAS), a session, an OAuth code or token.  Names are compared without
# case or punctuation (`X-Amz-Signature` -> `xamzsignature`).
_LINK_SECRET_WORDS = {"signature", "credential", "session", "jwt", "auth", "otp"}
_LINK_SECRET_NAMES = {"sig", "sid", "code", "sessionid", "sv"}


def secret_in_link(url: str) -> str | None:
    """Why a link given as evidence (shown, stored and signed as it stands) carries what
    looks like a credential, or None: a user name or password before the host, a query or
    fragment parameter named like one (token, key, password, signature, session, …), or a
    value that looks like a token (a JWT, a well-known key format, a long random run).
    Ordinary parameters (`?id=7`, `#page=3`) are kept: portals link documents that way."""
    if _USERINFO.match(url):
        return "a user name or password before the host"
    # The fragment's parameters (`#access_token=…`) are read like the query's.
    for param, value in _QUERY.findall(url.replace("#", "&" if "?" in url else "?", 1)):
        name = _name(param)
        if not value:
            continue
        if (
            _sensitive(name)
            or name in _LINK_SECRET_NAMES
            or any(word in name for word in _LINK_SECRET_WORDS)
        ):
            return f"a query or fragment parameter named {param[:40]!r}, which holds a credential"
        if _WELL_KNOWN.search(value) or _RUN.search(value):
            return f"a query or fragment value that looks like a token (parameter {param[:40]!r})"
    return None


def _sensitive(name: str) -> bool:
    return name in _SECRET_NAMES or any(word in name for word in _SECRET_WORDS)


def _literal(value: str) -> bool:
    return bool(templates.PLACEHOLDER.sub("", _REFERENCE.sub("", value)).strip())


def _scheme_then_reference(text: str) -> bool:
    """`Bearer ${env:TOK}` (under any header name, X-Token as well as Authorization): nothing
    in it is a literal credential."""
    match = _SCHEME_THEN_REFERENCE.fullmatch(text)
    return match is not None and match[1].lower() in _AUTH_SCHEMES


def _is_url(value: str) -> bool:
    return value.startswith(("http://", "https://", "/"))


def _random(run: str) -> bool:
    """Mixed case and digits with high per-character entropy: not a word, path or hex id."""
    if not (any(c.isdigit() for c in run) and run.lower() != run and run.upper() != run):
        return False
    counts = Counter(run)
    entropy = -sum(n / len(run) * math.log2(n / len(run)) for n in counts.values())
    return entropy >= 3.5
