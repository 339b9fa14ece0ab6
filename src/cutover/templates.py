"""`{endpoint.portal}/api/units?p={province.code}`: the only substitution language in files.

Secret references (`${env:NAME}`, `${file:PATH}`, see cutover.secrets) are resolved after the
placeholders; here they are only checked for form.

A value is written for the syntax of the field it goes into: escaped in a regular expression
(fields marked REGEX), percent-encoded in a URL (fields marked URL) unless it stands where
the URL's base does (see `_url_parts`), as it is in any other text.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, Literal, get_args
from urllib.parse import quote

from pydantic import BaseModel

PLACEHOLDER = re.compile(r"\{([a-z_]+)\.([A-Za-z0-9_-]+)\}")
REFERENCE = re.compile(r"\$\{(env|file):([^}]+)\}")
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


# How a field's text is written: substituted values are escaped for its syntax.
Syntax = Literal["text", "regex", "url"]


class _Marker:
    """In a field's `Annotated` metadata: the syntax of its string."""

    __slots__ = ("syntax",)

    def __init__(self, syntax: Syntax) -> None:
        self.syntax: Syntax = syntax

    def __repr__(self) -> str:
        return self.syntax.upper()


# A regular expression: a value substituted into it is escaped and matches only itself
# (`{endpoint.national}` holding `https://dichvucong.gov.vn` must not match
# `https://dichvucong-gov.vn`).
REGEX = _Marker("regex")
# A URL: a value substituted into it is percent-encoded for where it stands, so the server
# reads exactly that value (a token with `&`, `+` or `#` stays one query value).
URL = _Marker("url")

# Resolves `${env:…}`/`${file:…}` references in a text, passing each value through `escape`.
Resolve = Callable[[str, Callable[[str], str]], str]


def _verbatim(text: str) -> str:
    return text


def url_encoded(value: str) -> str:
    """`value` as one part of a URL (a path segment, a query value, a password): everything but
    the unreserved characters percent-encoded (RFC 3986), `/`, `+`, `%` and `@` included."""
    if value.isascii() and value.isalnum():
        return value  # a code, the common case: nothing to encode
    return quote(value, safe="")


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
    syntax: Syntax = "text",
    resolve: Resolve | None = None,
) -> str:
    """Substitute placeholders.  Secret references are resolved afterwards, in the literal
    text and inside substituted values alike (an overlay URL may carry one); in a regex
    every substituted or resolved value is escaped, in a URL encoded (see `_url_parts`)."""
    if syntax == "url":
        return _render_url(text, values, resolve)
    escape = re.escape if syntax == "regex" else _verbatim

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


# The start of a URL up to its authority: a scheme (or what stands for one) and `://`.
_AUTHORITY = re.compile(r"[^/?#]*://")
_STAND_IN = "\0"  # a placeholder or reference, where a URL's parts are looked for

# One part of a URL template: literal text ending with at most one reference, or a
# placeholder's key; and whether the reference or value there is percent-encoded.
_UrlPart = tuple[str, str | None, bool]


@functools.lru_cache(maxsize=4096)
def _url_parts(text: str, placeholders: bool = True) -> tuple[_UrlPart, ...]:
    """A URL template split once into parts, each placeholder and reference known to stand
    either where the URL's base does, and go in as it is, or inside it, and be encoded.

    The base is what comes before the authority (a whole URL such as `{endpoint.portal}` or
    `${env:PORTAL_URL}` at the start) and the host and port (`https://${env:HOST}/`); the
    user-info before the host, the path, the query and the fragment hold values, each one
    encoded (`https://svc:${env:PW}@host/units/{commune.code}?key=${env:KEY}`).  With
    `placeholders` False, `{…}` is literal text (in an endpoint's own URL)."""
    pieces: list[tuple[str, str | None]] = []
    at: list[int] = []  # where each piece's reference or placeholder is in `skeleton`, or -1
    skeleton = ""
    for literal, key in _segments(text) if placeholders else ((text, None),):
        pos = 0
        for match in REFERENCE.finditer(literal):
            skeleton += literal[pos : match.start()]
            at.append(len(skeleton))
            skeleton += _STAND_IN
            pieces.append((literal[pos : match.end()], None))
            pos = match.end()
        skeleton += literal[pos:]
        at.append(-1)
        pieces.append((literal[pos:], None))
        if key is not None:
            at.append(len(skeleton))
            skeleton += _STAND_IN
            pieces.append(("", key))
    inside = _inside(skeleton, at)
    return tuple(
        # an endpoint is a base URL wherever it stands: it goes in as it is
        (t, k, e and not (k or "").startswith("endpoint."))
        for (t, k), e in zip(pieces, inside, strict=True)
        if t or k
    )


