"""Who is silent: a province not heard from within the heartbeat (`--silent-after`) is flagged
in every format and in the summary, and no cell changes for it (no news is neither done nor
failing).  Without a heartbeat every format is exactly as before (the golden files)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cutover.render import get
from cutover.render.base import RenderOptions
from cutover.rollup import Matrix

HERE = Path(__file__).parent
AS_OF = datetime.fromisoformat("2025-06-28T13:00+07:00")
HEARD = datetime.fromisoformat("2025-06-28T09:30+07:00")


@pytest.fixture(scope="module")
def silent(demo_db: Path) -> tuple[Matrix, Matrix, dict[str, Any]]:
    """The demo matrix as it is, and with a 2 h heartbeat that Hai Phong (last heard 09:30)
    and Hanoi (never heard) missed."""
    from cutover import service
    from cutover.checklist import Overlay
    from cutover.cli.views import store_context
    from cutover.store.base import open_store

    store = open_store(demo_db, environ={}, create=False)
    ctx = service.prepare(service.Selection(tag="telegram-2025-06-28"), Overlay())
    matrix = service.stored_matrix(ctx, store, AS_OF)
    context = store_context(matrix, store, ["html"])
    store.close()
    flagged = replace(matrix, silent_after=timedelta(hours=2), silent={"31": HEARD, "01": None})
    return matrix, flagged, context


def _text(fmt: str, matrix: Matrix, context: dict[str, Any], lang: str = "en") -> str:
    output = get(fmt)(matrix, RenderOptions(lang=lang, color=False, **context))  # type: ignore[arg-type]
    return output.decode("utf-8-sig") if isinstance(output, bytes) else output


NOTE_EN = (
    "∅ Silent for over 2h (no run or attestation; neither done nor failing): "
    "31 Hai Phong (last heard 28/06 09:30), 01 Hanoi (never heard from)"
)
NOTE_VI = (
    "∅ Không có tin quá 2h (không kiểm tra, không xác nhận; không phải hoàn thành, cũng không "
    "phải lỗi): 31 Thành phố Hải Phòng (lần cuối 28/06 09:30), 01 Thành phố Hà Nội "
    "(chưa từng có tin)"
)


def test_table_marks_the_row_and_says_why(silent) -> None:  # type: ignore[no-untyped-def]
    _, flagged, context = silent
    lines = _text("table", flagged, context).splitlines()
    rows = {line[2:4]: line for line in lines if line[2:4].isdigit()}
    assert rows["31"].startswith("∅ 31 Hai Phong")
    assert rows["01"].startswith("∅ 01 Hanoi")
    assert rows["46"].startswith("  46 Hue")
    assert NOTE_EN in " ".join(line.strip() for line in lines)
    assert "∅ silent > 2h" in " ".join(lines)


def test_summary_names_who_is_silent_in_both_languages(silent) -> None:  # type: ignore[no-untyped-def]
    plain, flagged, context = silent
    english = _text("summary", flagged, context)
    assert NOTE_EN + "." in english.splitlines()
    assert NOTE_VI + "." in _text("summary", flagged, context, "vi").splitlines()
    # Everything else is the report without a heartbeat.
    assert [line for line in english.splitlines() if line != NOTE_EN + "."] == _text(
        "summary", plain, context
    ).splitlines()


def test_json_lists_them_and_validates(silent, cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    import jsonschema

    plain, flagged, context = silent
    data = json.loads(_text("json", flagged, context))
    assert data["silent"] == {
        "after_seconds": 7200,
        "provinces": [
            {"code": "31", "last_heard": HEARD.isoformat()},
            {"code": "01", "last_heard": None},
        ],
    }
    schema = json.loads(cli("schema", "matrix").out)
    jsonschema.validate(data, schema)
    assert "silent" not in json.loads(_text("json", plain, context))
    assert data["cells"] == json.loads(_text("json", plain, context))["cells"]


def test_csv_and_xlsx_have_a_column(silent) -> None:  # type: ignore[no-untyped-def]
    import openpyxl

    _, flagged, context = silent
    rows = list(csv.DictReader(io.StringIO(_text("csv", flagged, context))))
    hp = [r for r in rows if r["province_code"] == "31"]
    assert {(r["province_silent"], r["province_last_heard"]) for r in hp} == {
        ("yes", HEARD.isoformat())
    }
    assert {r["province_silent"] for r in rows if r["province_code"] == "01"} == {"yes"}
    assert {r["province_silent"] for r in rows if r["province_code"] == "46"} == {""}
    output = get("xlsx")(flagged, RenderOptions(lang="en", **context))
    assert isinstance(output, bytes)
    book = openpyxl.load_workbook(io.BytesIO(output))
    header = [c.value for c in book["cells"][1]]  # the readers' headings (the CSV keeps names)
    assert header[-2:] == ["Province silent", "Province last heard"]
    notes = [c.value for c in book["matrix"]["B"] if c.value and str(c.value).startswith("∅")]
    assert notes == [NOTE_EN]


def test_markdown_and_html(silent) -> None:  # type: ignore[no-untyped-def]
    _, flagged, context = silent
    markdown = _text("markdown", flagged, context)
    assert "| ∅ 31 Hai Phong |" in markdown
    assert "|   46 Hue |" in markdown
    assert "**∅ Silent for over 2h" in markdown and "∅ silent \\> 2h." in markdown
    html = _text("html", flagged, context)
    assert '<th class="p">∅ 31 Hai Phong</th>' in html
    assert '<th class="p">  46 Hue</th>' in html
    assert f'<p class="note" id="silent">{NOTE_EN}</p>' in html
    assert '<li id="silent-legend">∅ silent &gt; 2h</li>' in html


def _tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is not installed (scripts/check installs it with apt-get)"
    return path


def test_junit_properties_pass_the_xsd(silent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _, flagged, context = silent
    out = tmp_path / "matrix.xml"
    out.write_text(_text("junit", flagged, context), encoding="utf-8")
    check = subprocess.run(
        [_tool("xmllint"), "--noout", "--schema", str(HERE / "JUnit.xsd"), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    text = out.read_text(encoding="utf-8")
    assert text.count('<property name="silent_after" value="2h" />') == 8
    assert (
        text.count(f'<property name="silent_provinces" value="31={HEARD.isoformat()} 01=never" />')
        == 8
    )


def test_prometheus_gauge_passes_promtool(silent) -> None:  # type: ignore[no-untyped-def]
    _, flagged, context = silent
    text = _text("prometheus", flagged, context)
    check = subprocess.run(
        [_tool("promtool"), "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    gauges = [line for line in text.splitlines() if line.startswith("cutover_province_silent{")]
    assert len(gauges) == 34
    assert 'cutover_province_silent{province="31"} 1' in gauges
    assert 'cutover_province_silent{province="01"} 1' in gauges
    assert sum(line.endswith(" 1") for line in gauges) == 2


def test_the_commands_take_a_heartbeat(
    cli, make_sim, overlay_file, elsewhere: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim()
    overlay = str(overlay_file(sim.base_url))
    assert cli("check", "-p", "31", "--step", "dossier-sync", "--endpoints", overlay).code == 0
    now = datetime.now().astimezone()
    args = ["-p", "31", "-p", "46", "--step", "dossier-sync", "--silent-after", "2h"]
    fresh = json.loads(cli("matrix", *args, "--format", "json").out)
    assert fresh["silent"]["provinces"] == [{"code": "46", "last_heard": None}]
    later = (now + timedelta(hours=3)).isoformat()
    stale = json.loads(cli("matrix", *args, "--format", "json", "--as-of", later).out)
    assert [s["code"] for s in stale["silent"]["provinces"]] == ["31", "46"]
    summary = cli("summary", *args, "--lang", "en", "--as-of", later)
    assert summary.code == 0
    assert any(line.startswith("∅ Silent for over 2h") for line in summary.lines)
    monkeypatch.setenv("CUTOVER_SILENT_AFTER", "30m")
    assert 'after_seconds": 1800' in cli("matrix", "-p", "31", "--format", "json").out
    bad = cli("matrix", "--silent-after", "soon")
    assert (bad.code, bad.err_lines) == (
        2,
        ["cutover: error: --silent-after: expected a duration like 30m, 12h, 7d or 2w, got 'soon'"],
    )
