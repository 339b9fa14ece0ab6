"""The HTML report as a document (issue 10): printed to PDF by headless Chromium, its first A4
landscape page holds the whole table with its key, the reasons are in the text, the escalation
list is sorted by urgency, the chart projects each step's completion and warns when that is
after the deadline, and the status colours stay apart for colour-blind readers and in grey."""

from __future__ import annotations

import itertools
import re
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from test_render import _tool

from cutover.forecast import forecast
from cutover.render import get
from cutover.render.base import RenderOptions, title
from cutover.render.palette import COLOURS, PATTERNS
from cutover.render.report import ESCALATE, build
from cutover.rollup import Matrix

ICT = ZoneInfo("Asia/Ho_Chi_Minh")
AS_OF = datetime(2025, 6, 28, 13, 0, tzinfo=ICT)


@pytest.fixture(scope="module")
def full(demo_db: Path) -> tuple[Matrix, dict[str, Any]]:
    """Every step of the checklist (17 columns, the widest table) from the demo store."""
    from cutover import service
    from cutover.checklist import Overlay
    from cutover.cli.views import store_context
    from cutover.store.base import open_store

    store = open_store(demo_db, environ={}, create=False)
    ctx = service.prepare(service.Selection(), Overlay())
    matrix = service.stored_matrix(ctx, store, AS_OF)
    context = store_context(matrix, store, ["html"])
    store.close()
    return matrix, context


def _flat(text: str) -> str:
    return " ".join(text.split())


def _pdf(html: str, tmp_path: Path) -> Path:
    page, pdf = tmp_path / "report.html", tmp_path / "report.pdf"
    page.write_text(html, encoding="utf-8")
    run = subprocess.run(
        [
            _tool("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}", "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}", page.as_uri(),
        ],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert run.returncode == 0 and pdf.exists(), run.stderr[-2000:]
    return pdf


def _pdftotext(pdf: Path, *pages: int) -> str:
    where = ["-f", str(pages[0]), "-l", str(pages[-1])] if pages else []
    run = subprocess.run(
        [_tool("pdftotext"), *where, str(pdf), "-"], capture_output=True, text=True, check=True
    )
    return run.stdout


def test_printed_to_pdf_the_key_and_the_reasons_are_on_paper(full, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    matrix, context = full
    html = str(get("html")(matrix, RenderOptions(lang="vi", **context)))
    pdf = _pdf(html, tmp_path)
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True)
    assert re.search(r"Page size:\s+841\.\d+ x 59[45]\.\d+ pts \(A4\)", info.stdout)  # landscape
    first = _flat(_pdftotext(pdf, 1))
    # The first page holds the whole 34-row table, its totals, the key and the legend.
    for p in matrix.provinces:
        assert f"{p.code} {p.spec.name}" in first
    assert "Hoàn thành 0/34" in first and "Chú thích" in first
    for step in matrix.steps:
        assert _flat(title(step, "vi")) in first, step.id
    assert "quá hạn: chưa hoàn thành, đã quá hạn" in first
    # Every reason is on paper, not in a tooltip: who is behind, and what is missing.
    text = _flat(_pdftotext(pdf))
    assert "0 valid codes published, expected 114; đến hạn" in text
    assert "expected unprocessed == 0, got 3; đến hạn" in text
    assert "chưa có xác nhận; quá hạn 4 ngày" in text
    assert "Địa phương chậm tiến độ, khẩn cấp nhất trước" in text
    assert "Những việc còn thiếu, theo từng nhiệm vụ" in text
    # And the communes missing per province, linked from the commune-level cells.
    assert "Phường Hồng Bàng" in text and "title=" not in html


def test_escalation_list_is_sorted_by_urgency(full) -> None:  # type: ignore[no-untyped-def]
    matrix, context = full
    report = build(matrix, RenderOptions(lang="en", **context))
    statuses = [e.cell.status for e in report.escalation]
    assert statuses == sorted(statuses, key=ESCALATE.index)
    assert statuses[0] == "overdue" and statuses[-1] == "at-risk"  # no regressed, failing here
    first = report.escalation[0]
    assert (first.province, first.step.number, first.step.owner, first.step.due) == (
        "01 Hanoi", "1", "Commune People's Committees", "23:59 23/06/2025",
    )  # fmt: skip
    expected = sum(1 for c in matrix.cells.values() if c.status in ESCALATE)
    assert len(report.escalation) == expected == 229
    html = str(get("html")(matrix, RenderOptions(lang="en", **context)))
    assert 'href="#communes-31-online-filing-test"' in html
    section = html.split('id="communes-31-online-filing-test"')[1].split("</section>")[0]
    assert section.count("<tr>") == 1 + 27  # the heading row and Hai Phong's 27 communes
    assert "Phường Hồng Bàng" in section


# --- the chart: done counts over time and the projected completion ---------------------------


def _series(counts: list[int], start: datetime, step: timedelta) -> list[tuple[datetime, int]]:
    return [(start + i * step, n) for i, n in enumerate(counts)]


def test_forecast() -> None:
    due = AS_OF
    start = AS_OF - timedelta(hours=10)
    hour = timedelta(hours=1)
    early = forecast(_series([10, 14, 18, 22], start, hour), 34, due, start + 3 * hour)
    assert early.outlook == "projected" and early.at == start + 6 * hour and not early.late
    late = forecast(_series([2, 3, 4, 5], start, hour), 34, due, start + 3 * hour)
    assert late.outlook == "projected" and late.late
    assert late.at == start + 3 * hour + timedelta(hours=29)
    assert forecast(_series([5, 5, 5], start, hour), 34, due, start).outlook == "no-progress"
    assert forecast(_series([5], start, hour), 34, due, start).outlook == "too-few"
    assert forecast(_series([30, 34], start, hour), 34, due, start).outlook == "complete"
    # The trend is the recent one: a fast start long ago does not promise anything now.
    slow = forecast(_series([0, 20, 30, *([31] * 12)], start, hour), 34, due, start)
    assert slow.outlook == "no-progress"


def test_chart_projects_completion_and_warns_when_late(full) -> None:  # type: ignore[no-untyped-def]
    matrix, _ = full
    start = AS_OF - timedelta(hours=6)
    ids = [s.id for s in matrix.steps]
    series = tuple(
        (start + timedelta(hours=i), {**dict.fromkeys(ids, 0), "sso-test": 26 + 2 * i,
                                      "online-filing-test": 2 + i})
        for i in range(4)
    )  # fmt: skip
    html = str(get("html")(matrix, RenderOptions(lang="en", series=series, width=None)))
    panels = html.split('<figure class="panel">')[1:]
    assert len(panels) == len(matrix.steps)
    sso = next(p for p in panels if "Test single sign-on" in p)
    filing = next(p for p in panels if "Test online filing" in p)
    assert "Projected complete at 28/06 11:00, before the deadline (28/06 13:00)." in sso
    assert 'class="warn"' not in sso and 'stroke-dasharray="5 3"' in sso
    assert "⚠ Projected complete at 29/06 15:00, after the deadline (28/06 13:00)." in filing
    assert 'class="warn"' in filing
    vi = str(get("html")(matrix, RenderOptions(lang="vi", series=series)))
    assert "Dự báo hoàn thành lúc 29/06 15:00, sau thời hạn (28/06 13:00)." in vi
    # The chart's colours are its own: no status colour draws a line.
    lines = set(re.findall(r'stroke="(#[0-9A-Fa-f]{6})"', html))
    assert lines and not lines & {c.upper() for c in COLOURS.values()}


# --- colours: apart under colour-vision deficiency and in greyscale -------------------------

# Machado, Oliveira and Fernandes (2009), severity 1.0, applied to linear RGB.
CVD = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216],
                   [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413],
                     [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602],
                   [0.004733, 0.691367, 0.303900]],
}  # fmt: skip


