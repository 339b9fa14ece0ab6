"""Provinces and communes: provinces.yaml checked against the vietnam-provinces package.

The package (Decision 19/2025/QĐ-TTg codes) is the authority for codes, names and the
commune-level units; provinces.yaml adds what the package lacks (English names, the pre-2025
provinces merged, agency e-ID codes, endpoints).  Any disagreement is a validation error.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from cutover import templates
from cutover.errors import ConfigError, Problem, UsageError
from cutover.models import Strict, capped, shown, validate

if TYPE_CHECKING:
    from cutover.yamlio import Document

UNIT_TYPES = {"xã": "communes", "phường": "wards", "đặc khu": "special_zones"}
_SCHEMES = ("http://", "https://")


def check_url(value: str) -> str:
    """http(s) only, with a host and a port in range; a malformed secret reference is an
    error here, not a string sent as it stands.  A value starting with a placeholder
    (`{endpoint.portal}`) or a reference (`${env:PORTAL_URL}`) is checked once rendered at
    run time, and so is the host of a value with a placeholder in it."""
    # Every probe's URL is checked again once rendered, so the common shapes take the short
    # way (measured: the full check doubled the cost of rendering a probe).
    if "$" in value:
        from cutover.secrets import reference_problems

        for problem in reference_problems(value):
            raise ValueError(problem)
    if value.startswith(("{", "${")):
        return value
    if not value.startswith(_SCHEMES):
        scheme = value.split(":", 1)[0] if ":" in value else value
        raise ValueError(f"URL scheme must be http or https, got {scheme!r}")
    plain = _PLAIN_URL.match(value)
    if plain is not None and (plain["port"] is None or 0 < int(plain["port"]) < 65536):
        return value  # a host name and a port in range: nothing url_problem would refuse
    # A reference stands for text only known at run time: any valid stand-in will do.
    literal = _ANY_REFERENCE.sub("x", value) if "$" in value else value
    if "{" not in literal:
        wrong = url_problem(literal)
        if wrong:
            raise ValueError(wrong)
    return value


_ANY_REFERENCE = re.compile(r"\$\{[^}]*\}")
_HOST = re.compile(r"[^\s\\/?#@<>\"'{}|^`%]+")
# http(s), a host name of letters, digits, dots and hyphens, an optional port, then a path,
# query or fragment without braces or spaces (a placeholder or reference takes the long way).
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::(?P<port>[0-9]{1,5}))?(?:[/?#][^\s{}$]*)?\Z")


def url_problem(url: str) -> str | None:
    """Why an http(s) URL without placeholders cannot be requested, or None.  The URL itself
    is not quoted: it may hold a password."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        reason = str(exc)
        if "IPv6" in reason:
            return "not a valid URL: the host has an unclosed or malformed [IPv6 address]"
        if "Port out of range" in reason:
            return "not a valid URL: the port is out of range (1-65535)"
        if "Port could not be cast" in reason:
            return "not a valid URL: the port after the host's ':' is not a number"
        return "not a valid URL"
    if port == 0:
        return "not a valid URL: port 0 cannot be connected to (1-65535)"
    host = parts.hostname
    if not host:
        return f"not a valid URL: no host after {parts.scheme}://"
    if not host.startswith("[") and ":" not in host and not _HOST.fullmatch(host):
        return "not a valid URL: the host has characters a host name cannot have"
    return None


# A probe's URL: values substituted into it are percent-encoded (see cutover.templates).
Url = Annotated[str, AfterValidator(check_url), templates.URL]
# An endpoint is a base that templates append paths to: keep it without a trailing slash.
BaseUrl = Annotated[str, AfterValidator(lambda v: check_url(v).rstrip("/"))]


class Units(Strict):
    communes: int = Field(ge=0)
    wards: int = Field(ge=0)
    special_zones: int = Field(ge=0)

    @property
    def total(self) -> int:
        return self.communes + self.wards + self.special_zones


class ProvinceSpec(Strict):
    code: str = Field(pattern=r"^\d{2}$")
    slug: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    name: str
    name_en: str
    type: Literal["province", "city"]
    units: Units
    merged_from: list[str] = Field(min_length=1)
    aliases: list[str] = []  # names people use: "TP HCM", "Sài Gòn"
    eid_code: str | None = Field(default=None, max_length=35, pattern=r"^[0-9A-Z]+(\.[0-9A-Z]+)+$")
    endpoints: dict[str, BaseUrl] = {}


class ProvincesFile(Strict):
    version: Literal[1] = 1
    endpoints: dict[str, BaseUrl] = {}
    provinces: list[ProvinceSpec]


@dataclass(frozen=True)
class Commune:
    """One commune, ward or special zone of a province (Decision 19/2025's list)."""

    code: str  # five digits, Decision 19/2025
    name: str
    type: str  # xã | phường | đặc khu


