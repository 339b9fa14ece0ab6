"""`{endpoint.portal}/api/units?p={province.code}`: the only substitution language in files."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

PLACEHOLDER = re.compile(r"\{([a-z_]+)\.([A-Za-z0-9_-]+)\}")
PROVINCE_FIELDS = {"code", "slug", "name", "name_en", "unit_count", "eid_code"}
COMMUNE_FIELDS = {"code", "name", "type"}


def placeholders(text: str) -> list[tuple[str, str]]:
    return PLACEHOLDER.findall(text)


def check(text: str, endpoints: set[str], commune_level: bool) -> list[str]:
    """Problems with the placeholders of one template string (empty when it is fine)."""
    problems = []
    for scope, name in placeholders(text):
        if scope == "endpoint" and name not in endpoints:
            from cutover.models import first_close

            known = ", ".join(sorted(endpoints)) or "none"
            problems.append(
                f"template names unknown endpoint {name!r}{first_close(name, sorted(endpoints))}"
                f"; known: {known}"
            )
        elif scope == "province" and name not in PROVINCE_FIELDS:
            problems.append(f"unknown placeholder {{province.{name}}}")
        elif scope == "commune" and name not in COMMUNE_FIELDS:
            problems.append(f"unknown placeholder {{commune.{name}}}")
        elif scope == "commune" and not commune_level:
            problems.append(f"{{commune.{name}}} used in a province-level step")
        elif scope not in ("endpoint", "province", "commune"):
            problems.append(f"unknown placeholder scope {scope!r} in {{{scope}.{name}}}")
    return problems


class MissingValue(Exception):
    """A placeholder whose value is not known for this target (e.g. no endpoint configured)."""


def render(text: str, values: Mapping[str, str | None]) -> str:
    def one(match: re.Match[str]) -> str:
        key = f"{match[1]}.{match[2]}"
        value = values.get(key)
        if value is None:
            raise MissingValue(f"no value for {{{key}}}")
        return value

    return PLACEHOLDER.sub(one, text)


def render_all(data: Any, values: Mapping[str, str | None]) -> Any:
    """Substitute in every string of a nested structure."""
    if isinstance(data, str):
        return render(data, values)
    if isinstance(data, list):
        return [render_all(v, values) for v in data]
    if isinstance(data, dict):
        return {k: render_all(v, values) for k, v in data.items()}
    return data


def strings_in(
    data: Any, path: tuple[str | int, ...] = ()
) -> list[tuple[tuple[str | int, ...], str]]:
    if isinstance(data, str):
        return [(path, data)]
    if isinstance(data, list):
        return [s for i, v in enumerate(data) for s in strings_in(v, (*path, i))]
    if isinstance(data, dict):
        return [s for k, v in data.items() for s in strings_in(v, (*path, str(k)))]
    return []
