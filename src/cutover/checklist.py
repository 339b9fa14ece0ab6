"""Checklists and endpoint overlays: models, loading, and the checks pydantic cannot do alone
(duplicate ids, dependencies, provinces, endpoint names, the six clears)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    Tag,
    WithJsonSchema,
    field_validator,
)

from cutover import templates
from cutover.errors import ConfigError, Problem, UsageError
from cutover.geo import BaseUrl, Geography, Province, check_province_code
from cutover.models import (
    FIRST_YEAR,
    LAST_YEAR,
    Strict,
    capped,
    first_close,
    shown,
    validate,
    within_years,
)
from cutover.probes import AnyProbe
from cutover.secrets import reference_problems

if TYPE_CHECKING:
    from cutover.i18n import Lang
    from cutover.yamlio import Document

SIX_CLEARS = ("owner", "task", "due", "responsible", "deliverable", "authority")
TextClear = Literal["owner", "task", "responsible", "deliverable", "authority"]  # all but due
_DURATION = re.compile(r"^([0-9]{1,6})\s*(m|h|d|w)$")  # 999999w fits in a timedelta
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value).strip())
    if not match:
        raise ValueError(f"expected a duration like 30m, 12h, 7d or 2w, got {shown(value)}")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds // 60}m"


def parse_due(value: Any) -> datetime:
    """An ISO 8601 date-time with a UTC offset; YAML may have parsed it already."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 date-time: {shown(value)}") from None
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(
                f"{value.isoformat()} has no UTC offset; write e.g. {value.isoformat()}+07:00"
            )
        if not within_years(value):
            raise ValueError(f"{value.isoformat()} is outside {FIRST_YEAR}-{LAST_YEAR}")
        return value
    if isinstance(value, date):
        raise ValueError(f"{value} is a date without a time and UTC offset")
    raise ValueError(f"expected a date-time with UTC offset, got {type(value).__name__}")


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema({"type": "string", "pattern": _DURATION.pattern}),
]
Due = Annotated[
    datetime,
    BeforeValidator(parse_due),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": r"(Z|[+-]\d{2}:\d{2})$"}),
]
ProvinceCode = Annotated[
    str,
    PlainValidator(check_province_code),
    WithJsonSchema({"type": "string", "pattern": r"^\d{2}$"}),
]


class Title(Strict):
    """A text in Vietnamese and in English: titles, summaries, and clears written in both."""

    vi: str = Field(min_length=1)
    en: str = Field(min_length=1)

    def text(self, lang: Lang) -> str:
        return self.vi if lang == "vi" else self.en


def _clear_form(value: Any) -> str | None:
    """Which form a clear is written in: text, `{vi, en}`, or neither (None)."""
    if isinstance(value, str):
        return "text"
    return "vi/en" if isinstance(value, dict) else None


# A clear is one text for every language, as provinces have written them from the start, or a
# `{vi, en}` mapping like a title.  The form is chosen before validating, so a malformed
# mapping gives its own errors (missing `en`, unknown key), not "not a string" as well.
Clear = Annotated[
    Annotated[str, Tag("text")] | Annotated[Title, Tag("vi/en")],
    Discriminator(
        _clear_form,
        custom_error_type="clear_form",
        custom_error_message="expected text or a mapping {vi: …, en: …}",
    ),
]


class Step(Strict):
    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    title: Title
    due: Due
    owner: Clear | None = None
    task: Clear | None = None
    responsible: Clear | None = None
    deliverable: Clear | None = None
    authority: Clear | None = None
    level: Literal["province", "commune"] = "province"
    applies_to: list[ProvinceCode] | None = None
    depends_on: list[str] = []
    tags: list[str] = []
    freshness: Duration | None = None
    summary: Title | None = None  # clause for the written summary: "32/34 had <en>" / "đã <vi>"
    verify: AnyProbe

    def applies(self, province: Province) -> bool:
        return self.applies_to is None or province.code in self.applies_to

    def missing_clears(self) -> list[str]:
        return [c for c in SIX_CLEARS if not getattr(self, c)]

    def clear(self, name: TextClear, lang: Lang) -> str | None:
        """The clear `name` in `lang`: its text, or its `lang` half when written in both."""
        value: str | Title | None = getattr(self, name)
        return value.text(lang) if isinstance(value, Title) else value