@dataclass(frozen=True)
class Province:
    """A province (its spec from provinces.yaml) with its communes in the official order."""

    spec: ProvinceSpec
    communes: tuple[Commune, ...]

    @property
    def code(self) -> str:
        return self.spec.code

    @property
    def slug(self) -> str:
        return self.spec.slug

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def unit_count(self) -> int:
        return self.spec.units.total


def normalize(text: str) -> str:
    """'TP. Hải Phòng' -> 'hai-phong': no diacritics, case, punctuation or type prefix."""
    text = text.replace("Đ", "D").replace("đ", "d")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    for prefix in (["thanh", "pho"], ["tp"], ["tinh"], ["province", "of"], ["city", "of"]):
        if words[: len(prefix)] == prefix and len(words) > len(prefix):
            words = words[len(prefix) :]
    for suffix in (["city"], ["province"]):
        if words[-1:] == suffix and len(words) > 1:
            words = words[:-1]
    return "-".join(words)


@functools.cache
def package_divisions() -> tuple[str, list[dict[str, object]]]:
    """The package's data file, read without importing the package (its enums cost ~60 ms),
    once per process (nothing changes it)."""
    spec = importlib.util.find_spec("vietnam_provinces")
    if spec is None or not spec.submodule_search_locations:
        raise UsageError("the vietnam-provinces package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "nested-divisions.json"
    data: list[dict[str, object]] = json.loads(path.read_text(encoding="utf-8"))
    return f"vietnam-provinces {version('vietnam-provinces')}", data


CODE = re.compile(r"\d{2}")


@functools.cache
def province_names() -> dict[str, str]:
    """Code -> name of every province of the package: the codes any valid provinces.yaml has
    (its cross-check refuses any other), so a file can be checked without loading one."""
    return {code: str(d["name"]) for code, d in _by_code(package_divisions()[1]).items()}


def check_province_code(value: object) -> str:
    """A province code as written in a file (`31`, or 31 unquoted): two digits naming a
    province.  A name or slug is refused with the code to write instead."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 100:
        value = f"{value:02d}"
    if isinstance(value, str) and CODE.fullmatch(value):
        if value in province_names():
            return value
        raise ValueError(f"unknown province code {value!r}")
    expected = "expected a two-digit province code such as '01'"
    if not isinstance(value, str):
        raise ValueError(f"{expected}, got {type(value).__name__} {shown(value)}")
    try:
        province = load_geography(packaged_provinces()).find(value)
    except (UsageError, ConfigError):
        raise ValueError(f"{expected}, got {shown(value)}") from None
    raise ValueError(f"{expected}, not a name: write '{province.code}' for {province.name}")


def _by_code(divisions: list[dict[str, object]]) -> dict[str, dict[str, object]]:
    return {f"{int(str(d['code'])):02d}": d for d in divisions}


class Geography:
    def __init__(self, file: ProvincesFile, source: str) -> None:
        self.file = file
        self.source = source
        label, divisions = package_divisions()
        self.package_label = label
        self._divisions = _by_code(divisions)
        self.provinces = [Province(p, self._communes_of(p.code)) for p in file.provinces]
        self.by_code = {p.code: p for p in self.provinces}

    def __getstate__(self) -> dict[str, object]:
        """Pickled (`cutover.workspace_cache`) without the package's divisions: only loading
        and `cross_check` read them, and they are over half of the pickle, so a geography
        from the cache reads them again only if it is asked to cross-check."""
        return {k: v for k, v in self.__dict__.items() if k != "_divisions"}

    @cached_property
    def _divisions(self) -> dict[str, dict[str, object]]:
        return _by_code(package_divisions()[1])

    def _communes_of(self, code: str) -> tuple[Commune, ...]:
        division = self._divisions.get(code)
        wards = division["wards"] if division else []
        return tuple(
            Commune(f"{w['code']:05d}", w["name"], w["division_type"])
            for w in wards  # type: ignore[attr-defined]
        )

    @property
    def national_endpoints(self) -> dict[str, str]:
        return dict(self.file.endpoints)

    @cached_property
    def _index(self) -> dict[str, Province]:
        """Every current name of a province: code, slug, names, aliases (normalized)."""
        index: dict[str, Province] = {}
        for p in self.provinces:
            keys = [p.code, str(int(p.code)), p.slug, p.spec.name, p.spec.name_en, *p.spec.aliases]
            for key in keys:
                index.setdefault(normalize(key), p)
        return index

    @cached_property
    def _former(self) -> dict[str, tuple[str, Province]]:
        """Pre-2025 province names that are no longer a province's own name."""
        former: dict[str, tuple[str, Province]] = {}
        for p in self.provinces:
            for name in p.spec.merged_from:
                key = normalize(name)
                if key not in self._index:
                    former.setdefault(key, (name, p))
        return former

    def find(self, query: str) -> Province:
        return self.resolve(query)[0]

    def resolve(self, query: str) -> tuple[Province, str | None]:
        """The province a person means, and a note when they used a former province's name
        or the start of a name.  Several candidates, or none, is a usage error that names
        them (or the closest names)."""
        key = normalize(query) if query.strip() else ""
        if key in self._index:
            return self._index[key], None
        if key in self._former:
            name, province = self._former[key]
            return province, (
                f"{name!r} is a province from before the 2025 merger, now part of "
                f"{province.name} ({province.code})"
            )
        return self._by_prefix(query, key)

    def _by_prefix(self, query: str, key: str) -> tuple[Province, str | None]:
        found: dict[str, Province] = {}
        if len(key) >= 2:
            names = [*self._index.items(), *((k, p) for k, (_, p) in self._former.items())]
            for name, province in names:
                if name.startswith(key):
                    found[province.code] = province
        if len(found) == 1:
            province = next(iter(found.values()))
            return province, f"taking {query!r} as {province.name} ({province.code})"
        if found:
            listed = ", ".join(f"{p.code} {p.name}" for p in found.values())
            raise UsageError(f"province {query!r} is ambiguous: it could be {listed}")
        import difflib

        slugs = [p.slug for p in self.provinces]
        close = difflib.get_close_matches(key, slugs, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise UsageError(f"unknown province {query!r}{hint} (see `cutover provinces`)")

    def select(self, queries: list[str] | None) -> list[Province]:
        return self.select_noting(queries)[0]

    def select_noting(self, queries: list[str] | None) -> tuple[list[Province], list[str]]:
        """The provinces named (all when None), in their usual order, and the notes on how
        some names were read."""
        if not queries:
            return list(self.provinces), []
        chosen: set[str] = set()
        notes = []
        for query in queries:
            province, note = self.resolve(query)
            chosen.add(province.code)
            if note:
                notes.append(note)
        return [p for p in self.provinces if p.code in chosen], notes

    def cross_check(self, doc: Document) -> list[Problem]:
        """Every disagreement between provinces.yaml and the package, located in the file."""
        problems: list[Problem] = []
        label = self.package_label
        seen: set[str] = set()
        for i, p in enumerate(self.file.provinces):
            at = ("provinces", i)
            if p.code in seen:
                problems.append(doc.problem((*at, "code"), f"duplicate province code {p.code!r}"))
            seen.add(p.code)
            division = self._divisions.get(p.code)
            if division is None:
                problems.append(
                    doc.problem((*at, "code"), f"code {p.code!r} is not a province in {label}")
                )
                continue
            if p.name != division["name"]:
                problems.append(
                    doc.problem(
                        (*at, "name"), f"{p.name!r} in the file but {division['name']!r} in {label}"
                    )
                )
            slug = str(division["codename"]).replace("_", "-")
            if p.slug != slug:
                problems.append(
                    doc.problem((*at, "slug"), f"{p.slug!r} in the file but {slug!r} in {label}")
                )
            kind = "city" if division["division_type"] == "thành phố trung ương" else "province"
            if p.type != kind:
                problems.append(
                    doc.problem((*at, "type"), f"{p.type!r} in the file but {kind!r} in {label}")
                )
            counts = {k: 0 for k in UNIT_TYPES.values()}
            for c in self._communes_of(p.code):
                counts[UNIT_TYPES.get(c.type, "communes")] += 1
            for key, expected in counts.items():
                actual = getattr(p.units, key)
                if actual != expected:
                    problems.append(
                        doc.problem(
                            (*at, "units", key), f"{actual} in the file but {expected} in {label}"
                        )
                    )
        for code, division in self._divisions.items():
            if code not in seen:
                problems.append(
                    doc.problem(
                        ("provinces",), f"province {code} {division['name']} of {label} is missing"
                    )
                )
        return problems


PROVINCES_FILE = "provinces.yaml"


def packaged_provinces() -> Path:
    return Path(__file__).parent / "data" / PROVINCES_FILE


def default_provinces_path(cwd: Path | None = None) -> tuple[Path, str]:
    """The working directory's provinces.yaml if present, else the copy shipped in the wheel.
    `cwd` is the command's (`Environment.cwd`); None, the process's."""
    from cutover.env import anchored

    local = anchored(Path(PROVINCES_FILE), cwd)
    if local.is_file():
        return local, PROVINCES_FILE
    return packaged_provinces(), f"<packaged>/{PROVINCES_FILE}"


def load_document(doc: Document) -> Geography:
    geo = Geography(validate(ProvincesFile, doc), doc.file)
    problems = geo.cross_check(doc)
    if problems:
        raise ConfigError(capped(problems))
    return geo


def load_geography(path: Path | None = None, *, cwd: Path | None = None) -> Geography:
    """The provinces file at `path` (a relative one in `cwd`, shown as given), else the one
    `default_provinces_path` finds."""
    from cutover.env import anchored
    from cutover.yamlio import load_file

    if path is None:
        path, display = default_provinces_path(cwd)
    else:
        path, display = anchored(path, cwd), str(path)
    return load_document(load_file(path, display))
