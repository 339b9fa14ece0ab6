"""Every output format from the demo scenario: golden files, and each checked by its readers'
own tools (jsonschema, xmllint, promtool, headless Chromium, openpyxl, csv)."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from cutover.render import get
from cutover.render.base import RenderOptions
from cutover.rollup import Matrix

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
UPDATE = os.environ.get("CUTOVER_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def demo(demo_db: Path) -> tuple[Matrix, dict[str, Any]]:
    """The session's demo store, read back as the matrix and the history renderers need."""
    from datetime import datetime

    from cutover import service
    from cutover.checklist import Overlay
    from cutover.cli.views import store_context
    from cutover.store.base import open_store

    store = open_store(demo_db, environ={}, create=False)
    ctx = service.prepare(service.Selection(tag="telegram-2025-06-28"), Overlay())
    matrix = service.stored_matrix(ctx, store, datetime.fromisoformat("2025-06-28T13:00+07:00"))
    context = store_context(matrix, store, ["html", "prometheus"])  # what every format reads
    store.close()
    return matrix, context


def rendered(
    demo: tuple[Matrix, dict[str, Any]], fmt: str, lang: str = "en", **extra: Any
) -> str | bytes:
    matrix, context = demo
    return get(fmt)(matrix, RenderOptions(lang=lang, color=False, **context, **extra))  # type: ignore[arg-type]


def normalise(text: str) -> str:
    """Only what legitimately varies between runs: the simulator's port, run timings."""
    # also inside a reason quoting a regex, where the dots are escaped (once more in JSON)
    text = re.sub(r"127(\\*)\.0\1\.0\1\.1:\d+", r"127\1.0\1.0\1.1:PORT", text)
    text = re.sub(r"(cutover_last_run_\w+) [0-9.e+]+", r"\1 X", text)
    return text


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    text = normalise(text)
    if UPDATE:
        path.write_bytes(text.encode("utf-8"))
    assert path.exists(), f"no golden file {name}: write it with CUTOVER_UPDATE_GOLDEN=1"
    golden = path.read_bytes().decode("utf-8")
    assert text == golden, f"{name} differs from its golden file (CUTOVER_UPDATE_GOLDEN=1 rewrites)"


@pytest.mark.parametrize("lang", ["en", "vi"])
@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("table", "demo.table.{lang}.txt"),
        ("markdown", "demo.{lang}.md"),
        ("html", "demo.{lang}.html"),
        ("junit", "demo.junit.{lang}.xml"),
    ],
)
def test_golden(demo, fmt: str, name: str, lang: str) -> None:  # type: ignore[no-untyped-def]
    output = rendered(demo, fmt, lang)
    assert isinstance(output, str)
    check_golden(name.format(lang=lang), output)


def test_golden_prometheus_same_in_both_languages(demo) -> None:  # type: ignore[no-untyped-def]
    """Prometheus is read by programs: one exposition whatever the language."""
    output = rendered(demo, "prometheus", "en")
    assert isinstance(output, str) and output == rendered(demo, "prometheus", "vi")
    check_golden("demo.prom", output)


def test_golden_json_differs_between_languages_only_in_owners(demo) -> None:  # type: ignore[no-untyped-def]
    """JSON is read by programs: titles carry both languages; a step's owner stays one string,
    in the output's language when the checklist writes it in both (the shipped one does)."""
    english, vietnamese = rendered(demo, "json", "en"), rendered(demo, "json", "vi")
    assert isinstance(english, str) and isinstance(vietnamese, str)
    check_golden("demo.json", english)
    matrix, _ = demo
    en, vi = json.loads(english), json.loads(vietnamese)
    for lang, document in (("en", en), ("vi", vi)):
        owners = {step["id"]: step.pop("owner") for step in document["steps"]}
        assert owners == {s.id: s.clear("owner", lang) for s in matrix.steps}
    assert en == vi


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_golden_csv_with_bom(demo, lang: str) -> None:  # type: ignore[no-untyped-def]
    output = rendered(demo, "csv", lang)
    assert isinstance(output, bytes) and output.startswith(b"\xef\xbb\xbf")
    text = output.decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 34 * 8
    hp = next(r for r in rows if r["province_code"] == "31" and r["step"] == "online-filing-test")
    assert (hp["province"], hp["communes_total"], hp["source"]) == (
        "Thành phố Hải Phòng",
        "114",
        "probe",
    )
    check_golden(f"demo.{lang}.csv", text)