class Checklist(Strict):
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
    title: Title
    timezone: str = "Asia/Ho_Chi_Minh"
    warning_window: Duration = timedelta(hours=24)
    steps: list[Step] = Field(min_length=1)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError(f"unknown time zone {shown(value)}") from None
        return value

    def step(self, step_id: str) -> Step:
        """A step by its id or by its number (1, 2, … in checklist order), the number every
        table of `check` and `matrix` shows; an id that is all digits is taken as an id."""
        for s in self.steps:
            if s.id == step_id:
                return s
        number = step_id.strip()
        if number.isdecimal() and number.isascii() and len(number) <= 6:
            if 1 <= int(number) <= len(self.steps):
                return self.steps[int(number) - 1]
            raise UsageError(
                f"no step {int(number)} in checklist {self.id}: its steps are numbered "
                f"1-{len(self.steps)}, as check shows them (or give the step's id)"
            )
        ids = [s.id for s in self.steps]
        raise UsageError(
            f"unknown step {step_id!r}{first_close(step_id, ids)} in checklist {self.id}"
        )


def _fixed_url(value: str) -> str:
    """A national or one province's endpoint: sent as written, so a placeholder in it would
    reach the server literally (`%7Bprovince.code%7D`) and fail the cell.  Secret references
    (`${env:HOST}`) are fine: `check_url` has checked their form."""
    literal = templates.REFERENCE.sub("", value)
    if "{" in literal or "}" in literal:
        raise ValueError(
            "a fixed URL takes no placeholder; a pattern for every province, such as "
            "https://dvc.example.gov.vn/{province.code}, goes under province_endpoints"
        )
    return value


def _province_pattern(value: str) -> str:
    """A per-province pattern: only the province's own values can fill it (and secret
    references, whose form `check_url` has checked)."""
    literal = templates.REFERENCE.sub("", value)
    for scope, name in templates.placeholders(literal):
        if scope != "province" or name not in templates.PROVINCE_FIELDS:
            fields = sorted(f"province.{f}" for f in templates.PROVINCE_FIELDS)
            known = ", ".join(f"{{{f}}}" for f in fields)
            close = first_close(f"{scope}.{name}", fields)
            raise ValueError(f"unknown placeholder {{{scope}.{name}}}{close}; known: {known}")
    rest = templates.PLACEHOLDER.sub("", literal)
    if "{" in rest or "}" in rest:
        raise ValueError("a brace that is not a placeholder such as {province.code}")
    return value


FixedUrl = Annotated[BaseUrl, AfterValidator(_fixed_url)]
ProvincePattern = Annotated[BaseUrl, AfterValidator(_province_pattern)]


class Overlay(Strict):
    """Endpoint names -> URLs: national ones, a per-province pattern, or per-province values.
    Placeholders are checked here, when the file is loaded: a typo in one would otherwise end
    every command that renders the pattern, or be sent to the server as written."""

    version: Literal[1] = 1
    endpoints: dict[str, FixedUrl] = {}
    province_endpoints: dict[str, ProvincePattern] = {}
    provinces: dict[ProvinceCode, dict[str, FixedUrl]] = {}


@dataclass(frozen=True)
class LoadedChecklist:
    """A checklist as loaded: where from, the digest of its bytes, and whether it is local."""

    checklist: Checklist
    source: str
    digest: str  # sha256 of the file bytes: which checklist produced a result
    local: bool  # from a file the user gave or the current directory (command probes allowed)
    warnings: tuple[Problem, ...] = ()


class Endpoints:
    """The endpoint values of one province: provinces.yaml, then the overlay on top."""

    def __init__(self, geo: Geography, overlay: Overlay | None = None) -> None:
        self.geo = geo
        self.overlay = overlay or Overlay()

    def names(self) -> set[str]:
        names = set(self.geo.national_endpoints) | set(self.overlay.endpoints)
        names |= set(self.overlay.province_endpoints)
        for p in self.geo.provinces:
            names |= set(p.spec.endpoints)
        for values in self.overlay.provinces.values():
            names |= set(values)
        return names

    def for_province(self, province: Province) -> dict[str, str]:
        values = {
            **self.geo.national_endpoints,
            **self.overlay.endpoints,
            **province.spec.endpoints,
        }
        pvalues = province_values(province)
        for name, pattern in self.overlay.province_endpoints.items():
            values[name] = templates.render(pattern, pvalues, syntax="url")  # as a probe's URL
        values.update(self.overlay.provinces.get(province.code, {}))
        return values


