"""One self-contained HTML file: heat map, progress bars, done-over-time chart, the overdue
and regressed list.  Inline CSS and SVG only (a CSP forbids any fetch, script, base URL or form
target); every string from data or people goes through `text.html_text`, in element content and
attribute values alike."""

from __future__ import annotations

from datetime import datetime

from cutover.render.base import (
    SYMBOL,
    RenderOptions,
    abbreviations,
    insecure_note,
    local,
    silent_legend,
    silent_mark,
    silent_note,
    title,
)
from cutover.render.text import html_text
from cutover.rollup import Matrix

COLOURS = {
    "done": "#1a7f37",
    "failing": "#cf222e",
    "unknown": "#8250df",
    "pending": "#d0d7de",
    "at-risk": "#d4a72c",
    "overdue": "#82071e",
    "regressed": "#a40e26",
    "stale": "#0a8a8a",
    "waived": "#0969da",
    "n/a": "#f6f8fa",
}
LINE_COLOURS = [
    "#0969da",
    "#1a7f37",
    "#cf222e",
    "#8250df",
    "#d4a72c",
    "#0a8a8a",
    "#bc4c00",
    "#57606a",
    "#a40e26",
    "#116329",
]
WORDS = {
    "en": {
        "as_of": "As of",
        "province": "Province",
        "done": "Done",
        "progress": "Progress by step",
        "over_time": "Provinces done over time",
        "attention": "Overdue and regressed",
        "step": "Step",
        "status": "Status",
        "owner": "Owner",
        "reason": "Reason",
        "none": "Nothing overdue or regressed.",
        "one_point": "Only one evaluation recorded so far.",
        "checklist": "Checklist",
        "matrix": "Readiness matrix",
        "insecure": "TLS verification off",
    },
    "vi": {
        "as_of": "Tính đến",
        "province": "Tỉnh, thành phố",
        "done": "Hoàn thành",
        "progress": "Tiến độ theo nhiệm vụ",
        "over_time": "Số địa phương hoàn thành theo thời gian",
        "attention": "Quá hạn và thụt lùi",
        "step": "Nhiệm vụ",
        "status": "Trạng thái",
        "owner": "Chủ trì",
        "reason": "Lý do",
        "none": "Không có nhiệm vụ quá hạn hoặc thụt lùi.",
        "one_point": "Mới có một lần đánh giá.",
        "checklist": "Danh mục",
        "matrix": "Bảng mức độ sẵn sàng",
        "insecure": "Tắt kiểm tra TLS",
    },
}
# No script, no fetch: default-src covers scripts, frames and connections; base-uri and
# form-action do not fall back to it, so they are closed explicitly.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:24px 0 8px}
.meta{color:#57606a}table{border-collapse:collapse}
.matrix td,.matrix th{border:1px solid #fff;padding:2px 6px;text-align:center;white-space:nowrap}
.matrix th.p,.matrix td.p{text-align:left}.matrix tfoot td{font-weight:bold;background:#eaeef2}
.c{color:#fff;min-width:34px}.c.pending,.c.n\\/a{color:#57606a}
.bars td{padding:2px 8px}.bar{width:240px;height:12px;background:#eaeef2;border-radius:6px;overflow:hidden}
.bar>span{display:block;height:100%;background:#1a7f37}
.list td,.list th{border-bottom:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
.legend span{display:inline-block;margin-right:10px}.sw{display:inline-block;width:12px;height:12px;
border-radius:2px;vertical-align:middle;margin-right:3px}
"""


def _status_css() -> str:
    return "".join(
        f".c.{s.replace('/', chr(92) + '/')}{{background:{c}}}" for s, c in COLOURS.items()
    )


def render(matrix: Matrix, options: RenderOptions) -> str:
    w = WORDS[options.lang]
    zone = matrix.checklist.timezone
    as_of = local(matrix.as_of, zone).strftime("%H:%M %d/%m/%Y")
    head = matrix.checklist.title.vi if options.lang == "vi" else matrix.checklist.title.en
    parts = [
        "<!doctype html>",
        f'<html lang="{options.lang}"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        f"<title>{html_text(head)}</title><style>{CSS}{_status_css()}</style></head><body>",
        f"<h1>{html_text(head)}</h1>",
        f'<p class="meta">{w["as_of"]} <strong id="as-of">{as_of}</strong> ({html_text(zone)}) · '
        f"{w['checklist']} <code>{html_text(matrix.checklist.id)}</code> "
        f"sha256:{html_text(matrix.digest[:12])}</p>",
        _bars(matrix, options),
        _matrix(matrix, options),
        _chart(matrix, options),
        _attention(matrix, options),
        _insecure(matrix, options) + _silent(matrix, options),
        _legend(matrix, options),
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


def _bars(matrix: Matrix, options: RenderOptions) -> str:
    rows = []
    for step in matrix.steps:
        t = matrix.totals[step.id]
        pct = 100 * t.done / t.total if t.total else 0
        waived = f" (+{t.counts['waived']} waived)" if t.counts.get("waived") else ""
        rows.append(
            f"<tr><td><code>{html_text(step.id)}</code></td><td>{html_text(title(step, options.lang))}</td>"
            f'<td><div class="bar" title="{pct:.0f}%"><span style="width:{pct:.1f}%"></span></div></td>'
            f"<td>{t.done}/{t.total}{waived}</td></tr>"
        )
    return f'<h2>{WORDS[options.lang]["progress"]}</h2><table class="bars">{"".join(rows)}</table>'


def _matrix(matrix: Matrix, options: RenderOptions) -> str:
    w = WORDS[options.lang]
    abbr = abbreviations(matrix.steps)
    head = "".join(
        f'<th title="{html_text(s.id)}: {html_text(title(s, options.lang))}">{html_text(abbr[s.id])}</th>'
        for s in matrix.steps
    )
    rows = []
    for p in matrix.provinces:
        name = p.spec.name if options.lang == "vi" else p.spec.name_en
        cells = []
        for step in matrix.steps:
            cell = matrix.cell(p.code, step.id)
            text = cell.fraction if cell.fraction and cell.status != "done" else SYMBOL[cell.status]
            tip = f"{step.id}: {cell.status}" + (f" — {cell.reason}" if cell.reason else "")
            if cell.insecure:
                tip += f" [{w['insecure']}]"
            cells.append(
                f'<td class="c {cell.status}" title="{html_text(tip)}">{html_text(text)}</td>'
            )
        rows.append(
            f'<tr class="province" data-code="{html_text(p.code)}"><td class="p">'
            f"{html_text(silent_mark(matrix, p.code))}{html_text(p.code)} "
            f"{html_text(name)}</td>{''.join(cells)}</tr>"
        )
    totals = "".join(
        f"<td>{matrix.totals[s.id].done}/{matrix.totals[s.id].total}</td>" for s in matrix.steps
    )
    return (
        f'<h2>{w["matrix"]}</h2><table class="matrix" id="matrix"><thead><tr><th class="p">'
        f"{w['province']}</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody>"
        f'<tfoot><tr><td class="p">{w["done"]}</td>{totals}</tr></tfoot></table>'
    )


def _chart(matrix: Matrix, options: RenderOptions) -> str:
    w = WORDS[options.lang]
    series = list(options.series) or [(matrix.as_of, {k: t.done for k, t in matrix.totals.items()})]
    width, height, pad = 640, 220, 36
    top = max((t.total for t in matrix.totals.values()), default=1) or 1
    times = [t.timestamp() for t, _ in series]
    span = (max(times) - min(times)) or 1.0

    def x(moment: datetime) -> float:
        return pad + (width - 2 * pad) * (
            (moment.timestamp() - min(times)) / span if len(series) > 1 else 0.5
        )

    def y(value: int) -> float:
        return height - pad - (height - 2 * pad) * value / top

    lines, legend = [], []
    for i, step in enumerate(matrix.steps):
        colour = LINE_COLOURS[i % len(LINE_COLOURS)]
        points = " ".join(f"{x(t):.1f},{y(done.get(step.id, 0)):.1f}" for t, done in series)
        dots = "".join(
            f'<circle cx="{x(t):.1f}" cy="{y(done.get(step.id, 0)):.1f}" r="3" fill="{colour}"/>'
            for t, done in series
        )
        lines.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>{dots}'
        )
        legend.append(
            f'<span><i class="sw" style="background:{colour}"></i>{html_text(step.id)}</span>'
        )
    zone = matrix.checklist.timezone
    first = local(series[0][0], zone).strftime("%d/%m %H:%M")
    last = local(series[-1][0], zone).strftime("%d/%m %H:%M")
    axis = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#57606a"/>'
        f'<line x1="{pad}" y1="{pad}" x2="{pad}" y2="{height - pad}" stroke="#57606a"/>'
        f'<text x="{pad - 6}" y="{y(top) + 4:.1f}" text-anchor="end" font-size="11">{top}</text>'
        f'<text x="{pad - 6}" y="{height - pad + 4}" text-anchor="end" font-size="11">0</text>'
        f'<text x="{pad}" y="{height - 12}" font-size="11">{first}</text>'
        f'<text x="{width - pad}" y="{height - 12}" text-anchor="end" font-size="11">{last}</text>'
    )
    note = f'<p class="meta">{w["one_point"]}</p>' if len(series) < 2 else ""
    return (
        f'<h2>{w["over_time"]}</h2><svg id="chart" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" role="img" aria-label="{w["over_time"]}">{axis}'
        f'{"".join(lines)}</svg><div class="legend">{"".join(legend)}</div>{note}'
    )


def _attention(matrix: Matrix, options: RenderOptions) -> str:
    w = WORDS[options.lang]
    rows = []
    for p in matrix.provinces:
        for step in matrix.steps:
            cell = matrix.cell(p.code, step.id)
            if cell.status in ("overdue", "regressed"):
                rows.append(
                    f"<tr><td>{html_text(p.code)} {html_text(p.spec.name)}</td><td>{html_text(step.id)}</td>"
                    f'<td><span class="sw" style="background:{COLOURS[cell.status]}"></span>'
                    f"{cell.status}</td><td>{html_text(step.owner or '')}</td>"
                    f"<td>{html_text(cell.reason)}</td></tr>"
                )
    if not rows:
        return f'<h2>{w["attention"]}</h2><p id="attention">{w["none"]}</p>'
    return (
        f'<h2>{w["attention"]}</h2><table class="list" id="attention"><tr><th>{w["province"]}</th>'
        f"<th>{w['step']}</th><th>{w['status']}</th><th>{w['owner']}</th><th>{w['reason']}</th></tr>"
        f"{''.join(rows)}</table>"
    )


def _insecure(matrix: Matrix, options: RenderOptions) -> str:
    note = insecure_note(matrix, options.lang)
    return f'<p id="insecure"><strong>{html_text(note)}</strong></p>' if note else ""


def _silent(matrix: Matrix, options: RenderOptions) -> str:
    note = silent_note(matrix, options.lang)
    return f'<p id="silent"><strong>{html_text(note)}</strong></p>' if note else ""


def _legend(matrix: Matrix, options: RenderOptions) -> str:
    items = "".join(
        f'<span><i class="sw" style="background:{c}"></i>{SYMBOL[s]} {s}</span>'
        for s, c in COLOURS.items()
    )
    if matrix.silent_after is not None:
        items += f"<span>{html_text(silent_legend(matrix, options.lang))}</span>"
    return f'<p class="legend">{items}</p>'
