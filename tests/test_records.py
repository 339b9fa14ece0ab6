"""`records.quick_init`: the records made per probe and per unit get a faster `__init__` that
builds exactly what the dataclass's own would."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from datetime import UTC, datetime
from typing import Any

import pytest

from cutover.engine import Result
from cutover.geo import Commune
from cutover.probes.base import Outcome
from cutover.probes.fetch import Response
from cutover.probes.web import Request
from cutover.records import quick_init
from cutover.rollup import Evidence, UnitCell
from cutover.store.base import ProbeRow

NOW = datetime(2025, 6, 28, 1, 2, 3, 456789, tzinfo=UTC)
COMMUNE = Commune(code="00004", name="Ba Đình", type="phường")

# Each class with the values of every field, in order.
SAMPLES: list[tuple[type[Any], tuple[Any, ...]]] = [
    (Outcome, ("fail", "expected status 200, got 503", "503", 12.5)),
    (Result, ("01", "sso-test", "", Outcome("pass"), NOW, True)),
    (Response, (200, {"A": "b"}, b"body", "https://x.gov.vn/", 3.2, False)),
    (Request, ("https://x.gov.vn/", {"Authorization": "Basic x"}, False)),
    (ProbeRow, ("01", "s", "00004", "pass", "", "200", NOW, False, 7, "u@h")),
    (Evidence, ("pass", NOW, "", "200", "probe", "u@h", True)),
    (UnitCell, (COMMUNE, "done", "", (), NOW, "probe", None)),
]


def _reference(cls: type[Any], values: tuple[Any, ...]) -> Any:
    """What the dataclass's generated `__init__` of a frozen class does."""
    made = object.__new__(cls)
    for f, value in zip(dataclasses.fields(cls), values, strict=True):
        object.__setattr__(made, f.name, value)
    return made


def _hash(record: Any) -> int | str:
    """The record's hash, or the error hashing it gives (a field that is a dict)."""
    try:
        return hash(record)
    except TypeError as exc:
        return str(exc)


@pytest.mark.parametrize(("cls", "values"), SAMPLES, ids=lambda x: getattr(x, "__name__", ""))
def test_the_quick_init_builds_what_the_dataclass_would(
    cls: type[Any], values: tuple[Any, ...]
) -> None:
    fields = dataclasses.fields(cls)
    reference = _reference(cls, values)
    by_name = {f.name: v for f, v in zip(fields, values, strict=True)}
    for made in (cls(*values), cls(**by_name)):
        assert made == reference and _hash(made) == _hash(reference)
        assert repr(made) == repr(reference)
        assert pickle.loads(pickle.dumps(made)) == made
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(made, fields[0].name, values[0])
    # The same signature: names, order and defaults.
    params = list(inspect.signature(cls).parameters.values())
    assert [p.name for p in params] == [f.name for f in fields]
    assert [p.default for p in params] == [
        inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default for f in fields
    ]
    # Defaults fill in as before.
    required = [f for f in fields if f.default is dataclasses.MISSING]
    if len(required) < len(fields):
        short = cls(*values[: len(required)])
        assert short == _reference(
            cls, (*values[: len(required)], *(f.default for f in fields[len(required) :]))
        )
    with pytest.raises(TypeError):
        cls(*values, "one too many")
    with pytest.raises(TypeError):
        cls(**by_name, unknown=1)
    if required:
        with pytest.raises(TypeError):
            cls()


def test_quick_init_refuses_what_it_cannot_build_the_same() -> None:
    @dataclasses.dataclass(slots=True)
    class Mutable:
        a: int

    @dataclasses.dataclass(frozen=True)
    class Unslotted:
        a: int

    @dataclasses.dataclass(frozen=True, slots=True)
    class Checked:
        a: int

        def __post_init__(self) -> None:
            pass

    @dataclasses.dataclass(frozen=True, slots=True)
    class Factory:
        a: list[int] = dataclasses.field(default_factory=list)

    @dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
    class KeywordOnly:
        a: int

    for cls in (Mutable, Unslotted, Checked, Factory, KeywordOnly, int):
        with pytest.raises(TypeError, match="quick_init"):
            quick_init(cls)
