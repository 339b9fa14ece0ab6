"""The trust file: which public keys may sign for which province, and how many must."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field

from cutover.bundles.keys import PublicKey, load_public_key
from cutover.errors import ConfigError, Problem, UsageError
from cutover.geo import Geography
from cutover.models import Strict, validate
from cutover.yamlio import load_file


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
