"""`{endpoint.portal}/api/units?p={province.code}`: the only substitution language in files.

Secret references (`${env:NAME}`, `${file:PATH}`, see cutover.secrets) are resolved after the
placeholders; here they are only checked for form.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, get_args

from pydantic import BaseModel

PLACEHOLDER = re.compile(r"\{([a-z_]+)\.([A-Za-z0-9_-]+)\}")
_REFERENCE_LIKE = re.compile(r"\$\{([^}]*)\}")
PROVINCE_FIELDS = {"code", "slug", "name", "name_en", "unit_count", "eid_code"}
COMMUNE_FIELDS = {"code", "name", "type"}


def placeholders(text: str) -> list[tuple[str, str]]:
    return PLACEHOLDER.findall(text)


def check(text: str, endpoints: set[str] | None, commune_level: bool) -> list[str]:
    """Problems with the placeholders of one template string (empty when it is fine).  With
    `endpoints` None, any endpoint name is accepted (a command that probes nothing)."""
    problems = []
    for scope, name in placeholders(text):
        if scope == "endpoint" and endpoints is not None and name not in endpoints:
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
    for body in _REFERENCE_LIKE.findall(text):
        source, _, name = body.partition(":")
        if source not in ("env", "file") or not name:  # `${evn:TOKEN}` would be sent verbatim
            problems.append(
                f"malformed secret reference ${{{body}}}: write ${{env:NAME}} or ${{file:PATH}}"
            )
    return problems


class MissingValue(Exception):
    """A placeholder whose value is not known for this target (e.g. no endpoint configured)."""


class _RegexMarker:
    """In a field's `Annotated` metadata: the string is a regular expression, so a value
    substituted into it is escaped and matches only itself (`{endpoint.national}` holding
    `https://dichvucong.gov.vn` must not match `https://dichvucong-gov.vn`)."""

    def __repr__(self) -> str:
        return "REGEX"


REGEX = _RegexMarker()

# Resolves `${env:…}`/`${file:…}` references in a text, passing each value through `escape`.
Resolve = Callable[[str, Callable[[str], str]], str]


def _verbatim(text: str) -> str:
    return text


@functools.lru_cache(maxsize=4096)
def _segments(text: str) -> tuple[tuple[str, str | None], ...]:
    """A template split once into (literal text, placeholder key or None) pairs: the same few
    templates are rendered for every commune of a run."""
    parts: list[tuple[str, str | None]] = []
    pos = 0
    for match in PLACEHOLDER.finditer(text):
        parts.append((text[pos : match.start()], f"{match[1]}.{match[2]}"))
        pos = match.end()
    parts.append((text[pos:], None))
    return tuple(parts)


def render(
    text: str,
    values: Mapping[str, str | None],
    *,
    regex: bool = False,
    resolve: Resolve | None = None,
) -> str:
    """Substitute placeholders.  Secret references are resolved afterwards, in the literal
    text and inside substituted values alike (an overlay URL may carry one); in a regex
    every substituted or resolved value is escaped."""
    escape = re.escape if regex else _verbatim

    def refs(part: str, esc: Callable[[str], str]) -> str:
        return resolve(part, esc) if resolve and "${" in part else part

    out = []
    for literal, key in _segments(text):
        out.append(refs(literal, escape))
        if key is not None:
            value = values.get(key)
            if value is None:
                raise MissingValue(f"no value for {{{key}}}")
            out.append(escape(refs(value, _verbatim)))
    return "".join(out)


def render_model(
    model: BaseModel, values: Mapping[str, str | None], resolve: Resolve | None = None
) -> dict[str, Any]:
    """The fields set on a (nested) model, by alias, every string rendered: ready to be
    validated again.  Fields marked with REGEX, or named by the model's `regex_fields()`,
    get escaped values."""
    regex = regex_fields(model)
    return {
        (info.alias or name): render_value(getattr(model, name), values, name in regex, resolve)
        for name, info in type(model).model_fields.items()
        if name in model.model_fields_set
    }


def render_value(
    value: Any, values: Mapping[str, str | None], regex: bool, resolve: Resolve | None
) -> Any:
    if isinstance(value, BaseModel):
        return render_model(value, values, resolve)
    if isinstance(value, str):
        return render(value, values, regex=regex, resolve=resolve)
    if isinstance(value, list):
        return [render_value(v, values, regex, resolve) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, values, regex, resolve) for k, v in value.items()}
    return value


def regex_fields(model: BaseModel) -> set[str]:
    """The fields of `model` whose values are regular expressions: substituted values are
    escaped in them."""
    marked = set(_marked_fields(type(model)))
    dynamic = _dynamic_regex_fields(type(model))
    return marked | set(dynamic(model)) if dynamic is not None else marked


@functools.cache
def _dynamic_regex_fields(model: type[BaseModel]) -> Callable[[BaseModel], Any] | None:
    """A model's own `regex_fields()` method, looked up once per class."""
    method = getattr(model, "regex_fields", None)
    return method if callable(method) else None


@functools.cache
def _marked_fields(model: type[BaseModel]) -> frozenset[str]:
    """The fields a model's annotations mark as regular expressions: the same for every
    instance, so worked out once per class (this runs for every probe of a run)."""
    fields = model.model_fields
    return frozenset(n for n, f in fields.items() if REGEX in f.metadata or _marked(f.annotation))


def _marked(annotation: Any) -> bool:
    if any(m is REGEX for m in getattr(annotation, "__metadata__", ())):
        return True
    return any(_marked(arg) for arg in get_args(annotation))


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
