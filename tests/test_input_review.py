"""Input review: overlays, checklists, scenarios and commands that were accepted (or failed
late, or with a misleading message) and are now one located error line at load time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

STEP = """\
id: t
title: {{vi: Thử, en: Test}}
steps:
  - id: one
    title: {{vi: Một, en: One}}
    due: 2025-06-28T13:00:00+07:00
{body}"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def one_error(result, where: str) -> str:  # type: ignore[no-untyped-def]
    """The single error line of a failed command, which starts with `where`."""
    errors = [line for line in result.err_lines if line.startswith("cutover: error: ")]
    assert result.code == 2, result.err
    assert len(errors) == 1, result.err
    assert "Traceback" not in result.err and "internal error" not in result.err
    line: str = errors[0].removeprefix("cutover: error: ")
    assert line.startswith(where), line
    return line


# -- 1. endpoint overlays ----------------------------------------------------------------


def test_overlay_with_an_unknown_province_code(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    overlay = write(elsewhere, "ov.yaml", 'provinces:\n  "99":\n    portal: https://x.example\n')
    for args in (
        ["validate", str(overlay)],
        ["check", "-p", "31", "--endpoints", str(overlay), "--no-store"],
    ):
        line = one_error(cli(*args), f"{overlay}:2:3: provinces.99: ")
        assert line.endswith("unknown province code '99'")


def test_overlay_keyed_by_a_province_name_says_which_code(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    overlay = write(
        elsewhere, "ov.yaml", "provinces:\n  hai-phong:\n    portal: https://x.example\n"
    )
    line = one_error(cli("validate", str(overlay)), f"{overlay}:2:3: provinces.hai-phong: ")
    assert "two-digit province code" in line and "'31'" in line and "Hải Phòng" in line


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://[::1", "IPv6"),
        ("https://portal.example:99999", "port is out of range"),
        ("https://portal.example:0", "port 0"),
        ("https://portal.example:abc/x", "not a number"),
        ("https:///path", "no host"),
        ("https://por tal.example/", "characters a host name cannot have"),
        ("https://user:hunter2secret@[::1", "IPv6"),
    ],
)
def test_overlay_with_an_invalid_url(cli, elsewhere: Path, url: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    overlay = write(elsewhere, "ov.yaml", f'endpoints:\n  national: "{url}"\n')
    for args in (
        ["validate", str(overlay)],
        ["check", "-p", "31", "--endpoints", str(overlay), "--no-store"],
    ):
        result = cli(*args)
        line = one_error(result, f"{overlay}:2:3: endpoints.national: not a valid URL")
        assert reason in line
        assert "hunter2secret" not in result.err + result.out  # the URL is never quoted


def test_checklist_url_without_placeholders_is_checked_at_load(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    body = "    verify: {kind: http, url: 'http://[::1/x'}\n"
    checklist = write(elsewhere, "c.yaml", STEP.format(body=body))
    line = one_error(cli("validate", str(checklist)), f"{checklist}:7:")
    assert "steps[0].verify.url: not a valid URL" in line


def test_urls_with_placeholders_or_references_are_left_to_run_time(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path
) -> None:
    overlay = write(
        elsewhere,
        "ov.yaml",
        "endpoints:\n"
        "  national: https://${env:NATIONAL_HOST}/api\n"
        "  sso: https://${env:SSO_USER}:${file:sso.pass}@sso.example:8443\n"
        "province_endpoints:\n"
        "  portal: https://{province.slug}.portal.example\n",
    )
    result = cli("validate", str(overlay))
    assert result.code == 0, result.err


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://h/${env:}", "malformed secret reference ${env:}"),
        ("https://h/${env:BAD NAME}", "malformed secret reference ${env:BAD NAME}"),
        ("https://h/${file:}", "malformed secret reference ${file:}"),
        ("https://h/${evn:TOKEN}", "malformed secret reference ${evn:TOKEN}"),
        ("https://h/${env:TOKEN", "unclosed secret reference ${env:TOKEN"),
    ],
)
def test_overlay_with_a_malformed_secret_reference(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path, value: str, message: str
) -> None:
    overlay = write(elsewhere, "ov.yaml", f'endpoints:\n  national: "{value}"\n')
    line = one_error(cli("validate", str(overlay)), f"{overlay}:2:3: endpoints.national: ")
    assert message in line


