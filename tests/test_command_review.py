"""Command probes that leave a child behind, what a command's stderr may carry into the
reason, and `validate --strict` on `Bearer ${env:…}` under a header not named like one."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from cutover.validation import looks_secret

STEP = """\
id: review
title: {{vi: review, en: review}}
steps:
  - id: local-script
    title: {{vi: script, en: script}}
    due: 2099-01-01T00:00:00+07:00
    owner: o
    task: t
    responsible: r
    deliverable: d
    authority: a
    verify: {verify}
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def _check(cli, tmp_path: Path, verify: str, *extra: str):  # type: ignore[no-untyped-def]
    checklist = tmp_path / "local.yaml"
    checklist.write_text(STEP.format(verify=verify), encoding="utf-8")
    args = ["check", "-p", "31", "--no-store", "--format", "json", "--allow-commands"]
    return cli(*args, "--checklist", str(checklist), *extra)


def test_a_background_child_does_not_hold_the_probe(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    pid_file = tmp_path / "pid"
    verify = (
        '{kind: command, argv: [sh, -c, "sleep 300 & echo $! > \\"$1\\"; exit 0", sh, '
        f'"{pid_file}"]}}'
    )
    started = time.monotonic()
    result = _check(cli, tmp_path, verify, "--timeout", "10")
    elapsed = time.monotonic() - started
    cell = json.loads(result.out)["cells"][0]
    assert (result.code, cell["status"]) == (0, "done"), (cell, result.err)
    assert elapsed < 5, f"took {elapsed:.1f} s"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the background child outlived the probe"


def test_a_failure_keeps_its_last_words_when_a_child_holds_the_pipe(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    verify = '{kind: command, argv: [sh, -c, "sleep 300 & echo disk full >&2; exit 4"]}'
    started = time.monotonic()
    result = _check(cli, tmp_path, verify, "--timeout", "10")
    cell = json.loads(result.out)["cells"][0]
    assert time.monotonic() - started < 5
    assert cell["status"] != "done"
    assert "sh exited 4: disk full" in json.dumps(cell), cell


def test_stderr_is_masked_of_referenced_secrets_only(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the docs promise: a secret the checklist references is masked in the reason; the
    rest of cutover's environment reaches the command, and is not."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CUTOVER_T_REFERENCED", "referenced-s3cret-value")
    monkeypatch.setenv("CUTOVER_T_OTHER", "unreferenced-value")
    script = 'echo \\"$1 $CUTOVER_T_OTHER\\" >&2; exit 1'
    verify = f'{{kind: command, argv: [sh, -c, "{script}", sh, "${{env:CUTOVER_T_REFERENCED}}"]}}'
    result = _check(cli, tmp_path, verify)
    text = json.dumps(json.loads(result.out)["cells"][0])
    assert "referenced-s3cret-value" not in result.out + result.err
    assert "sh exited 1: *** unreferenced-value" in text, text


def test_a_timeout_still_reaps_the_command() -> None:
    from probe_helpers import probe

    from cutover.probes import Limits

    out = probe({"kind": "command", "argv": ["sleep", "30"]}, limits=Limits(timeout=1))
    assert (out.status, out.reason) == ("unknown", "timed out after 1 s")


@pytest.mark.parametrize(
    ("key", "value", "flagged"),
    [
        ("X-Token", "Bearer ${env:SECRET_TOK}", False),
        ("X-Auth-Token", "Token ${file:/run/secrets/t}", False),
        ("X-Token", "bearer ${env:A}", False),
        ("X-Token", "Bearer abc123def456", True),
        ("X-Token", "Bearer ${env:A} abc123", True),
        ("X-Token", "Bearer", True),
        ("X-Token", "Hunter ${env:A}", True),
        ("Authorization", "Bearer abc.def", True),
    ],
)
def test_scheme_then_reference_is_not_a_literal(key: str, value: str, flagged: bool) -> None:
    reason = looks_secret(key, value)
    assert bool(reason) is flagged, reason


def test_validate_strict_accepts_bearer_reference_in_any_header(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, in_root: Path
) -> None:
    checklist = tmp_path / "c.yaml"
    verify = (
        '{{kind: http, url: "https://portal.gov.vn/x", headers: {{X-Token: "{token}"}}, '
        "expect: {{status: 200}}}}"
    )
    checklist.write_text(
        STEP.format(verify=verify.format(token="Bearer ${env:SECRET_TOK}")), encoding="utf-8"
    )
    result = cli("validate", "--strict", "provinces.yaml", str(checklist))
    assert result.code == 0, result.err
    assert "literal" not in result.err
    checklist.write_text(
        STEP.format(verify=verify.format(token="Bearer abc123def456")), encoding="utf-8"
    )
    result = cli("validate", "--strict", "provinces.yaml", str(checklist))
    assert result.code == 2
    assert "literal value for 'X-Token'" in result.err
    assert "abc123def456" not in result.err + result.out