@dataclass(frozen=True)
class Fallback:
    """An endpoint the checklist uses that an overlay does not give (for some provinces):
    probes of those provinces use the production URL from provinces.yaml."""

    name: str
    steps: tuple[str, ...]
    urls: tuple[tuple[str, str | None], ...]  # (province code, production URL) per province

    def where(self) -> str:
        """The production URL, or each province's with one example."""
        distinct = {url for _, url in self.urls}
        code, url = self.urls[0]
        if len(distinct) == 1:
            return f"the production URL {url}" if url else "no URL at all (the probes fail)"
        return f"each province's production URL (e.g. {url} for {code})"

    def describe(self) -> str:
        return (
            f"the endpoint overlay has no {self.name!r} (used by {', '.join(self.steps)}): "
            f"probing {self.where()} from provinces.yaml"
        )


def endpoints_used(steps: list[Step]) -> dict[str, list[str]]:
    """Each endpoint name the steps' probes use, with the ids of the steps using it."""
    used: dict[str, list[str]] = {}
    for step in steps:
        texts = templates.strings_in(step.verify.model_dump(mode="json"))
        for name in sorted({n for _, t in texts for scope, n in templates.placeholders(t)
                            if scope == "endpoint"}):  # fmt: skip
            used.setdefault(name, []).append(step.id)
    return used


def fallbacks(endpoints: Endpoints, steps: list[Step], provinces: list[Province]) -> list[Fallback]:
    """What an overlay leaves to the production URLs of provinces.yaml."""
    overlay = endpoints.overlay
    found = []
    for name, step_ids in endpoints_used(steps).items():
        if name in overlay.endpoints or name in overlay.province_endpoints:
            continue
        lacking = [p for p in provinces if name not in overlay.provinces.get(p.code, {})]
        if lacking:
            urls = tuple((p.code, endpoints.for_province(p).get(name)) for p in lacking)
            found.append(Fallback(name, tuple(step_ids), urls))
    return found


def province_values(province: Province) -> dict[str, str | None]:
    spec = province.spec
    return {
        "province.code": spec.code,
        "province.slug": spec.slug,
        "province.name": spec.name,
        "province.name_en": spec.name_en,
        "province.unit_count": str(province.unit_count),
        "province.eid_code": spec.eid_code,
    }


def check_references(
    doc: Document, checklist: Checklist, geo: Geography, endpoint_names: set[str] | None
) -> list[Problem]:
    problems: list[Problem] = []
    ids: dict[str, int] = {}
    for i, step in enumerate(checklist.steps):
        at = ("steps", i)
        if step.id in ids:
            problems.append(
                doc.problem(
                    (*at, "id"), f"duplicate step id {step.id!r} (also steps[{ids[step.id]}])"
                )
            )
        ids.setdefault(step.id, i)
    for i, step in enumerate(checklist.steps):
        at = ("steps", i)
        for j, dep in enumerate(step.depends_on):
            if dep not in ids:
                problems.append(
                    doc.problem(
                        (*at, "depends_on", j),
                        f"depends on unknown step {dep!r}{first_close(dep, list(ids))}",
                    )
                )
        for j, code in enumerate(step.applies_to or []):
            if code not in geo.by_code:
                problems.append(
                    doc.problem((*at, "applies_to", j), f"unknown province code {code!r}")
                )
        raw = doc.data["steps"][i].get("verify", {})
        for path, text in templates.strings_in(raw, (*at, "verify")):
            found = templates.check(text, endpoint_names, step.level == "commune")
            # the same malformed reference may be found by both: say it once
            for message in dict.fromkeys([*found, *reference_problems(text)]):
                problems.append(doc.problem(path, message))
        problems += _url_schemes(doc, step, at)
    problems += _cycles(doc, checklist)
    return problems


def _url_schemes(doc: Document, step: Step, at: tuple[str | int, ...]) -> list[Problem]:
    for key in ("url", "issuer", "redirect_uri"):
        value = getattr(step.verify, key, None)
        if isinstance(value, str) and value.startswith("{") and not value.startswith("{endpoint."):
            return [
                doc.problem(
                    (*at, "verify", key),
                    "a URL template must start with http://, https:// or an {endpoint.NAME}",
                )
            ]
    return []