def test_checklist_header_with_a_bad_environment_name(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    body = (
        "    verify:\n"
        "      kind: http\n"
        "      url: https://h.example/\n"
        '      headers: {Authorization: "Bearer ${env:MY TOKEN}"}\n'
    )
    checklist = write(elsewhere, "c.yaml", STEP.format(body=body))
    line = one_error(
        cli("validate", str(checklist)), f"{checklist}:10:17: steps[0].verify.headers.Authorization"
    )
    assert "malformed secret reference ${env:MY TOKEN}" in line


def test_a_valid_reference_is_never_shown_with_its_value(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PORTAL_TOKEN", "s3cr3t-Value-9f8e7d")
    overlay = write(
        elsewhere,
        "ov.yaml",
        "endpoints:\n"
        "  national: https://h.example/?token=${env:PORTAL_TOKEN}\n"
        "  sso: https://h.example:70000/?token=${env:PORTAL_TOKEN}\n",
    )
    for args in (
        ["validate", str(overlay)],
        ["check", "-p", "31", "--endpoints", str(overlay), "--no-store"],
    ):
        result = cli(*args)
        one_error(result, f"{overlay}:3:3: endpoints.sso: not a valid URL")
        assert "s3cr3t" not in result.err + result.out


# -- 4. messages -------------------------------------------------------------------------


def test_a_key_of_a_nested_model_is_suggested_with_its_path(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    body = "    verify:\n      kind: http\n      url: https://h.example/\n      status: 200\n"
    checklist = write(elsewhere, "c.yaml", STEP.format(body=body))
    line = one_error(cli("validate", str(checklist)), f"{checklist}:10:7: steps[0].verify.status")
    assert line.endswith("unknown key 'status' (did you mean expect.status?)")


def test_a_misspelt_key_still_gets_the_closest_name(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    body = "    verify:\n      kind: http\n      url: https://h.example/\n      headerz: {}\n"
    checklist = write(elsewhere, "c.yaml", STEP.format(body=body))
    line = one_error(cli("validate", str(checklist)), f"{checklist}:10:7: steps[0].verify.headerz")
    assert line.endswith("unknown key 'headerz' (did you mean 'headers'?)")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("hai-phong", "write '31' for Thành phố Hải Phòng"),
        ("Sài Gòn", "write '79' for Thành phố Hồ Chí Minh"),
        ("zzz", "expected a two-digit province code such as '01', got 'zzz'"),
    ],
)
def test_applies_to_with_a_name_says_what_to_write(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path, given: str, expected: str
) -> None:
    body = f"    applies_to: [{given}]\n    verify: {{kind: manual}}\n"
    checklist = write(elsewhere, "c.yaml", STEP.format(body=body))
    line = one_error(cli("validate", str(checklist)), f"{checklist}:7:18: steps[0].applies_to[0]: ")
    assert expected in line
    assert "String should match" not in line and "pattern" not in line


# -- 2. sim serve --write-overlay --------------------------------------------------------


def test_write_overlay_into_a_missing_directory(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    target = elsewhere / "missing" / "ov.yaml"
    result = cli("sim", "serve", "--port", "0", "--write-overlay", str(target))
    line = one_error(result, f"--write-overlay: {target}: no such directory")
    assert line.endswith(str(target.parent))


def refused(folder: Path, *args: str) -> str:
    """The one error line of `cutover ARGS` run as a process (bounded in time: a simulator
    that starts instead of refusing would serve until stopped)."""
    env = {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(folder / "x.db")}
    run = subprocess.run(
        [sys.executable, "-m", "cutover", *args],
        capture_output=True, text=True, cwd=folder, env=env, timeout=30, check=False,
    )  # fmt: skip
    assert run.returncode == 2 and run.stdout == "", run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("cutover: error: "), run.stderr
    return lines[0].removeprefix("cutover: error: ")


def test_write_overlay_refuses_what_it_did_not_write(tmp_path: Path) -> None:
    serve = ("sim", "serve", "--port", "0", "--write-overlay")
    mine = write(tmp_path, "mine.yaml", "endpoints: {national: https://portal.example}\n")
    assert "is not an overlay the simulator wrote" in refused(tmp_path, *serve, str(mine))
    assert mine.read_text() == "endpoints: {national: https://portal.example}\n"
    folder = tmp_path / "folder"
    folder.mkdir()
    line = refused(tmp_path, *serve, str(folder))
    assert line.endswith("is a directory; give the path of a new file")
    link = tmp_path / "link.yaml"
    link.symlink_to(mine)
    assert "is a symbolic link" in refused(tmp_path, *serve, str(link))


def _serve_once(folder: Path, overlay: Path) -> list[str]:
    """Start `sim serve --write-overlay`, read its first four lines, stop it with Ctrl-C."""
    env = {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(folder / "x.db")}
    server = subprocess.Popen(
        [sys.executable, "-m", "cutover", "sim", "serve", "--port", "0",
         "--write-overlay", str(overlay)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=folder, env=env,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(4)]
    finally:
        server.send_signal(signal.SIGINT)
        _, err = server.communicate(timeout=30)
    assert "Traceback" not in err
    return lines


def test_write_overlay_rewrites_its_own_file_whole(tmp_path: Path) -> None:
    overlay = tmp_path / "ov.yaml"
    first = _serve_once(tmp_path, overlay)
    assert first[0].strip() == f"overlay written to {overlay}"
    before = overlay.read_text()
    second = _serve_once(tmp_path, overlay)  # the usual workflow: the same path again
    assert second[0].strip() == f"overlay written to {overlay}"
    after = overlay.read_text()
    assert before != after  # a new port
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "x.db") == ["ov.yaml"]


# -- 3. simulator scenarios --------------------------------------------------------------

SCENARIO = 'id: s\ntitle: S\nas_of: "2025-06-28T13:00:00+07:00"\nfeatures:\n{features}'


@pytest.mark.parametrize("command", ["sim", "demo"])
@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            SCENARIO.format(features='  portal_closed:\n    failing: ["99"]\n'),
            "6:15: features.portal_closed.failing[0]",
            "unknown province code '99'",
        ),
        (
            SCENARIO.format(features="  portal_closed:\n    passing: [hai-phong]\n"),
            "6:15: features.portal_closed.passing[0]",
            "write '31' for Thành phố Hải Phòng",
        ),
        (
            'id: s\ntitle: S\nas_of: "2025-06-31T13:00:00+07:00"\n',
            "3:1: as_of",
            "impossible date '2025-06-31T13:00:00+07:00': day is out of range for month",
        ),
        (
            'id: s\ntitle: S\nas_of: "9999-12-31T23:00:00-05:00"\n',
            "3:1: as_of",
            "9999-12-31T23:00:00-05:00 is outside 2000-2100",
        ),
        (
            "id: s\ntitle: S\nas_of: 9999-12-31T23:00:00-05:00\n",  # a YAML timestamp
            "3:1: as_of",
            "9999-12-31T23:00:00-05:00 is outside 2000-2100",
        ),
        (
            'id: s\ntitle: S\nas_of: "28/06/2025 13:00"\n',
            "3:1: as_of",
            "not an ISO 8601 date-time: '28/06/2025 13:00'",
        ),
        (
            SCENARIO.format(features="  portal_close:\n    failing: []\n"),
            "5:3: features.portal_close",
            "unknown feature 'portal_close' (did you mean 'portal_closed'?)",
        ),
    ],
)
def test_a_bad_scenario_is_located(  # type: ignore[no-untyped-def]
    tmp_path: Path, command: str, text: str, where: str, message: str
) -> None:
    scenario = write(tmp_path, "scenario.yaml", text)
    args = ["sim", "serve", "--port", "0"] if command == "sim" else ["demo"]
    line = refused(tmp_path, *args, "--scenario", str(scenario))
    assert line.startswith(f"{scenario}:{where}: "), line
    assert message in line
    assert "--as-of" not in line