def test_summaries_exact(demo) -> None:  # type: ignore[no-untyped-def]
    english = rendered(demo, "summary", "en")
    vietnamese = rendered(demo, "summary", "vi")
    assert isinstance(english, str) and isinstance(vietnamese, str)
    assert english.startswith(
        "As of 13:00 on 28 June 2025, 34/34 provinces and cities had declared the new "
        "administrative units in the National Database of Administrative Procedures; 32/34 had "
        "closed the interface of their provincial public service portal; 33/34 had tested single "
        "sign-on"
    )
    assert vietnamese.startswith(
        "Tính đến 13 giờ 00 ngày 28/6/2025, 34/34 tỉnh, thành phố đã khai báo đơn vị hành chính "
        "mới trên Cơ sở dữ liệu quốc gia về thủ tục hành chính; 32/34 đã đóng giao diện Cổng dịch "
        "vụ công cấp tỉnh;"
    )
    behind_vi = "Chưa công bố, cập nhật mã định danh điện tử của cơ quan (1): Hải Phòng."
    behind_en = (
        "Not yet published or updated agency electronic identification codes (1): Hai Phong."
    )
    assert behind_vi in vietnamese.splitlines() and behind_en in english.splitlines()
    # The national figure behind "8/34": communes still missing, in each language's numbers.
    assert "Trên cả nước, còn 419/3.321 xã, phường, đặc khu chưa hoàn thành." in vietnamese
    assert "Nationally, 419 of 3,321 communes, wards and special zones are not done yet." in english
    assert not re.search(r"\b[a-z]+-[a-z-]+\b", vietnamese), "a step id in the summary"
    check_golden("demo.summary.en.txt", english)
    check_golden("demo.summary.vi.txt", vietnamese)


def test_json_validates_against_published_schema(demo, cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    import jsonschema

    schema = json.loads(cli("schema", "matrix").out)
    data = json.loads(rendered(demo, "json"))
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        data
    )
    assert data["schema"] == "cutover.matrix/1"
    assert data["totals"]["portal-closure"]["counts"]["done"] == 32


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (.ci/run installs it with apt-get)"
    return path


