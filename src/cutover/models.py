"""Shared pydantic base and error translation (pydantic `loc` -> YAML file:line:col)."""

from __future__ import annotations

import difflib
from datetime import UTC, datetime
from types import UnionType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError

from cutover.errors import ConfigError, Problem

if TYPE_CHECKING:
    from cutover.yamlio import Document, KeyPath

M = TypeVar("M", bound="Strict")

# Times the tool reads or is given (a checklist's deadlines, `--as-of`) lie in these years: one
# outside them is a typo, and near the ends of the calendar it would overflow in time zone
# arithmetic (9999-12-31T23:00Z is in year 10000 at UTC+07:00).
FIRST_YEAR, LAST_YEAR = 2000, 2100


def within_years(moment: datetime) -> bool:
    """Whether `moment` (aware) falls in FIRST_YEAR-LAST_YEAR, in UTC."""
    try:
        year = moment.astimezone(UTC).year
    except OverflowError:  # past the end of the calendar in UTC
        return False
    return FIRST_YEAR <= year <= LAST_YEAR


class Strict(BaseModel):
    """Every file model: unknown keys are errors, values are not coerced between types.

    Validators and serializers are built on first use (`defer_build`), not at import: a
    command that takes the workspace from its cache (`cutover.workspace_cache`) validates no
    checklist or provinces file, and a check uses only the probe kinds of its steps."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True, defer_build=True)


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


MAX_PROBLEMS = 20  # per file: past that, one line says how many more


def capped(problems: list[Problem], total: int | None = None) -> list[Problem]:
    """The first MAX_PROBLEMS problems and, if there are more (`total`, by default as many
    as given), one line counting the rest."""
    total = len(problems) if total is None else total
    if total <= MAX_PROBLEMS:
        return problems
    more = Problem(problems[0].file, f"... and {total - MAX_PROBLEMS:,} more problems")
    return [*problems[:MAX_PROBLEMS], more]


def validate(model: type[M], doc: Document) -> M:
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        vocabulary = all_field_names(model)
        errors = exc.errors()
        problems = [_problem(doc, err, vocabulary, model) for err in errors[:MAX_PROBLEMS]]
        raise ConfigError(capped(problems, len(errors))) from None
    except RecursionError:
        # A validator recursed without bound: in practice `re.compile` on a pattern with
        # thousands of nested groups.  Point at the most deeply bracketed string.
        path, depth = _most_bracketed(doc.data, ())
        message = f"nested too deeply to check ({depth:,} levels of brackets)"
        raise ConfigError([doc.problem(path, message)]) from None


def _most_bracketed(data: Any, path: KeyPath) -> tuple[KeyPath, int]:
    """The path of the string with the deepest (), [] or {} nesting, and that depth."""
    if isinstance(data, str):
        depth = deepest = 0
        for char in data:
            depth += (char in "([{") - (char in ")]}")
            deepest = max(deepest, depth)
        return path, deepest
    if isinstance(data, dict):
        children: list[tuple[str | int, Any]] = [(str(k), v) for k, v in data.items()]
    elif isinstance(data, list):
        children = list(enumerate(data))
    else:
        return path, 0
    best: tuple[KeyPath, int] = (path, 0)
    for key, value in children:
        found = _most_bracketed(value, (*path, key))
        best = found if found[1] > best[1] else best
    return best


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
        elif part == "[key]":
            continue  # a mapping key that is wrong itself: the path already ends at it
        elif last and isinstance(part, str):
            path.append(part)  # a missing or unknown key: named in the message, no position
    return tuple(path)


def _problem(doc: Document, err: Any, vocabulary: set[str], model: type[BaseModel]) -> Problem:
    path = _real_path(doc.data, tuple(err["loc"]))
    kind = err["type"]
    message = err["msg"]
    if kind == "extra_forbidden":
        key = str(path[-1]) if path else ""
        message = f"unknown key {shown(key)}{_hint(model, tuple(err['loc'][:-1]), key, vocabulary)}"
    elif kind == "missing":
        message = f"missing required key {shown(path[-1])}" if path else "missing required key"
    elif kind == "union_tag_invalid":
        ctx = err.get("ctx", {})
        tag = ctx.get("tag", "")
        expected = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
        close = difflib.get_close_matches(str(tag), expected, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        message = f"unknown probe kind {shown(tag)}{hint}; known: {', '.join(expected)}"
        path = (*path, "kind")
    elif kind == "union_tag_not_found":
        message = "missing required key 'kind'"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    elif "input" in err and kind not in ("missing",):
        message = f"{message} (got {type(err['input']).__name__} {shown(err['input'])})"
    return doc.problem(path, message)


def _hint(root: type[BaseModel], loc: tuple[Any, ...], key: str, vocabulary: set[str]) -> str:
    """The " (did you mean …?)" for an unknown key: a field of the same name one or two levels
    further down (`status` under `verify` is `expect.status`), else the closest key of the
    model the key is in, else the closest key of any model in the file; never the key itself."""
    model = _model_at(root, loc)
    if model is not None:
        nested = _nested_field(model, key)
        if nested:
            return f" (did you mean {nested}?)"
        close = difflib.get_close_matches(key, sorted(set(model.model_fields) - {key}), n=1)
        if close:
            return f" (did you mean {close[0]!r}?)"
    close = difflib.get_close_matches(key, sorted(vocabulary - {key}), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that pydantic's `loc` (without the unknown key) points into, or None."""
    current: Any = root
    for part in loc:
        narrowed = _unwrapped(current, part)
        plain = _unwrapped(current, None)
        current = narrowed
        if narrowed is not plain:
            continue  # `part` was the tag of a tagged union
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(part) if isinstance(part, str) else None
            if field is None:
                return None
            current = field.annotation
        elif get_origin(current) in (list, tuple) and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    current = _unwrapped(current, None)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrapped(annotation: Any, tag: Any) -> Any:
    """`annotation` without Annotated or Optional; a union of models narrowed to the member
    whose `kind` is `tag` (pydantic puts the tag of a tagged union in `loc`)."""
    while True:
        if get_origin(annotation) is Annotated:
            annotation = get_args(annotation)[0]
            continue
        members = [a for a in get_args(annotation) if a is not type(None)]
        if get_origin(annotation) in (Union, UnionType):
            if len(members) == 1:
                annotation = members[0]
                continue
            for member in members:
                field = getattr(member, "model_fields", {}).get("kind")
                if field is not None and tag in get_args(field.annotation):
                    return member
        return annotation