def _inside(skeleton: str, at: list[int]) -> list[bool]:
    """For each stand-in at these offsets of a URL (-1: none), whether it is inside the URL
    (user-info, path, query, fragment) rather than in its base (before the authority, or the
    host and port)."""
    start = _AUTHORITY.match(skeleton)
    if start is None:  # the URL starts with its base: whatever follows is inside it
        return [offset > 0 for offset in at]
    begin = start.end()
    end = min((i for c in "/?#" if (i := skeleton.find(c, begin)) != -1), default=len(skeleton))
    host = skeleton.rfind("@", begin, end) + 1 or begin
    return [offset >= end or begin <= offset < host for offset in at]


def _render_url(
    text: str,
    values: Mapping[str, str | None],
    resolve: Resolve | None,
    placeholders: bool = True,
) -> str:
    out = []
    for literal, key, encode in _url_parts(text, placeholders):
        if key is None:
            escape = url_encoded if encode else _verbatim
            out.append(resolve(literal, escape) if resolve and "${" in literal else literal)
            continue
        value = values.get(key)
        if value is None:
            raise MissingValue(f"no value for {{{key}}}")
        if resolve is None or "${" not in value:
            out.append(url_encoded(value) if encode else value)
        elif encode:
            out.append(url_encoded(resolve(value, _verbatim)))
        else:  # a base URL of its own: its references encoded where they stand in it
            out.append(_render_url(value, {}, resolve, placeholders=False))
    return "".join(out)


def render_model(
    model: BaseModel, values: Mapping[str, str | None], resolve: Resolve | None = None
) -> dict[str, Any]:
    """The fields set on a (nested) model, by alias, every string rendered: ready to be
    validated again.  Fields marked with REGEX or URL, or named by the model's
    `regex_fields()`, get escaped values."""
    syntaxes = field_syntaxes(model)
    return {
        (info.alias or name): render_value(
            getattr(model, name), values, syntaxes.get(name, "text"), resolve
        )
        for name, info in type(model).model_fields.items()
        if name in model.model_fields_set
    }


def render_value(
    value: Any, values: Mapping[str, str | None], syntax: Syntax, resolve: Resolve | None
) -> Any:
    if isinstance(value, BaseModel):
        return render_model(value, values, resolve)
    if isinstance(value, str):
        return render(value, values, syntax=syntax, resolve=resolve)
    if isinstance(value, list):
        return [render_value(v, values, syntax, resolve) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, values, syntax, resolve) for k, v in value.items()}
    return value


def field_syntaxes(model: BaseModel) -> Mapping[str, Syntax]:
    """The fields of `model` whose values are regular expressions or URLs (the others are
    text): substituted values are escaped in them."""
    marked = _marked_fields(type(model))
    dynamic = _dynamic_regex_fields(type(model))
    if dynamic is None:
        return marked
    return {**marked, **dict.fromkeys(dynamic(model), "regex")}


@functools.cache
def _dynamic_regex_fields(model: type[BaseModel]) -> Callable[[BaseModel], Any] | None:
    """A model's own `regex_fields()` method, looked up once per class."""
    method = getattr(model, "regex_fields", None)
    return method if callable(method) else None


@functools.cache
def _marked_fields(model: type[BaseModel]) -> Mapping[str, Syntax]:
    """The fields a model's annotations mark as regular expressions or URLs: the same for
    every instance, so worked out once per class (this runs for every probe of a run)."""
    marked: dict[str, Syntax] = {}
    for name, field in model.model_fields.items():
        marker = _marker(field.metadata) or _marker_in(field.annotation)
        if marker is not None:
            marked[name] = marker.syntax
    return marked


def _marker(metadata: Any) -> _Marker | None:
    return next((m for m in metadata if isinstance(m, _Marker)), None)


def _marker_in(annotation: Any) -> _Marker | None:
    found = _marker(getattr(annotation, "__metadata__", ()))
    if found is not None:
        return found
    return next((m for arg in get_args(annotation) if (m := _marker_in(arg))), None)


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
