"""Every bad file in tests/bad gives exactly the expected one-line error and exit code 2."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

from cutover import yamlio
from cutover.errors import ConfigError

BAD = Path(__file__).parent / "bad"

EXPECTED = {
    "bad-scheme.yaml": "12:26: steps[0].verify.url: URL scheme must be http or https, got 'ftp'",
    "billion-laughs.yaml": "values (alias expansion?)",
    # a clear written in both languages is a {vi, en} mapping like a title, both halves given
    "clear-empty.yaml": "9:56: steps[0].responsible.en: String should have at least 1 character "
    "(got str '')",
    "clear-list.yaml": "7:5: steps[0].owner: expected text or a mapping {vi: …, en: …} "
    "(got list ['Sở Tài chính', 'Department of Finan...)",
    "clear-missing-en.yaml": "8:5: steps[0].task.en: missing required key 'en'",
    "clear-unknown-key.yaml": "14:7: steps[0].authority.fr: unknown key 'fr'",
    "depends-cycle.yaml": "17:5: steps[1].depends_on: dependency cycle: one -> two -> one",
    "depends-missing.yaml": "13:18: steps[0].depends_on[0]: depends on unknown step 'zero'",
    "due-no-offset.yaml": "6:5: steps[0].due: 2025-06-28T13:00:00 has no UTC offset; "
    "write e.g. 2025-06-28T13:00:00+07:00",
    "due-not-date.yaml": "6:5: steps[0].due: not an ISO 8601 date-time: 'next tuesday'",
    "duplicate-key.yaml": "2:1: id: duplicate key 'id' (first at line 1)",
    "duplicate-step.yaml": "13:5: steps[1].id: duplicate step id 'one' (also steps[0])",
    "empty.yaml": ": file is empty",
    "missing-field.yaml": "4:5: steps[0].title: missing required key 'title'",
    "not-utf8.yaml": ":3: not UTF-8 (byte 0xff at offset 43)",
    "python-tag.yaml": "2:8: title: YAML tag !!python/object/apply:os.system is not allowed",
    "syntax.yaml": "3:6: title: invalid YAML: did not find expected ',' or '}'",
    "tabs.yaml": "4:1: tab character in indentation; use spaces",
    "unknown-endpoint.yaml": "12:26: steps[0].verify.url: template names unknown endpoint 'portl' "
    "(did you mean 'portal'?); known: edoc, national, portal, procedures, sso",
    "unknown-key.yaml": "13:5: steps[0].ownr: unknown key 'ownr' (did you mean 'owner'?)",
    "unknown-probe.yaml": "12:14: steps[0].verify.kind: unknown probe kind 'htp' (did you mean "
    "'http'?); known: http, redirect, oidc, tls, count, codes, tcp, dns, command, manual",
    "unknown-province.yaml": "13:18: steps[0].applies_to[0]: unknown province code '99'",
    "wrong-type.yaml": "13:5: steps[0].level: Input should be 'province' or 'commune' (got int 3)",
    # hostile files (issue 8): each one located line, never an internal error
    "control-char.yaml": "8:16: steps[0].task: control character U+001B is not allowed in YAML",
    "control-nul.yaml": "9:19: steps[0].responsible: control character U+0000 "
    "is not allowed in YAML",
    "deep-block.yaml": "3:199: title[0][0][0][0][0][0][0]…: nested deeper than 100 levels",
    "deep-flow.yaml": "2:107: title[0][0][0][0][0][0][0]…: nested deeper than 100 levels",
    "deep-keys.yaml": "3:201: title: nested deeper than 100 levels",
    "huge-int.yaml": "8:16: steps[0].freshness: a number of 5,000 digits is too long "
    "(at most 100); quote it if it is text",
    "impossible-date.yaml": "6:10: steps[0].due: impossible date '2025-02-30': "
    "day is out of range for month",
    "impossible-datetime.yaml": "6:10: steps[0].due: impossible date "
    "'2025-06-31T12:00:00+07:00': day is out of range for month",
    "tag-bool.yaml": "7:12: steps[0].owner: !!bool value 'maybe' is not true or false",
    "tag-float.yaml": "7:12: steps[0].owner: !!float value 'x' is not a number",
    "tag-int.yaml": "7:12: steps[0].owner: !!int value 'x' is not an integer",
    "tag-timestamp.yaml": "6:10: steps[0].due: !!timestamp value 'x' is not a date or date-time",
}


def test_corpus_is_complete() -> None:
    assert sorted(p.name for p in BAD.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_file_one_line_exit_2(name: str, cli, in_root: Path) -> None:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = cli("validate", f"tests/bad/{name}")
    assert time.perf_counter() - start < 2
    assert result.code == 2
    assert result.out == ""
    assert len(result.err_lines) == 1, result.err
    assert result.err_lines[0].startswith(f"cutover: error: tests/bad/{name}:")
    assert result.err_lines[0].endswith(EXPECTED[name]), result.err_lines[0]


def test_fifty_megabytes_refused_without_reading(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    big = tmp_path / "big.yaml"
    with big.open("wb") as f:
        f.truncate(50 * 1024 * 1024)
    tracemalloc.start()
    result = cli("validate", str(big))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.code == 2
    assert result.err.strip() == f"cutover: error: {big}: file is 52.4 MB, over the 5 MB limit"
    assert peak < 20 * 1024 * 1024


def test_billion_laughs_bounded_memory() -> None:
    tracemalloc.start()
    with pytest.raises(ConfigError):
        yamlio.load_file(BAD / "billion-laughs.yaml")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 100 * 1024 * 1024


def test_marks_point_at_keys() -> None:
    doc = yamlio.load_text("a:\n  b: [1, {c: 2}]\n", "x.yaml")
    assert doc.marks[("a", "b")] == (2, 3)
    assert doc.marks[("a", "b", 1, "c")] == (2, 11)
    assert doc.locate(("a", "b", 1, "zz")) == (2, 10)


def test_several_problems_each_on_a_line(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "two.yaml"
    f.write_text(
        "id: x\ntitle: {vi: a, en: b}\nsteps:\n  - id: a\n    title: {vi: a, en: b}\n"
        "    due: 2025-06-28T13:00:00\n    verify: {kind: manual}\n    colour: red\n",
        encoding="utf-8",
    )
    result = cli("validate", str(f))
    assert result.code == 2
    assert result.err_lines == [
        f"cutover: error: {f}:6:5: steps[0].due: 2025-06-28T13:00:00 has no UTC offset; "
        "write e.g. 2025-06-28T13:00:00+07:00",
        f"cutover: error: {f}:8:5: steps[0].colour: unknown key 'colour'",
    ]


def test_libyamls_own_depth_limit_gives_the_same_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyYAML 6.0.4's libyaml refuses nesting past 1,000 levels while it scans ahead, before
    our limit of 100 is reached; the file is then read by PyYAML's Python parser, and the
    problem named is ours, where it was before (here libyaml's refusal is provoked at the
    first event, whatever PyYAML version is installed)."""
    import yaml

    class Refusing(yamlio.Loader):  # type: ignore[misc,valid-type]
        def get_event(self) -> yaml.Event:
            mark = yaml.Mark("<unicode string>", 0, 1, 1002, None, None)
            raise yaml.scanner.ScannerError(
                "while increasing flow level", mark, "exceeded maximum nesting depth", mark
            )

    monkeypatch.setattr(yamlio, "Loader", Refusing)
    text = "id: x\ntitle: " + "[" * 1_500 + "]" * 1_500 + "\n"
    with pytest.raises(ConfigError) as caught:
        yamlio.load_text(text, "deep.yaml")
    (problem,) = caught.value.problems
    assert (problem.line, problem.column) == (2, 107)
    assert problem.message == "nested deeper than 100 levels", problem