def _nested_field(model: type[BaseModel], key: str, depth: int = 2) -> str | None:
    """`expect.status`: the shortest path to a field named `key` in the models that
    `model`'s fields hold, at most `depth` levels down."""
    level: list[tuple[str, type[BaseModel]]] = [("", model)]
    for _ in range(depth):
        deeper = []
        for prefix, current in level:
            for name, info in current.model_fields.items():
                for sub in _models_in(info.annotation):
                    path = f"{prefix}{name}."
                    if key in sub.model_fields:
                        return path + key
                    deeper.append((path, sub))
        level = deeper
    return None


def shown(value: Any) -> str:
    """A value quoted in a message: its repr, cut to 40 characters."""
    if isinstance(value, str) and len(value) > 40:
        value = value[:40]  # never repr a megabyte to keep 37 characters of it
    text = repr(value) if not isinstance(value, (list, dict)) else _shallow(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _shallow(value: list[Any] | dict[Any, Any]) -> str:
    """repr of a container without walking all of it (it may hold 50,000 values)."""
    items = list(value.items())[:5] if isinstance(value, dict) else value[:5]
    text = repr(dict(items) if isinstance(value, dict) else items)
    return text if len(value) <= 5 else f"{text[:-1]}, ...{text[-1]}"


def first_close(word: str, candidates: list[str]) -> str:
    close = difflib.get_close_matches(word, candidates, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
