"""The five text clears (owner, task, responsible, deliverable, authority) as one text for every
language or as `{vi, en}`: both load, and every output that shows a step's owner shows it in
its own language, a plain text the same in both."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from cutover.checklist import Endpoints, Title, load_checklist
from cutover.geo import Geography

CHECKLIST = """\
id: clears
title: {vi: Sáu rõ, en: Six clears}
steps:
  - id: both
    title: {vi: Bước song ngữ, en: Bilingual step}
    due: 2025-06-28T13:00:00+07:00
    owner: {vi: Ủy ban nhân dân cấp tỉnh, en: Provincial People's Committee}
    task: {vi: Công bố danh mục thủ tục hành chính, en: Publish the list of procedures}
    responsible: {vi: Chánh Văn phòng Ủy ban nhân dân cấp tỉnh, en: Chief of the Office}
    deliverable: {vi: Danh mục được công bố, en: The published list}
    authority: {vi: Văn phòng Chính phủ, en: Government Office}
    verify: {kind: manual}
  - id: plain
    title: {vi: Bước một ngữ, en: Plain step}
    due: 2025-06-28T13:00:00+07:00
    owner: Sở Tài chính (Department of Finance)
    task: Pay a test fee
    responsible: Director
    deliverable: A receipt
    authority: Government Office
    verify: {kind: manual}
"""
OWNERS = {"vi": "Ủy ban nhân dân cấp tỉnh", "en": "Provincial People's Committee"}
PLAIN = "Sở Tài chính (Department of Finance)"
AS_OF = "2025-06-29T12:00+07:00"  # after both deadlines: both cells overdue, so listed as behind
OTHER = {"vi": "en", "en": "vi"}


@pytest.fixture
def checklist(tmp_path: Path) -> Path:
    path = tmp_path / "clears.yaml"
    path.write_text(CHECKLIST, encoding="utf-8")
    return path


def test_both_forms_load(checklist: Path, geo: Geography) -> None:
    loaded = load_checklist(str(checklist), geo, Endpoints(geo))
    both, plain = loaded.checklist.steps
    assert both.owner == Title(vi=OWNERS["vi"], en=OWNERS["en"])
    assert both.clear("authority", "vi") == "Văn phòng Chính phủ"
    assert both.clear("authority", "en") == "Government Office"
    assert plain.clear("owner", "vi") == plain.clear("owner", "en") == PLAIN
    assert not both.missing_clears() and not plain.missing_clears()
    assert loaded.warnings == ()


def test_validate_strict_accepts_both_forms(cli, checklist: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("validate", "--strict", str(checklist))
    assert (result.code, result.err) == (0, "")
    assert result.out == f"ok {checklist} (checklist clears, 2 steps)\n"


def test_the_checklist_schema_takes_both_forms_and_refuses_a_half(checklist: Path) -> None:
    import jsonschema

    from cutover import yamlio
    from cutover.schemas import schemas

    schema = schemas()["checklist"]
    data = yamlio.load_file(checklist).data
    data = json.loads(json.dumps(data, default=lambda v: v.isoformat()))
    jsonschema.validate(data, schema)
    for bad in ({"vi": OWNERS["vi"]}, {**OWNERS, "fr": "x"}, {"vi": "", "en": "x"}, ["x"]):
        data["steps"][0]["owner"] = bad
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, schema)


# --- every output that shows an owner ----------------------------------------------------------


def _check_view(cli, checklist: Path, lang: str) -> str:  # type: ignore[no-untyped-def]
    result = cli("check", "-p", "31", "--checklist", str(checklist), "--as-of", AS_OF,
                 "--lang", lang)  # fmt: skip
    assert result.code == 1, result.err  # both cells overdue
    return str(result.out)


def _matrix(cli, checklist: Path, lang: str, fmt: str, *more: str) -> str:  # type: ignore[no-untyped-def]
    _check_view(cli, checklist, lang)  # the store `matrix` reads
    result = cli("matrix", "-p", "31", "--checklist", str(checklist), "--as-of", AS_OF,
                 "--lang", lang, "--format", fmt, *more)  # fmt: skip
    assert result.code == 1, result.err
    return str(result.out)


def _owners_csv(cli, checklist: Path, lang: str, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    rows = csv.DictReader(io.StringIO(_matrix(cli, checklist, lang, "csv").lstrip("\ufeff")))
    return {row["step"]: row["owner"] for row in rows}


def _owners_json(cli, checklist: Path, lang: str, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    import jsonschema

    from cutover.render.json_schema import MATRIX_SCHEMA

    data = json.loads(_matrix(cli, checklist, lang, "json"))
    jsonschema.Draft202012Validator(MATRIX_SCHEMA).validate(data)
    return {step["id"]: step["owner"] for step in data["steps"]}


def _owners_junit(cli, checklist: Path, lang: str, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    root = ET.fromstring(_matrix(cli, checklist, lang, "junit").encode("utf-8"))
    return {
        suite.get("name", ""): prop.get("value", "")
        for suite in root.iter("testsuite")
        for prop in suite.iter("property")
        if prop.get("name") == "owner"
    }


def _owners_xlsx(cli, checklist: Path, lang: str, tmp_path: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    import openpyxl

    from cutover.render.csv import HEADER

    path = tmp_path / f"matrix.{lang}.xlsx"
    _matrix(cli, checklist, lang, f"xlsx:{path}")
    cells = openpyxl.load_workbook(path).worksheets[1]  # matrix, cells, key
    step, owner = HEADER.index("step"), HEADER.index("owner")
    return {str(row[step].value): str(row[owner].value) for row in cells.iter_rows(min_row=2)}


def _text_html(cli, checklist: Path, lang: str, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    return html.unescape(_matrix(cli, checklist, lang, "html"))  # who is behind, with owners


def _text_check(cli, checklist: Path, lang: str, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    return str(_check_view(cli, checklist, lang))


BY_STEP = {"csv": _owners_csv, "json": _owners_json, "junit": _owners_junit, "xlsx": _owners_xlsx}
AS_TEXT = {"html": _text_html, "check": _text_check}


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("fmt", sorted(BY_STEP))
def test_each_step_owner_in_the_output_language(
    cli, checklist: Path, tmp_path: Path, fmt: str, lang: str
) -> None:  # type: ignore[no-untyped-def]
    owners = BY_STEP[fmt](cli, checklist, lang, tmp_path)
    assert owners == {"both": OWNERS[lang], "plain": PLAIN}


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("fmt", sorted(AS_TEXT))
def test_the_owner_people_read_in_their_language(
    cli, checklist: Path, tmp_path: Path, fmt: str, lang: str
) -> None:  # type: ignore[no-untyped-def]
    text = AS_TEXT[fmt](cli, checklist, lang, tmp_path)
    assert OWNERS[lang] in text and PLAIN in text
    assert OWNERS[OTHER[lang]] not in text
