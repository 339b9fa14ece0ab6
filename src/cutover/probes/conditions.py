"""The declarative condition vocabulary: status, headers, body text/regex, JSON paths, time.

Each failure says expected vs actual in one line.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, model_validator

from cutover import templates
from cutover.models import Strict
from cutover.probes.base import Outcome, Undecided
from cutover.probes.fetch import Response

Op = Literal["==", "!=", ">=", "<=", ">", "<", "contains", "matches", "exists"]
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        except (RecursionError, OverflowError):
            raise ValueError("regular expression nested too deeply") from None
    return value


# A regular expression; a template value substituted into it is escaped (matched literally).
Regex = Annotated[str, AfterValidator(check_regex), templates.REGEX]


def lookup(data: Any, path: str) -> Any:
    """`items[0].status` in parsed JSON; `$` or '' is the whole document. KeyError if absent."""
    path = path.removeprefix("$").removeprefix(".")
    for name, index in _PATH_PART.findall(path):
        if name:
            if not isinstance(data, dict) or name not in data:
                raise KeyError(path)
            data = data[name]
        else:
            if not isinstance(data, list) or int(index) >= len(data):
                raise KeyError(path)
            data = data[int(index)]
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def same(actual: Any, expected: Any) -> bool:
    """JSON equality where true is not 1 and false is not 0 (Python says they are)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    a, e = _number(actual), _number(expected)
    if a is not None and e is not None:
        return a == e
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(actual, dict) and isinstance(expected, dict):
        keys = actual.keys()
        return keys == expected.keys() and all(same(actual[k], expected[k]) for k in keys)
    return bool(actual == expected)


_ORDER = {
    ">=": lambda x, y: x >= y,
    "<=": lambda x, y: x <= y,
    ">": lambda x, y: x > y,
    "<": lambda x, y: x < y,
}


def compare(actual: Any, op: Op, expected: Any) -> bool:
    if op == "exists":
        return True
    if op == "contains":
        if isinstance(actual, list):
            return any(same(item, expected) for item in actual)
        return isinstance(actual, (str, dict)) and isinstance(expected, str) and expected in actual
    if op == "matches":
        return re.search(str(expected), str(actual)) is not None
    if op in ("==", "!="):
        return same(actual, expected) == (op == "==")
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False  # true is not greater than 0
    a, e = _number(actual), _number(expected)
    pair: tuple[Any, Any] = (a, e) if a is not None and e is not None else (actual, expected)
    try:
        return bool(_ORDER[op](*pair))
    except TypeError:
        return False


def show(value: Any) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 60 else text[:57] + "..."


class JsonCheck(Strict):
    path: str
    op: Op = "=="
    value: Any = None
    length: bool = False  # compare the length of the list/object at `path`

    @model_validator(mode="after")
    def _pattern(self) -> JsonCheck:
        if self.op == "matches":
            if not isinstance(self.value, str):
                raise ValueError("op matches needs a regular expression as value")
            check_regex(self.value)
        return self

    def regex_fields(self) -> set[str]:
        """Fields that hold a regular expression (templates substitute escaped values)."""
        return {"value"} if self.op == "matches" else set()

    def evaluate(self, document: Any) -> str | None:
        try:
            actual = lookup(document, self.path)
        except KeyError:
            return f"JSON path {self.path} missing"
        if self.length:
            if not isinstance(actual, (list, dict, str)):
                return f"JSON path {self.path} is {type(actual).__name__}, expected a list"
            actual = len(actual)
        if compare(actual, self.op, self.value):
            return None
        what = f"len({self.path})" if self.length else self.path
        return f"expected {what} {self.op} {show(self.value)}, got {show(actual)}"


class Expect(Strict):
    status: int | list[int] = 200
    headers: dict[str, Regex] = {}
    body_contains: str | None = None
    body_not_contains: str | None = None
    body_regex: Regex | None = None
    json_checks: list[JsonCheck] = Field(default=[], alias="json")
    max_ms: float | None = Field(default=None, gt=0)

    @property
    def statuses(self) -> list[int]:
        return [self.status] if isinstance(self.status, int) else self.status

    def evaluate(self, resp: Response) -> Outcome:
        # Once per probe: the common expectation (a status, nothing else) takes the short way.
        status, wanted = resp.status, self.status
        if status != wanted if isinstance(wanted, int) else status not in wanted:
            want = " or ".join(map(str, self.statuses))
            return Outcome.fail(f"{resp.url}: expected status {want}, got {status}", status)
        for name, pattern in self.headers.items():
            value = resp.headers.get(name)
            if value is None or not re.search(pattern, value):
                return Outcome.fail(f"expected header {name} matching {pattern!r}, got {value!r}")
        if (
            self.body_contains is not None
            or self.body_not_contains is not None
            or self.body_regex is not None
            or self.json_checks
        ):
            for problem in self._body_problems(resp):
                return Outcome.fail(problem)
        if self.max_ms is not None and resp.elapsed_ms > self.max_ms:
            return Outcome.fail(
                f"expected response within {self.max_ms:g} ms, took {resp.elapsed_ms:.0f} ms",
                f"{resp.elapsed_ms:.0f}ms",
            )
        return Outcome.ok(status)

    def _body_problems(self, resp: Response) -> list[str]:
        problems = []
        if self.body_contains is not None and self.body_contains not in resp.text():
            problems.append(f"expected body to contain {self.body_contains!r}, it does not")
        if self.body_not_contains is not None and self.body_not_contains in resp.text():
            problems.append(f"expected body not to contain {self.body_not_contains!r}, it does")
        if self.body_regex is not None and not re.search(self.body_regex, resp.text()):
            problems.append(f"expected body matching {self.body_regex!r}, no match")
        if self.json_checks:
            document = resp.json()
            problems += [p for c in self.json_checks if (p := c.evaluate(document))]
        return problems


__all__ = ["Expect", "JsonCheck", "Regex", "Undecided", "compare", "lookup", "same"]
