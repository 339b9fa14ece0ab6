"""The commune drill-down (issue 10): `matrix --province P --communes` in every format, the
missing communes at the end of `check`, and a simulator that stages any state of all 3,321
communes, wards and special zones."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cutover.render import REGISTRY

AS_OF = "2025-06-28T13:00+07:00"
MISSING = 27  # Hai Phong's communes without a test filing in the demo (87/114 done)


def _check_drill_down(fmt: str, data: bytes, lang: str, tmp_path: Path) -> None:
    text = data.decode("utf-8-sig", errors="replace")
    if fmt == "json":
        cell = json.loads(text)["cells"][0]
        assert cell["step"] == "online-filing-test" and len(cell["units"]) == 114
        missing = [u for u in cell["units"] if u["status"] != "done"]
        assert len(missing) == MISSING and missing[0]["name"] == "Phường Hồng Bàng"
        assert set(missing[0]) >= {"code", "name", "type", "status", "reason", "evidence_at"}
    elif fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        assert len(rows) == 114 and sum(r["status"] != "done" for r in rows) == MISSING
        assert rows[0]["commune_code"] and rows[0]["commune_type"] in ("phường", "xã", "đặc khu")
    elif fmt == "xlsx":
        import openpyxl

        sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
        assert sheet.title == ("communes" if lang == "en" else "xã")
        assert sheet.max_row == 1 + 114
    elif fmt == "junit":
        assert text.count("<testcase ") == 114 and text.count("<failure ") == MISSING
    elif fmt == "prometheus":
        assert text.count("cutover_commune_done{") == 114
        assert 'cutover_communes_missing{province="31",step="online-filing-test"} 27' in text
    elif fmt == "summary":
        lead = {"en": "Hai Phong: 27 of 114 communes not done", "vi": "Thành phố Hải Phòng: "
                "27/114 xã, phường, đặc khu chưa hoàn thành"}[lang]  # fmt: skip
        assert text.startswith(lead) and "Phường Hồng Bàng" in text
    elif fmt == "html":
        assert text.count('id="communes-31-online-filing-test"') == 1
        assert text.count("<tr>") == 1 + MISSING and "Phường Hồng Bàng" in text
    elif fmt == "markdown":
        assert len([ln for ln in text.splitlines() if re.match(r"^\| \d{5} \|", ln)]) == 114
    else:  # table
        assert len([ln for ln in text.splitlines() if re.match(r"^\d{5}  ", ln)]) == 114
        assert "11311  Phường Hồng Bàng" in text


@pytest.mark.parametrize("lang", ["en", "vi"])
@pytest.mark.parametrize("fmt", list(REGISTRY))
def test_drill_down_in_every_format(
    cli, demo_copy: Path, tmp_path: Path, fmt: str, lang: str
) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / f"communes.{fmt}"
    result = cli("matrix", "--db", str(demo_copy), "--as-of", AS_OF, "--province", "hai-phong",
                 "--communes", "--lang", lang, "--format", f"{fmt}:{out}")  # fmt: skip
    assert result.code == 1 and result.err == ""
    _check_drill_down(fmt, out.read_bytes(), lang, tmp_path)


def test_drill_down_needs_a_commune_level_step(cli, demo_copy: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("matrix", "--db", str(demo_copy), "-p", "31", "--step", "portal-closure",
                 "--communes")  # fmt: skip
    assert (result.code, result.err_lines) == (
        2, ["cutover: error: --communes: no commune-level step is selected"]
    )  # fmt: skip


def _all_communes(geo: Any) -> list[str]:
    return [c.code for p in geo.provinces for c in p.communes]


def test_the_simulator_stages_any_state_of_all_3321_communes(  # type: ignore[no-untyped-def]
    cli, geo, make_sim, overlay_file, elsewhere: Path, monkeypatch
) -> None:
    every = _all_communes(geo)
    assert len(every) == 3321
    hanoi = {c.code for c in geo.by_code["01"].communes}
    hue = [c.code for c in geo.by_code["46"].communes]
    sim = make_sim(features={"filing_tested": {
        "passing": ["46"],  # Hue passes as a province …
        "tested_share": 0.0,  # … every other province has tested none of its communes …
        "communes_passing": sorted(hanoi),  # … except Hanoi, staged commune by commune,
        "communes_failing": hue[:2],  # and two of Hue's communes fail whatever Hue does.
    }})  # fmt: skip
    overlay = str(overlay_file(sim.base_url))
    monkeypatch.setenv("COLUMNS", "200")
    check = cli("check", "--all", "--step", "online-filing-test", "--endpoints", overlay,
                "--as-of", AS_OF, "--lang", "en")  # fmt: skip
    assert check.code == 1, check.err
    totals = check.lines[check.lines.index(next(ln for ln in check.lines if ln.startswith("done")))]
    assert totals.split() == ["done", "1/34"]  # Hanoi alone
    summary = cli("summary", "--step", "online-filing-test", "--lang", "en")  # evidence is now
    behind = 3321 - len(hanoi) - (len(hue) - 2)  # Hanoi's and Hue's communes, bar two, done
    assert (
        f"Nationally, {behind:,} of 3,321 communes, wards and special zones are not done yet."
        in (summary.out)
    )
    hue_cell = json.loads(cli("matrix", "-p", "46", "--step", "online-filing-test", "--communes",
                              "--format", "json").out)["cells"][0]  # fmt: skip
    failing = [u["code"] for u in hue_cell["units"] if u["status"] != "done"]
    assert failing == hue[:2]
    # check --province … --step online-filing-test ends with the communes missing, by name.
    one = cli("check", "-p", "46", "--step", "online-filing-test", "--endpoints", overlay,
              "--as-of", AS_OF, "--lang", "en")  # fmt: skip
    names = {c.code: c.name for c in geo.by_code["46"].communes}
    assert one.lines[-2] == "Communes not done in 46 Hue, step 9 (2 of 40):"
    assert one.lines[-1] == f"  {names[hue[0]]} ({hue[0]}), {names[hue[1]]} ({hue[1]})"


def test_staging_an_unknown_commune_is_refused(geo, make_sim) -> None:  # type: ignore[no-untyped-def]
    import urllib.error
    import urllib.request

    from cutover.errors import UsageError
    from cutover.sim.app import SimState
    from cutover.sim.scenario import validate_scenario_data

    staged = {"filing_tested": {"failing": [], "communes_failing": ["99999"]}}
    scenario = validate_scenario_data({"id": "x", "title": "x", "features": staged}, "x")
    with pytest.raises(UsageError, match="no commune 99999 in the geography"):
        SimState(scenario, geo)
    sim = make_sim()
    unknown = {"filing_tested": {"failing": [], "communes_passing": ["12345"]}}
    body = {"id": "x", "title": "x", "features": unknown}
    request = urllib.request.Request(
        f"{sim.base_url}/_sim/scenario", json.dumps(body).encode(), method="PUT",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    refused.value.close()