def _linear(colour: str) -> list[float]:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    return [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]


def _lab(rgb: list[float]) -> tuple[float, float, float]:
    x = (0.4124 * rgb[0] + 0.3576 * rgb[1] + 0.1805 * rgb[2]) / 0.95047
    y = 0.2126 * rgb[0] + 0.7152 * rgb[1] + 0.0722 * rgb[2]
    z = (0.0193 * rgb[0] + 0.1192 * rgb[1] + 0.9505 * rgb[2]) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


@pytest.mark.parametrize("vision", ["typical", *CVD])
def test_status_colours_stay_apart_for_colour_blind_readers(vision: str) -> None:
    def seen(colour: str) -> tuple[float, float, float]:
        rgb = _linear(colour)
        if vision in CVD:
            m = CVD[vision]
            rgb = [min(max(sum(m[r][k] * rgb[k] for k in range(3)), 0.0), 1.0) for r in range(3)]
        return _lab(rgb)

    for a, b in itertools.combinations(COLOURS, 2):
        distance = sum(
            (p - q) ** 2 for p, q in zip(seen(COLOURS[a]), seen(COLOURS[b]), strict=True)
        )
        assert distance**0.5 >= 10, (vision, a, b)  # CIE76 ΔE: clearly different


def test_status_colours_stay_apart_in_greyscale() -> None:
    lightness = {s: _lab(_linear(c))[0] for s, c in COLOURS.items()}
    for a, b in itertools.combinations(COLOURS, 2):
        assert abs(lightness[a] - lightness[b]) >= 5 or a in PATTERNS or b in PATTERNS, (a, b)
    # The statuses that call for action differ from done and from each other in lightness.
    urgent = ["overdue", "regressed", "at-risk", "failing", "done"]
    for a, b in itertools.combinations(urgent, 2):
        assert abs(lightness[a] - lightness[b]) >= 5, (a, b)