def test_junit_valid_against_xsd(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "matrix.xml"
    out.write_text(str(rendered(demo, "junit")), encoding="utf-8")
    check = subprocess.run(
        [_tool("xmllint"), "--noout", "--schema", str(HERE / "JUnit.xsd"), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    text = out.read_text(encoding="utf-8")
    assert text.count("<testcase ") == 34 * 8
    assert text.count("<failure ") == 34 * 8 - (34 + 32 + 33 + 8 + 32 + 21 + 21 + 33)


def test_prometheus_accepted_by_promtool(demo) -> None:  # type: ignore[no-untyped-def]
    text = str(rendered(demo, "prometheus"))
    check = subprocess.run(
        [_tool("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert 'cutover_step_done_total{step="portal-closure"} 32' in text
    assert 'cutover_cell_status{province="31",step="agency-eid-codes",status="at-risk"} 1' in text
    assert "cutover_last_run_duration_seconds " in text


def _png_is_not_blank(data: bytes) -> bool:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    pixels = zlib.decompress(b"".join(chunks))
    return len(set(pixels)) > 50  # a blank page decompresses to a handful of byte values


# Headless Chromium on a machine with no network: without the background-networking flags
# it keeps trying Google's hosts.  (tests/test_serve.py launches it with the same flags.)
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Open `page` in headless Chromium (`--dump-dom`, `--screenshot=…`), console to stderr."""
    flags = [
        "--headless",
        *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1100,1400",
    ]
    return subprocess.run(
        [_tool("chromium"), *flags, *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def console_lines(run: subprocess.CompletedProcess[str]) -> list[str]:
    """What the page logged or had refused by its CSP."""
    return [ln for ln in run.stderr.splitlines() if "CONSOLE" in ln or "Refused to" in ln]


def test_html_in_headless_chromium(demo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = tmp_path / "national.html"
    page.write_text(str(rendered(demo, "html")), encoding="utf-8")
    dom = chromium(page, tmp_path / "profile", "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('<tr class="province"') == 34
    assert 'id="chart"' in dom.stdout and "13:00 28/06/2025" in dom.stdout
    assert console_lines(dom) == []
    shot = tmp_path / "shot.png"
    run = chromium(page, tmp_path / "profile", f"--screenshot={shot}")
    assert run.returncode == 0 and shot.exists(), run.stderr[-2000:]
    assert _png_is_not_blank(shot.read_bytes())


def test_html_escapes_everything(demo) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    matrix, context = demo
    evil = "<script>alert(1)</script>"
    cells = dict(matrix.cells)
    cells[("31", "agency-eid-codes")] = replace(
        cells[("31", "agency-eid-codes")], reason=evil, status="overdue"
    )
    hacked = Matrix(
        matrix.as_of, matrix.checklist, matrix.digest, matrix.steps, matrix.provinces, cells
    )
    html = str(get("html")(hacked, RenderOptions(lang="en", **context)))
    assert evil not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html


def test_xlsx_read_back(demo) -> None:  # type: ignore[no-untyped-def]
    import openpyxl

    data = rendered(demo, "xlsx", "en")
    assert isinstance(data, bytes)
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["matrix", "cells", "key"]
    sheet = book["matrix"]
    assert sheet.freeze_panes == "C2"
    assert [c.value for c in sheet[1]][:4] == ["Code", "Province", "6", "7"]
    hai_phong = next(row for row in sheet.iter_rows(values_only=True) if row[0] == "31")
    assert hai_phong[1] == "Thành phố Hải Phòng"
    assert hai_phong[5] == "! at risk 87/114"
    assert hai_phong[9] == "! at risk"
    totals = next(row for row in sheet.iter_rows(values_only=True) if row[1] == "done")
    assert list(totals[2:]) == [
        "34/34",
        "32/34",
        "33/34",
        "8/34",
        "32/34",
        "21/34",
        "21/34",
        "33/34",
    ]
    assert len(sheet.conditional_formatting) >= 1
    cells = list(book["cells"].iter_rows(values_only=True))
    assert len(cells) == 1 + 34 * 8
    assert cells[0][:3] == ("Province code", "Province", "Step id")
    assert cells[0][-2:] == ("Source", "Attested by")
    key = [row for row in book["key"].iter_rows(values_only=True) if row[0]]
    assert (
        "9",
        "Test online filing and service, with every commune, ward and special zone "
        "tested at least once",
        "online-filing-test",
        "13:00 28/06/2025",
        "8/34",
    ) in key
    assert ("‼ overdue", "not done, past its deadline") in [r[:2] for r in key]
    # In Vietnamese, every label a person reads is Vietnamese.
    vi = openpyxl.load_workbook(io.BytesIO(rendered(demo, "xlsx", "vi")))  # type: ignore[arg-type]
    assert vi.sheetnames == ["bảng", "chi tiết", "chú giải"]
    row = next(r for r in vi["bảng"].iter_rows(values_only=True) if r[0] == "31")
    assert row[:2] == ("31", "Thành phố Hải Phòng") and row[5] == "! có nguy cơ chậm 87/114"
    assert [c.value for c in vi["chi tiết"][1]][:3] == ["Mã tỉnh", "Tỉnh, thành phố", "Mã nhiệm vụ"]


def test_table_fits_80_columns_without_colour(demo) -> None:  # type: ignore[no-untyped-def]
    text = str(rendered(demo, "table", width=80))
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert "\x1b[" not in text and "…" not in text
    assert sum(1 for line in lines if re.match(r"^\d\d \S", line)) == 34  # not the key's "10  …"
    assert lines[lines.index(next(ln for ln in lines if ln.startswith("done")))].split()[1:] == [
        "34/34",
        "32/34",
        "33/34",
        "8/34",
        "32/34",
        "21/34",
        "21/34",
        "33/34",
    ]


def test_table_marks_overdue_unmistakably(demo) -> None:  # type: ignore[no-untyped-def]
    from cutover.rollup import rollup

    matrix, _ = demo
    later = rollup(
        matrix.checklist,
        matrix.digest,
        matrix.provinces,
        matrix.steps,
        {},
        matrix.as_of.replace(day=30),
    )
    coloured = str(get("table")(later, RenderOptions(color=True)))
    assert "‼" in coloured and "\x1b[1;37;41m" in coloured  # bold white on red


def test_matrix_command_formats_to_files_and_gates(
    cli, demo_db: Path, tmp_path: Path, elsewhere: Path
) -> None:  # type: ignore[no-untyped-def]
    db = demo_db  # the session's demo store: `matrix` only reads it
    html, data = tmp_path / "national.html", tmp_path / "national.json"
    result = cli(
        "matrix",
        "--db",
        str(db),
        "--tag",
        "telegram-2025-06-28",
        "--as-of",
        "2025-06-28T13:00+07:00",
        "--format",
        f"html:{html}",
        "--format",
        f"json:{data}",
        "--require",
        "portal-closure>=32",
        "--require",
        "sso-test>=34",
    )
    assert result.code == 1
    assert result.err_lines == ["cutover: gate not met: sso-test>=34 (done 33/34)"]
    assert html.read_text(encoding="utf-8").count('<tr class="province"') == 34
    assert json.loads(data.read_text(encoding="utf-8"))["totals"]["sso-test"]["done"] == 33
    ok = cli(
        "matrix",
        "--db",
        str(db),
        "--tag",
        "telegram-2025-06-28",
        "--as-of",
        "2025-06-28T13:00+07:00",
        "--format",
        "json",
        "--require",
        "unit-declaration>=34",
    )
    assert ok.code == 0
    bad = cli("matrix", "--db", str(db), "--require", "sso-test=>3")
    assert bad.code == 2 and "expected STEP>=N" in bad.err
    # A gate on a step the matrix will not have fails before any output is written.
    nothing = tmp_path / "never.json"
    elsewhere_step = cli(
        "matrix", "--db", str(db), "--tag", "telegram-2025-06-28", "--format",
        f"json:{nothing}", "--require", "commune-plans>=1",
    )  # fmt: skip
    assert (elsewhere_step.code, elsewhere_step.out) == (2, ""), elsewhere_step
    assert elsewhere_step.err_lines == [
        "cutover: error: --require commune-plans>=1: step 'commune-plans' is not in the matrix "
        "(see 'cutover matrix -h')"
    ]
    assert not nothing.exists()
    unknown = cli("matrix", "--db", str(db), "--format", "pdf")
    assert unknown.code == 2 and unknown.err_lines[0].startswith(
        "cutover: error: unknown format 'pdf'"
    )


def test_summary_command(cli, demo_db: Path, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    db = demo_db  # the session's demo store: `summary` only reads it
    result = cli(
        "summary",
        "--db",
        str(db),
        "--tag",
        "telegram-2025-06-28",
        "--as-of",
        "2025-06-28T13:00+07:00",
        "--lang",
        "en",
    )
    assert result.code == 0
    assert result.lines[0].startswith("As of 13:00 on 28 June 2025, 34/34 provinces and cities had")
    assert normalise(result.out) == (GOLDEN / "demo.summary.en.txt").read_bytes().decode()


@pytest.mark.parametrize(
    "fmt", ["table", "json", "csv", "markdown", "html", "junit", "prometheus", "summary"]
)
def test_insecure_probe_is_shown_in_every_report(demo, fmt: str) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    matrix, context = demo
    cells = dict(matrix.cells)
    cells[("31", "sso-test")] = replace(cells[("31", "sso-test")], insecure=True)
    flagged = Matrix(
        matrix.as_of, matrix.checklist, matrix.digest, matrix.steps, matrix.provinces, cells
    )
    output = get(fmt)(flagged, RenderOptions(lang="en", **context))
    text = output.decode("utf-8-sig") if isinstance(output, bytes) else output
    assert any(
        mark in text
        for mark in (
            "TLS verification off (insecure: true): 31 Hai Phong, step 8",  # for people
            "TLS verification off (insecure: true): 31 sso-test",  # junit, for programs
            '"insecure": true',
            ",yes,probe,\r\n",
            'cutover_cell_insecure{province="31",step="sso-test"} 1',
        )
    )
    clean = get(fmt)(matrix, RenderOptions(lang="en", **context))
    clean_text = clean.decode("utf-8-sig") if isinstance(clean, bytes) else clean
    assert "TLS verification off" not in clean_text and '"insecure": true' not in clean_text
