"""Truthful views (issue 10): a time before any evidence says so in every format, the
simulator's suggested command works as printed, a person's attestation is visible as such
(and both sides of a disagreement with a probe stay in the history), and an overlay that
leaves an endpoint to production says which URL is probed."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cutover.render import REGISTRY

BEFORE = "2025-06-01T00:00+07:00"  # before the demo recorded anything


def _text(data: str | bytes) -> str:
    return data.decode("utf-8-sig") if isinstance(data, bytes) else data


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_a_time_before_any_evidence_says_so_in_every_format(
    cli, demo_copy: Path, tmp_path: Path, lang: str
) -> None:  # type: ignore[no-untyped-def]
    import openpyxl

    outputs: dict[str, Any] = {}
    for fmt in REGISTRY:
        path = tmp_path / f"matrix.{fmt}"
        result = cli("matrix", "--db", str(demo_copy), "--as-of", BEFORE, "--lang", lang,
                     "--format", f"{fmt}:{path}")  # fmt: skip
        assert result.code == 1
        assert result.err_lines == [
            "cutover: note: the store holds no evidence at or before 2025-06-01T00:00:00+07:00 for "
            "this selection: every cell shows what was known then (nothing); `cutover history` "
            "lists when evidence was recorded"
        ]
        outputs[fmt] = path.read_bytes()
    note = {
        "en": "No evidence was recorded at or before 00:00 01/06/2025 for this selection",
        "vi": "Không có bằng chứng nào được ghi nhận đến 00:00 01/06/2025 cho phạm vi này",
    }[lang]
    for fmt in ("table", "markdown", "html", "summary", "junit"):
        assert note in " ".join(_text(outputs[fmt]).split()), fmt
    assert json.loads(outputs["json"])["no_evidence"] is True
    assert "cutover_no_evidence 1" in _text(outputs["prometheus"])
    rows = list(csv.DictReader(io.StringIO(_text(outputs["csv"]))))
    said = {
        "en": "no evidence recorded at or before 00:00 01/06/2025",
        "vi": "không có bằng chứng nào được ghi nhận đến 00:00 01/06/2025",
    }[lang]
    applicable = [r for r in rows if r["status"] != "n/a"]
    assert applicable and all(said in r["reason"] for r in applicable)
    book = openpyxl.load_workbook(io.BytesIO(outputs["xlsx"]))
    assert note in (book.properties.description or "")
    assert any(note in str(c.value) for row in book.worksheets[-1].iter_rows() for c in row)
    # With evidence, no such note anywhere.
    later = cli("matrix", "--db", str(demo_copy), "--as-of", "2025-06-28T13:00+07:00",
                "--format", "json")  # fmt: skip
    assert later.err == "" and json.loads(later.out)["no_evidence"] is False


def test_the_simulators_suggested_command_works_as_printed(tmp_path: Path) -> None:
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "100", "CUTOVER_DB": str(tmp_path / "x.db")}
    server = subprocess.Popen(
        [sys.executable, "-m", "cutover", "sim", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(4)]
        suggested = lines[3].removeprefix("try: ").strip()
        assert lines[3].startswith(
            "try: cutover check --all --tag telegram-2025-06-28 --endpoints "
        )
        args = shlex.split(suggested)
        assert args[0] == "cutover" and Path(args[args.index("--endpoints") + 1]).is_file()
        run = subprocess.run(
            [sys.executable, "-m", "cutover", *args[1:], "--lang", "en"],
            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120, check=False,
        )  # fmt: skip
        assert run.returncode == 1, run.stderr
        assert run.stderr == ""
        assert run.stdout.splitlines()[-1] == (
            "Not ready: 58 of 272 cells are not done (58 at risk) in 27 provinces."
        )
        assert not (tmp_path / "x.db").exists()  # --no-store: the user's store is left alone
    finally:
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    assert "simulator stopped" in out and "Traceback" not in err


def test_an_attestation_shows_and_both_sides_stay_in_history(  # type: ignore[no-untyped-def]
    cli, make_sim, overlay_file, tmp_path: Path, elsewhere: Path
) -> None:
    import openpyxl

    sim = make_sim(features={"dossier_synced": {"failing": ["31"]}})
    overlay = str(overlay_file(sim.base_url))
    probe = ["check", "-p", "31", "--step", "dossier-sync", "--endpoints", overlay]
    assert cli(*probe).code == 1  # the probe: 43 dossiers not synchronised
    who = "Nguyễn Văn A"
    mark = cli("mark", "31", "dossier-sync", "--by", who, "--note", "synchronised by hand",
               "--evidence", "https://haiphong.gov.vn/dong-bo")  # fmt: skip
    assert mark.code == 0, mark.err
    sel = ["matrix", "-p", "31", "--step", "dossier-sync", "--lang", "en"]
    cell = json.loads(cli(*sel, "--format", "json").out)["cells"][0]
    assert (cell["status"], cell["source"], cell["by"]) == ("done", "attestation", who)
    table = cli(*sel).out
    assert re.search(r"^31 Hai Phong +✓\*$", table, re.M) and "* attested by a person" in table
    row = next(csv.DictReader(io.StringIO(cli(*sel, "--format", "csv").out.lstrip("\ufeff"))))
    assert (row["source"], row["by"]) == ("attestation", who)
    html = cli(*sel, "--format", "html").out
    assert f'<td class="c s-done" data-source="attestation" data-by="{who}">✓*</td>' in html
    listed = html.split('id="attested-list"')[1].split("</table>")[0]
    assert "31 Hai Phong" in listed and who in listed
    cli(*sel, "--format", f"xlsx:{tmp_path / 'm.xlsx'}")
    cells = openpyxl.load_workbook(tmp_path / "m.xlsx")["cells"]
    header = [c.value for c in cells[1]]
    values = [c.value for c in cells[2]]
    assert values[header.index("Source")] == "attestation"
    assert values[header.index("Attested by")] == who
    history = cli("history", "31", "dossier-sync", "--lang", "en").lines
    assert len(history) == 2
    assert history[0].endswith("31 dossier-sync  new -> fail  expected unsynced == 0, got 43  "
                               "(run 1 by " + history[0].split("(run 1 by ")[1])  # fmt: skip
    assert history[1].endswith(
        f"31 dossier-sync  fail -> pass  synchronised by hand evidence "
        f"https://haiphong.gov.vn/dong-bo  (attested by {who})  overrides the probe's fail"
    )
    # The probe runs again and finds the same: the newer word, the probe's, decides again.
    assert cli(*probe).code == 1
    again = cli("history", "31", "dossier-sync", "--lang", "en").lines
    assert len(again) == 3 and again[2].endswith(
        "31 dossier-sync  still fail  (last confirmed)  overrides the attestation's pass"
    )
    vi = cli("history", "31", "dossier-sync").lines
    assert vi[1].endswith(f"(xác nhận bởi {who})  thay cho kết quả kiểm tra tự động (không đạt)")


def test_an_overlay_without_an_endpoint_says_which_production_url_is_probed(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, elsewhere: Path
) -> None:
    root = Path(__file__).resolve().parents[1]
    provinces = tmp_path / "provinces.yaml"  # the registry, "in production" on a closed port
    provinces.write_text(
        (root / "provinces.yaml")
        .read_text(encoding="utf-8")
        .replace("edoc: https://vdxp.gov.vn", "edoc: http://127.0.0.1:9"),
        encoding="utf-8",
    )
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("endpoints: {national: http://127.0.0.1:9/national}\n", encoding="utf-8")
    validate = cli("validate", str(provinces), str(overlay))
    assert any(
        "no endpoint 'edoc'" in ln and "http://127.0.0.1:9" in ln for ln in validate.err_lines
    )
    result = cli("check", "-p", "31", "--step", "agency-eid-codes", "--endpoints", str(overlay),
                 "--provinces", str(provinces), "--no-store", "--timeout", "2")  # fmt: skip
    assert result.err_lines == [
        "cutover: note: the endpoint overlay has no 'edoc' (used by agency-eid-codes): probing "
        "the production URL http://127.0.0.1:9 from provinces.yaml",
        # The one probe meets a closed port: nothing could be evaluated.
        "cutover: error: could not evaluate: every probe was unknown",
    ]
    assert result.code == 3
