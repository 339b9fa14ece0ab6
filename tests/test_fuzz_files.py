"""Property: however the shipped checklist is mangled, loading it ends in exit 0 or in exit 2
with `cutover: error:` lines, never an internal error, a traceback or a stray line."""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cutover.checklist import Endpoints, load_checklist, packaged_checklists
from cutover.errors import CutoverError
from cutover.geo import Geography, default_provinces_path, load_geography

SHIPPED = (packaged_checklists() / "cutover-2025-06.yaml").read_bytes()
LINES = SHIPPED.split(b"\n")
PROVINCE_LINES = default_provinces_path()[0].read_bytes().split(b"\n")

CHARS = [*":-[]{}\"'&*!|>#%@`?,. \t\\", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\u2028"]
CHARS += ["\ufeff", "é", "ư", "0", "9", "\r", "\n"]
TAGS = ["!!int ", "!!float ", "!!bool ", "!!timestamp ", "!!str ", "!!null ", "!!map ", "!!seq "]
TAGS += ["!!binary ", "!!set ", "!local ", "!!python/name:os.system ", "!<tag:x> ", "&a ", "*a "]
VALUES = [
    "9" * 5000,
    "-" + "1" * 150,
    "2025-02-30",
    "2025-06-31T12:00:00+07:00",
    "2025-06-28T13:00:00+99:00",
    "0000-01-01",
    "~",
    ".nan",
    "-.inf",
    "0x1F",
    "1_000",
    "1:20:30",
    "yes",
    "''",
    "[]",
    "{}",
    "[" * 300,
    "- " * 300 + "x",
    "*undefined",
    "&x [*x]",
    "<<: {a: 1}",
    '"\\x00\\x1b]0;t\\x07"',
    "${env:SECRET}",
    "https://u:p@host/?token=abc",
    "{endpoint.nope}",
    "{province.nope}",
    "{commune.code}",
    "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z",
    "---",
    "...",
    "%YAML 1.1",
    "? [a]",
    "99999999999999999w",
    "-1",
    "1e400",
    "18446744073709551616",
    '"' + "(" * 3000 + ")" * 3000 + '"',
    '"' + "a" * 5000 + '"',
    "Asia",
    "[1, [2, [3]]]",
    "{kind: nope}",
    "{kind: http}",
    "{kind: codes, url: x, pattern: '['}",
    "[s0, s0, self]",
]


def _apply(lines: list[bytes], op: tuple[str, int, int, bytes]) -> list[bytes]:
    kind, i, j, text = op
    n = len(lines)
    if n == 0:
        return [text]
    i, j = i % n, j % n
    out = list(lines)
    if kind == "delete":
        del out[i]
    elif kind == "duplicate":
        out.insert(i, out[i])
    elif kind == "swap":
        out[i], out[j] = out[j], out[i]
    elif kind == "indent":
        out[i] = b" " * (j % 5) + out[i].lstrip(b" ")
    elif kind == "char":
        line = out[i]
        k = j % (len(line) + 1)
        out[i] = line[:k] + text + line[k + 1 :]
    elif kind == "tag":
        line = out[i]
        k = line.find(b": ")
        out[i] = line[: k + 2] + text + line[k + 2 :] if k >= 0 else text + line
    elif kind == "value":
        line = out[i]
        k = line.find(b": ")
        out[i] = line[: k + 2] + text if k >= 0 else line + text
    elif kind == "insert":
        out.insert(i, b" " * (j % 7) + text)
    return out


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


ops = st.one_of(
    st.tuples(
        st.sampled_from(["delete", "duplicate", "swap", "indent"]),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
        st.just(b""),
    ),
    st.tuples(
        st.just("char"), st.integers(0, 10_000), st.integers(0, 200), st.sampled_from(CHARS)
    ).map(lambda t: (t[0], t[1], t[2], _encode(t[3]))),
    st.tuples(st.just("tag"), st.integers(0, 10_000), st.just(0), st.sampled_from(TAGS)).map(
        lambda t: (t[0], t[1], t[2], _encode(t[3]))
    ),
    st.tuples(
        st.sampled_from(["value", "insert"]),
        st.integers(0, 10_000),
        st.integers(0, 10),
        st.sampled_from(VALUES) | st.text(max_size=20),
    ).map(lambda t: (t[0], t[1], t[2], _encode(t[3]))),
)


@st.composite
def mangled(draw: st.DrawFn, source: list[bytes] = LINES) -> bytes:
    lines = source
    for op in draw(st.lists(ops, min_size=1, max_size=4)):
        lines = _apply(lines, op)
    data = b"\n".join(lines)
    cut = draw(st.none() | st.integers(0, len(data)))
    data = data if cut is None else data[:cut]
    if draw(st.integers(0, 9)) == 0:  # now and then, bytes that are not UTF-8 at all
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + data[at:]
    return data


def _cli(*args: str) -> tuple[int, list[str], str]:
    """`cutover ARGS` in-process (as the console script runs it): code, stderr lines, stdout."""
    from cutover.cli import main

    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["cutover", *args]
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = argv
    return code, err.getvalue().splitlines(), out.getvalue()


@pytest.fixture(scope="module")
def geo() -> Geography:
    return load_geography()


@pytest.fixture(scope="module", autouse=True)
def _no_overlay_no_colour() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CUTOVER_ENDPOINTS", raising=False)
        patch.setenv("NO_COLOR", "1")
        yield


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(data=mangled())
def test_mangled_checklist_is_ok_or_one_line_per_problem(
    data: bytes,
    geo: Geography,
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mangled.yaml"
        path.write_bytes(data)
        code, err, out = _cli("validate", str(path))
        assert code in (0, 2), err
        for line in err:
            assert line.startswith(("cutover: error: ", "cutover: warning: ")), err
            assert "internal error" not in line and "Traceback" not in line
        if code == 2:
            assert any(line.startswith("cutover: error: ") for line in err)
        else:
            assert out.startswith("ok ")
        # The loader `check`, `matrix`, `mark`… call: the same verdict, as an exception.
        try:
            load_checklist(str(path), geo, Endpoints(geo))
        except CutoverError as exc:
            assert exc.exit_code == 2
            assert all("\n" not in line and "\r" not in line for line in exc.lines())
            loaded = False
        else:
            loaded = True
        assert loaded == (code == 0), err


@settings(
    max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=mangled(PROVINCE_LINES))
def test_mangled_provinces_file_is_ok_or_one_line_per_problem(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "provinces.yaml"
        path.write_bytes(data)
        code, err, _ = _cli("provinces", "--provinces", str(path))
        assert code in (0, 2), err
        assert all(line.startswith("cutover: error: ") for line in err), err
        try:
            load_geography(path)
        except CutoverError as exc:
            assert exc.exit_code == 2
            loaded = False
        else:
            loaded = True
        assert loaded == (code == 0), err
