"""The terminal table and `check` output fit the terminal they run on (issue 10): goldens at 80
and 120 columns through `COLUMNS`, any width and any number of steps without a line too wide
or a text cut, and `check` grouped by province with its totals, verdict and missing communes."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from rich.cells import cell_len
from test_render import check_golden

from cutover.render import check_view, get
from cutover.render.base import RenderOptions, province_name, title
from cutover.rollup import Matrix

ICT = ZoneInfo("Asia/Ho_Chi_Minh")
AS_OF = "2025-06-28T13:00+07:00"


@pytest.fixture
def attested_demo(demo_copy: Path) -> Path:
    """The demo store and one person's attestation (Hai Phong's commune plans, 23 June)."""
    from cutover.store.base import AttestationRecord, open_store

    store = open_store(demo_copy, environ={})
    store.add_attestation(
        AttestationRecord(
            "31", "commune-plans", "", "pass", "Nguyễn Văn A",
            datetime(2025, 6, 23, 9, 0, tzinfo=ICT), "https://haiphong.gov.vn/ke-hoach",
            note="114 plans received",
        )
    )  # fmt: skip
    store.close()
    return demo_copy


@pytest.mark.parametrize(("columns", "lang"), [(80, "en"), (120, "en"), (80, "vi")])
def test_matrix_golden_at_the_terminals_width(  # type: ignore[no-untyped-def]
    cli, monkeypatch, attested_demo: Path, elsewhere: Path, columns: int, lang: str
) -> None:
    """The default matrix, all 17 steps, laid out for COLUMNS."""
    monkeypatch.setenv("COLUMNS", str(columns))
    result = cli("matrix", "--db", str(attested_demo), "--as-of", AS_OF, "--lang", lang)
    assert result.code == 1 and result.err == ""
    lines = result.lines
    assert max(cell_len(line) for line in lines) <= columns
    assert "…" not in result.out
    hai_phong = next(line for line in lines if line.startswith("31 "))
    assert "✓*" in hai_phong  # the attested cell, marked
    check_golden(f"matrix.{columns}.{lang}.txt", result.out)


def _flat(text: str) -> str:
    return " ".join(text.split())


def _demo_matrix(demo_db: Path, provinces: list[str] | None, steps: list[str] | None) -> Matrix:
    from cutover import service
    from cutover.checklist import Overlay
    from cutover.store.base import open_store

    store = open_store(demo_db, environ={}, create=False)
    ctx = service.prepare(service.Selection(provinces, steps), Overlay())
    matrix = service.stored_matrix(ctx, store, datetime.fromisoformat(AS_OF))
    store.close()
    return matrix


SELECTIONS = {
    "34 provinces, 17 steps": (None, None),
    "1 province, 17 steps": (["31"], None),
    "2 provinces, 17 steps": (["31", "79"], None),
    "34 provinces, 1 step": (None, ["online-filing-test"]),
}


@pytest.mark.parametrize("width", [30, 40, 60, 80, 100, 132, 200])
@pytest.mark.parametrize("selection", list(SELECTIONS))
def test_table_fits_any_width_and_cuts_nothing(demo_db: Path, width: int, selection: str) -> None:
    matrix = _demo_matrix(demo_db, *SELECTIONS[selection])
    for lang in ("vi", "en"):
        out = str(get("table")(matrix, RenderOptions(lang=lang, width=width)))  # type: ignore[arg-type]
        lines = out.splitlines()
        assert max(cell_len(line) for line in lines) <= width, (lang, width)
        assert "…" not in out
        flat = _flat(out)
        for p in matrix.provinces:  # every name whole (it may wrap, never cut)
            assert _flat(f"{p.code} {province_name(p, lang, short=True)}") in flat or (
                _flat(province_name(p, lang)) in flat
            )
        for step in matrix.steps:  # every title whole, in the key or as a row
            assert _flat(title(step, lang)) in flat, (step.id, lang, width)


def test_narrow_terminals_get_a_transposed_or_split_table(demo_db: Path) -> None:
    one = str(get("table")(_demo_matrix(demo_db, ["31"], None), RenderOptions(lang="en", width=40)))
    # One province, 17 steps, 40 columns: steps become rows, with their titles.
    assert re.search(r"^ 1 Communes issue", one, re.M) and "17 Issue, amend" in one
    assert "31 Thành phố Hải Phòng" not in one and "31 Hai Phong" in one
    every = str(get("table")(_demo_matrix(demo_db, None, None), RenderOptions(lang="en", width=60)))
    # 34 provinces, 17 steps, 60 columns: split into blocks of steps, each with every province.
    assert sum(1 for line in every.splitlines() if line.startswith("31 Hai Phong")) >= 2


def test_check_lists_what_is_not_done_grouped_and_wrapped(demo_db: Path) -> None:
    matrix = _demo_matrix(demo_db, None, None)
    options = RenderOptions(lang="en", width=80)
    default = check_view.render(matrix, options, communes=False)
    every = check_view.render(matrix, options, all_cells=True, communes=False)
    assert max(cell_len(line) for line in every.splitlines()) <= 80
    # Only cells not done by default; every applicable cell with --all-cells.
    assert "✓ done" not in default and "✓ done" in every
    applicable = sum(1 for c in matrix.cells.values() if c.status != "n/a")
    assert len(re.findall(r"^ {6}[✓✗?·!‼↓~W–] ", every, re.M)) == applicable
    # Grouped by province, each heading once, in order.
    headings = re.findall(r"^(\d\d) .*: \d+ of \d+ not done$", every, re.M)
    assert headings == [p.code for p in matrix.provinces]
    # An owner that does not fit beside the status gets a line of its own, whole.
    lines = default.splitlines()
    assert "      owner: Provincial Department of Science and Technology" in lines
    assert "      ‼ overdue · due 27/06 23:59" in lines
    # It ends with the totals row and a one-line verdict.
    # (The breakdown by status is dropped when the verdict would not fit in 80 columns.)
    assert lines[-1] == "Not ready: 331 of 545 cells are not done in 34 provinces."
    wide = check_view.render(matrix, RenderOptions(lang="en", width=120), communes=False)
    assert wide.splitlines()[-1] == (
        "Not ready: 331 of 545 cells are not done (170 overdue, 59 at risk, 102 pending) in 34 "
        "provinces."
    )
    # The totals row under the step numbers, split in two at 80 columns.
    assert lines[-5].split() == [str(n) for n in range(1, 15)]
    assert lines[-4].split()[:7] == ["done", "0/34", "0/34", "0/34", "0/34", "0/34", "34/34"]
    assert lines[-3].split() == ["15", "16", "17"] and lines[-2] == "done 0/34 0/34 0/34"


def test_check_view_ready(demo_db: Path) -> None:
    matrix = _demo_matrix(demo_db, ["01"], ["unit-declaration", "portal-closure"])
    out = check_view.render(matrix, RenderOptions(lang="vi", width=80))
    assert out.splitlines()[-1] == "Sẵn sàng: cả 2 ô đều hoàn thành."
    assert out.startswith("Hoàn thành mọi nhiệm vụ (1): 01 Thành phố Hà Nội")
