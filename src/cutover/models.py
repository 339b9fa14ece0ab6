"""Shared pydantic base and error translation (pydantic `loc` -> YAML file:line:col)."""

from __future__ import annotations

import difflib
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from cutover.errors import ConfigError, Problem
from cutover.yamlio import Document, KeyPath

M = TypeVar("M", bound="Strict")


class Strict(BaseModel):
    """Every file model: unknown keys are errors, values are not coerced between types."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


def all_field_names(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every key any nested model accepts: the vocabulary for "did you mean"."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    names = set(model.model_fields)
    for info in model.model_fields.values():
        for sub in _models_in(info.annotation):
            names |= all_field_names(sub, seen)
    return names


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def validate(model: type[M], doc: Document) -> M:
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        vocabulary = all_field_names(model)
        raise ConfigError([_problem(doc, err, vocabulary) for err in exc.errors()]) from None


def _real_path(data: Any, loc: tuple[Any, ...]) -> KeyPath:
    """Map pydantic's `loc` onto keys present in the data, dropping union-tag elements."""
    path: list[str | int] = []
    for n, part in enumerate(loc):
        last = n == len(loc) - 1
        in_dict = isinstance(data, dict) and part in data
        in_list = isinstance(data, list) and isinstance(part, int) and part < len(data)
        if in_dict or in_list:
            data = data[part]
            path.append(part)
        elif last and isinstance(part, str):
            path.append(part)  # a missing or unknown key: named in the message, no position
    return tuple(path)


def _problem(doc: Document, err: Any, vocabulary: set[str]) -> Problem:
    path = _real_path(doc.data, tuple(err["loc"]))
    kind = err["type"]
    message = err["msg"]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else ""
        close = difflib.get_close_matches(key, sorted(vocabulary), n=1)
        message = f"unknown key {key!r}" + (f" (did you mean {close[0]!r}?)" if close else "")
    elif kind == "missing":
        message = f"missing required key {path[-1]!r}" if path else "missing required key"
    elif kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tag = ctx.get("tag", "")
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        close = difflib.get_close_matches(str(tag), expected, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"unknown probe kind {tag!r}{hint}; known: {', '.join(expected)}"
        path = (*path, "kind")
    elif kind == "union_tag_not_found":
        message = "missing required key 'kind'"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    elif "input" in err and kind not in ("missing",):
        message = f"{message} (got {type(err['input']).__name__} {_short(err['input'])})"
    return doc.problem(path, message)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def first_close(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
