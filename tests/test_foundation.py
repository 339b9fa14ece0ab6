from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cutover.checklist import load_checklist
from cutover.geo import load_geography, normalize

TELEGRAM = [
    "unit-declaration",
    "portal-closure",
    "sso-test",
    "online-filing-test",
    "dossier-sync",
    "online-payment-test",
    "promotion-notice-intake",
    "agency-eid-codes",
]


def test_provinces_list_and_totals(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("provinces", "--lang", "en")
    assert result.code == 0
    assert result.lines[0].split() == ["code", "slug", "name", "type", "units", "merged", "from"]
    assert len(result.lines) == 36
    assert result.lines[-1] == (
        "34 provinces, 3,321 units (2,621 communes, 687 wards, 13 special zones)"
    )
    assert (
        "31    hai-phong    Thành phố Hải Phòng    city        114  Hải Phòng, Hải Dương"
        in result.lines
    )


@pytest.mark.parametrize(
    "query",
    [
        "31",
        "hai-phong",
        "Hải Phòng",
        "hai phong",
        "TP. Hải Phòng",
        "HẢI PHÒNG",
        "Thành phố Hải Phòng",
        "Hai Phong City",
    ],
)
def test_every_way_to_name_a_province(query: str, cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("provinces", query, "--lang", "en")
    assert result.code == 0, result.err
    assert result.lines[0] == "31 Thành phố Hải Phòng (Hai Phong), city"
    assert len([ln for ln in result.lines if ln.startswith("  ")]) == 114


def test_unknown_province_suggests(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("provinces", "haiphon")
    assert result.code == 2
    assert result.err_lines == [
        "cutover: error: unknown province 'haiphon'; did you mean hai-phong, ha-tinh, vinh-long? "
        "(see `cutover provinces`)"
    ]


def test_province_json_has_communes(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(cli("provinces", "hue", "--format", "json").out)
    assert data["code"] == "46" and data["units"] == 40 == len(data["commune_list"])


def test_normalize() -> None:
    assert normalize("TP. Hồ Chí Minh") == normalize("Ho Chi Minh City") == "ho-chi-minh"
    assert normalize("Tỉnh Đắk Lắk") == "dak-lak"


def test_cross_check_names_both_values(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    text = (Path(__file__).parents[1] / "provinces.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "provinces.yaml"
    bad.write_text(
        text.replace("units: {communes: 67, wards: 45", "units: {communes: 66, wards: 45").replace(
            "name: Cà Mau", "name: Ca Mau"
        ),
        encoding="utf-8",
    )
    result = cli("validate", str(bad))
    assert result.code == 2
    assert len(result.err_lines) == 2
    assert result.err_lines[0].endswith(
        "provinces[12].units.communes: 66 in the file but 67 in vietnam-provinces 2025.10.1"
    )
    assert result.err_lines[1].endswith(
        "provinces[33].name: 'Ca Mau' in the file but 'Cà Mau' in vietnam-provinces 2025.10.1"
    )


def test_validate_defaults_ok(cli, in_root: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("validate", "--strict")
    assert result.code == 0, result.err
    assert result.lines == [
        "ok provinces.yaml (34 provinces, 3,321 units, matches vietnam-provinces 2025.10.1)",
        "ok checklists/cutover-2025-06.yaml (checklist cutover-2025-06, 17 steps)",
    ]


def test_strict_fails_on_missing_clears(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "c.yaml"
    f.write_text(
        "id: x\ntitle: {vi: a, en: b}\nsteps:\n  - id: a\n    title: {vi: a, en: b}\n"
        "    due: 2025-06-28T13:00:00+07:00\n    owner: me\n    verify: {kind: manual}\n",
        encoding="utf-8",
    )
    warn = cli("validate", str(f))
    assert warn.code == 0
    message = (
        f"{f}:4:5: steps[0]: step 'a' lacks task, responsible, deliverable, authority (six clears)"
    )
    assert warn.err_lines == [f"cutover: warning: {message}"]
    strict = cli("validate", "--strict", str(f))
    assert strict.code == 2
    assert strict.err_lines == [f"cutover: error: {message}"]


def test_packaged_checklist_telegram_steps(elsewhere: Path) -> None:
    from cutover.checklist import Endpoints

    geo = load_geography()
    loaded = load_checklist(None, geo, Endpoints(geo))
    steps = {s.id: s for s in loaded.checklist.steps}
    telegram = [s.id for s in loaded.checklist.steps if "telegram-2025-06-28" in s.tags]
    assert telegram == TELEGRAM
    for step_id in TELEGRAM:
        assert steps[step_id].due.isoformat() == "2025-06-28T13:00:00+07:00"
        assert not steps[step_id].missing_clears()
    assert steps["online-filing-test"].level == "commune"
    assert steps["hai-phong-commune-codes"].applies_to == ["31"]
    assert all(s.due.utcoffset() is not None for s in steps.values())


def test_packaged_checklist_writes_its_clears_in_both_languages(elsewhere: Path) -> None:
    """Vietnamese readers see Vietnamese owners, tasks and authorities, English readers the
    English ones: every text clear of the shipped checklist is a {vi, en} pair."""
    from cutover.checklist import SIX_CLEARS, Endpoints, Title

    geo = load_geography()
    steps = load_checklist(None, geo, Endpoints(geo)).checklist.steps
    for step in steps:
        for name in (c for c in SIX_CLEARS if c != "due"):
            value = getattr(step, name)
            assert isinstance(value, Title) and value.vi != value.en, (step.id, name)
    owners = {s.id: s.owner for s in steps}
    assert owners["online-filing-test"] == Title(
        vi="Ủy ban nhân dân cấp xã", en="Commune People's Committees"
    )
    authorities = {s.id: s.authority for s in steps}
    assert authorities["service-centre-addresses"] == Title(
        vi="Công điện số 90/CĐ-TTg ngày 17/6/2025 của Thủ tướng Chính phủ",
        en="Dispatch 90/CĐ-TTg of 17 June 2025",
    )


def test_schema_command(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    schemas = json.loads(cli("schema").out)
    assert {"checklist", "provinces", "overlay"} <= set(schemas)
    checklist = json.loads(cli("schema", "checklist").out)
    assert "steps" in checklist["properties"]
    assert cli("schema", "nope").code == 2


def test_schema_accepts_shipped_files() -> None:
    import jsonschema

    from cutover import yamlio
    from cutover.schemas import schemas

    root = Path(__file__).parents[1]
    for name, path in (
        ("provinces", "provinces.yaml"),
        ("checklist", "checklists/cutover-2025-06.yaml"),
    ):
        data = yamlio.load_file(root / path).data
        data = json.loads(json.dumps(data, default=lambda v: v.isoformat()))
        jsonschema.validate(data, schemas()[name])


@pytest.mark.parametrize("args", [["--help"], ["validate"], ["provinces"]])
def test_no_network_imports(args: list[str], tmp_path: Path) -> None:
    code = (
        f"import sys\nfrom cutover.cli import main\nsys.argv=['cutover', *{args!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "bad=[m for m in sys.modules if m.split('.')[0] in ('aiohttp','asyncio','ssl',"
        "'sqlite3','vietnam_provinces')]\nprint('IMPORTED', bad)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=False
    )
    assert "IMPORTED []" in run.stdout, run.stdout + run.stderr


def test_python_m_entry_point(elsewhere: Path) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "cutover", "provinces", "79", "--lang", "en"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0
    assert run.stdout.startswith("79 Thành phố Hồ Chí Minh (Ho Chi Minh City), city")


def test_only_the_store_imports_a_backend() -> None:
    """The store contract's one door: outside `cutover/store/`, modules import the contract
    (`base`), the administration facade (`admin`), and the backend-neutral evidence rules
    (`evidence`, `series`), never a backend or the SQL they share."""
    import ast

    import cutover

    allowed = {"base", "admin", "evidence", "series"}
    root = Path(cutover.__file__).parent
    found = []
    for path in sorted(root.rglob("*.py")):
        if (root / "store") in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module:
                if node.module == "cutover.store":
                    names = [alias.name for alias in node.names]
                elif node.module.startswith("cutover.store."):
                    names = [node.module.split(".")[2]]
            elif isinstance(node, ast.Import):
                names = [a.name.split(".")[2] for a in node.names if a.name.count(".") >= 2
                         and a.name.startswith("cutover.store.")]  # fmt: skip
            found += [f"{path.relative_to(root)}: {n}" for n in names if n not in allowed]
    assert found == []