def _cycles(doc: Document, checklist: Checklist) -> list[Problem]:
    """Each dependency cycle, found by a depth-first walk with an explicit stack (a chain of
    thousands of steps must not exhaust Python's recursion limit)."""
    graph = {s.id: s.depends_on for s in checklist.steps}
    index = {s.id: i for i, s in enumerate(checklist.steps)}
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    problems: list[Problem] = []
    for root in graph:
        if root in state:
            continue
        state[root] = 1
        trail = [root]
        stack = [iter(graph[root])]
        while stack:
            dep = next(stack[-1], None)
            node = trail[-1]
            if dep is None:
                state[node] = 2
                stack.pop()
                trail.pop()
            elif dep in graph and state.get(dep) == 1:
                cycle = [*trail[trail.index(dep) :], dep]
                problems.append(
                    doc.problem(
                        ("steps", index[node], "depends_on"),
                        "dependency cycle: " + " -> ".join(cycle),
                    )
                )
            elif dep in graph and dep not in state:
                state[dep] = 1
                trail.append(dep)
                stack.append(iter(graph[dep]))
    return problems


def clear_warnings(doc: Document, checklist: Checklist) -> list[Problem]:
    return [
        doc.problem(
            ("steps", i),
            f"step {s.id!r} lacks {', '.join(s.missing_clears())} (six clears)",
            warning=True,
        )
        for i, s in enumerate(checklist.steps)
        if s.missing_clears()
    ]


def load_checklist_document(
    doc: Document, geo: Geography, endpoints: Endpoints, *, local: bool, probing: bool = True
) -> LoadedChecklist:
    """The checklist of `doc`, its references checked.  Endpoint names are checked only for a
    command that probes (`probing`): the others never render a URL, and an endpoint that only
    the probing side's overlay defines must not stop `matrix`, `mark` or `serve`."""
    checklist = validate(Checklist, doc)
    problems = check_references(doc, checklist, geo, endpoints.names() if probing else None)
    if problems:
        raise ConfigError(capped(problems))
    return LoadedChecklist(
        checklist, doc.file, doc.digest, local, tuple(clear_warnings(doc, checklist))
    )


DEFAULT_CHECKLIST = "cutover-2025-06"


def packaged_checklists() -> Path:
    return Path(__file__).parent / "data" / "checklists"


def resolve_checklist_path(name: str | None, cwd: Path | None = None) -> tuple[Path, str, bool]:
    """A path, a name in ./checklists, or a name shipped in the wheel: the path, how to show
    it (as given) and whether it is the user's.  Relative paths are in `cwd`, the command's
    working directory (`Environment.cwd`); None, the process's."""
    from cutover.env import anchored

    name = name or DEFAULT_CHECKLIST
    given = anchored(Path(name), cwd)
    # Anything that looks like a path or exists is a path: a FIFO or directory is then
    # refused by the loader with its reason rather than taken for an unknown name.
    if given.suffix in (".yaml", ".yml") or "/" in name or os.sep in name or _exists(given):
        return given, name, True
    local = Path("checklists") / f"{name}.yaml"
    if _exists(found := anchored(local, cwd)):
        return found, str(local), True
    packaged = packaged_checklists() / f"{name}.yaml"
    if _exists(packaged):
        return packaged, f"<packaged>/checklists/{name}.yaml", True
    known = sorted(p.stem for p in packaged_checklists().glob("*.yaml"))
    raise UsageError(
        f"no checklist {name!r}{first_close(name, known)}; shipped: {', '.join(known)}"
    )


def _exists(path: Path) -> bool:
    """Whether anything is at `path`; a name the system cannot even look up is not there."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def load_checklist(
    name: str | None,
    geo: Geography,
    endpoints: Endpoints,
    *,
    probing: bool = True,
    cwd: Path | None = None,
) -> LoadedChecklist:
    from cutover.yamlio import load_file

    path, display, local = resolve_checklist_path(name, cwd)
    document = load_file(path, display)
    return load_checklist_document(document, geo, endpoints, local=local, probing=probing)


def load_overlay(path: Path | None, cwd: Path | None = None) -> Overlay | None:
    """The endpoint overlay at `path` (a relative one in `cwd`, shown as given), if any."""
    if path is None:
        return None
    from cutover.env import anchored
    from cutover.yamlio import load_file

    return validate(Overlay, load_file(anchored(path, cwd), str(path)))