def test_validate_knows_a_scenario(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    good = write(elsewhere, "good.yaml", "id: s\ntitle: S\nas_of: 2025-06-28T13:00:00+07:00\n")
    result = cli("validate", str(good))
    assert result.code == 0 and f"ok {good} (simulator scenario s)" in result.out, result.err
    bad = write(elsewhere, "bad.yaml", SCENARIO.format(features="  sso_client: {failing: [5]}\n"))
    one_error(
        cli("validate", str(bad)),
        f"{bad}:5:26: features.sso_client.failing[0]: unknown province code '05'",
    )


def test_a_command_probe_without_the_option_says_which_option(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    body = "    verify: {kind: command, argv: ['true']}\n"
    checklist = write(elsewhere, "c.yaml", STEP.format(body=body))
    base = ["check", "-p", "31", "--checklist", str(checklist), "--no-store", "--format", "json"]
    refused = cli(*base)
    cell = json.loads(refused.out)["cells"][0]
    assert cell["status"] == "unknown"
    assert "--allow-commands" in cell["reason"], cell["reason"]
    allowed = cli(*base, "--allow-commands")
    assert json.loads(allowed.out)["cells"][0]["status"] == "done", allowed.out


# -- 5. minor ----------------------------------------------------------------------------


def test_mark_takes_the_step_number_check_shows(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    shown = cli("check", "-p", "31", "--step", "15", "--no-store", "--lang", "en")
    assert "  15  Network switchover and trial operation" in shown.out, shown.err
    marked = cli("mark", "31", "15", "--by", "Nguyễn Văn A", "--evidence", "https://x.example/e")
    assert marked.code == 0, marked.err
    assert "31 network-switchover done by Nguyễn Văn A" in marked.out
    by_id = cli("mark", "31", "network-switchover", "--by", "B", "--evidence", "https://x.example")
    assert by_id.code == 0, by_id.err
    too_far = cli("mark", "31", "40", "--by", "A", "--evidence", "https://x.example/e")
    assert too_far.err_lines == [
        "cutover: error: no step 40 in checklist cutover-2025-06: its steps are numbered "
        "1-17, as check shows them (or give the step's id)"
    ]
    assert too_far.code == 2


def test_one_special_zone_is_singular_in_english(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    english = cli("provinces", "HCM", "--lang", "en").out.splitlines()
    assert "units: 168 (54 communes, 113 wards, 1 special zone)" in english
    vietnamese = cli("provinces", "HCM", "--lang", "vi").out.splitlines()
    assert "đơn vị hành chính cấp xã: 168 (54 xã, 113 phường, 1 đặc khu)" in vietnamese
    totals = cli("provinces", "--lang", "en").out.splitlines()[-1]
    assert totals == "34 provinces, 3,321 units (2,621 communes, 687 wards, 13 special zones)"


def test_the_short_way_of_check_url_accepts_nothing_the_full_check_refuses() -> None:
    """`check_url` runs on every rendered probe, so common URLs skip `url_problem`; over
    random URLs built from the characters that matter, the short way must never accept one
    that the full check refuses."""
    import random

    from cutover.geo import _PLAIN_URL, url_problem

    alphabet = "ab0.-:/?#[]@ x%{}$"
    rnd = random.Random(20251124)
    accepted = 0
    for _ in range(200_000):
        url = rnd.choice(("http://", "https://")) + "".join(
            rnd.choice(alphabet) for _ in range(rnd.randint(0, 12))
        )
        short = _PLAIN_URL.match(url)
        if short is not None and (short["port"] is None or 0 < int(short["port"]) < 65536):
            accepted += 1
            assert url_problem(url) is None, url
    assert accepted > 1_000  # the sample does exercise the short way


# --- placeholders in an overlay, and deadlines at the ends of the calendar ------------------


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        (
            'province_endpoints:\n  portal: "http://127.0.0.1:9/p/{province.cod}/portal"\n',
            "2:3: province_endpoints.portal",
            "unknown placeholder {province.cod} (did you mean 'province.code'?)",
        ),
        (
            'province_endpoints:\n  portal: "http://127.0.0.1:9/{commune.code}"\n',
            "2:3: province_endpoints.portal",
            "unknown placeholder {commune.code}",
        ),
        (
            'province_endpoints:\n  portal: "http://127.0.0.1:9/{slug}"\n',
            "2:3: province_endpoints.portal",
            "a brace that is not a placeholder",
        ),
        (
            'endpoints:\n  national: "http://127.0.0.1:9/{province.code}/x"\n',
            "2:3: endpoints.national",
            "a fixed URL takes no placeholder",
        ),
        (
            'provinces:\n  "31": {portal: "http://127.0.0.1:9/{province.slug}"}\n',
            "2:10: provinces.31.portal",
            "a fixed URL takes no placeholder",
        ),
    ],
)
def test_overlay_placeholders_are_checked_when_loaded(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path, text: str, where: str, message: str
) -> None:
    """A typo in a pattern ended every command that rendered it in an internal error; a
    placeholder in a fixed URL was sent to the server as written and failed the cell."""
    overlay = write(elsewhere, "ov.yaml", text)
    for args in (
        ["validate", str(overlay)],
        [
            "check",
            "-p",
            "31",
            "--step",
            "portal-closure",
            "--endpoints",
            str(overlay),
            "--no-store",
        ],
    ):
        assert message in one_error(cli(*args), f"{overlay}:{where}: ")


@pytest.mark.parametrize("due", ["9999-12-31T23:00:00+00:00", "0001-01-01T00:00:00+07:00"])
def test_a_deadline_outside_the_years_the_tool_reads_is_refused(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path, due: str
) -> None:
    """Such a date passed `validate` and then ended `check`, `matrix` and `summary` with an
    OverflowError (the time zone arithmetic leaves the calendar)."""
    body = "    verify: {kind: manual}\n"
    checklist = write(
        elsewhere, "c.yaml", STEP.format(body=body).replace("2025-06-28T13:00:00+07:00", due)
    )
    for args in (["validate", str(checklist)], ["matrix", "--checklist", str(checklist)]):
        line = one_error(cli(*args), f"{checklist}:6:")
        assert f"steps[0].due: {due} is outside 2000-2100" in line


def test_commands_that_probe_nothing_do_not_need_the_overlay(  # type: ignore[no-untyped-def]
    cli, elsewhere: Path, make_sim, overlay_file
) -> None:
    """A checklist whose endpoint only the officer's overlay defines: `check` gets the overlay,
    and the commands that only read or record (`matrix`, `mark`, `history`) need not, since
    they render no URL.  `check` without it still refuses the unknown name."""
    sim = make_sim()
    overlay = write(elsewhere, "ov.yaml", f"endpoints:\n  own: {sim.base_url}\n")
    body = "    level: province\n    verify: {kind: http, url: '{endpoint.own}/healthz'}\n"
    checklist = write(elsewhere, "c.yaml", STEP.format(body=body))
    db = str(elsewhere / "own.db")
    ran = cli("check", "-p", "31", "--checklist", str(checklist), "--endpoints", str(overlay),
              "--db", db, "--format", "json")  # fmt: skip
    assert ran.code in (0, 1), ran.err
    for args in (
        ["matrix", "--format", "json"],
        ["history", "31", "one"],
        ["mark", "31", "one", "--by", "x", "--evidence", "https://e.gov.vn/x"],
    ):
        result = cli(*args, "--checklist", str(checklist), "--db", db)
        assert result.code in (0, 1), (args, result.err)
    refused = cli("check", "-p", "31", "--checklist", str(checklist), "--no-store")
    assert "template names unknown endpoint 'own'" in one_error(refused, f"{checklist}:")


def test_an_overlay_pattern_encodes_province_values_as_a_probe_url_does(geo) -> None:  # type: ignore[no-untyped-def]
    """The rule of a probe's URL (`templates`, syntax "url"): a value in a path is encoded,
    one that stands for the host is not."""
    from cutover.checklist import Endpoints, Overlay

    overlay = Overlay.model_validate(
        {"province_endpoints": {
            "named": "http://h.example/p/{province.name}?code={province.code}",
            "host": "https://{province.slug}.example.gov.vn",
        }}
    )  # fmt: skip
    values = Endpoints(geo, overlay).for_province(geo.by_code["31"])
    assert values["named"] == (
        "http://h.example/p/Th%C3%A0nh%20ph%E1%BB%91%20H%E1%BA%A3i%20Ph%C3%B2ng?code=31"
    )
    assert values["host"] == "https://hai-phong.example.gov.vn"


def test_demo_as_of_outside_the_years_is_one_line(tmp_path: Path) -> None:
    """It ended in an internal error (OverflowError), where matrix --as-of is refused."""
    line = refused(tmp_path, "demo", "--as-of", "9999-12-31T23:00:00-05:00")
    assert line == "--as-of: '9999-12-31T23:00:00-05:00' is outside 2000-2100", line
