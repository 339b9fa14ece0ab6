"""The engine against the simulator: faults, timeouts, concurrency, the demo, `check`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from probe_helpers import probe

from cutover import engine, service
from cutover.checklist import Overlay
from cutover.probes import Limits
from cutover.sim.app import overlay_for

FAST = Limits(timeout=2, retries=1, backoff=0.01)


@pytest.mark.parametrize(
    ("fault", "spec_kind", "status", "reason"),
    [
        (
            {"kind": "latency", "ms": 300},
            "http-fast",
            "fail",
            "expected response within 100 ms, took",
        ),
        ({"kind": "hang"}, "http", "unknown", "timed out after 2 s"),
        ({"kind": "reset"}, "http", "unknown", "after 2 attempts"),
        ({"kind": "status", "status": 503}, "http", "fail", "expected status 200, got 503"),
        ({"kind": "invalid_json"}, "count", "unknown", "response is not valid JSON"),
        ({"kind": "oversized"}, "count", "unknown", "response body exceeds the 2,097,152 byte cap"),
        ({"kind": "redirect_loop"}, "redirect", "unknown", "redirect loop: "),
    ],
)
def test_every_fault_gives_unknown_or_failing(make_sim, fault, spec_kind, status, reason) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(faults=[{"path": "^/national/api/provinces/31/units|^/p/31/portal", **fault}])
    base = sim.base_url
    url = f"{base}/national/api/provinces/31/units"
    spec = {
        "http": {"kind": "http", "url": url},
        "http-fast": {"kind": "http", "url": url, "expect": {"max_ms": 100}},
        "count": {"kind": "count", "url": url, "path": "units", "expected": 114},
        "redirect": {"kind": "redirect", "url": f"{base}/p/31/portal/", "final_url": "^nowhere"},
    }[spec_kind]
    outcome = probe(spec, limits=FAST)
    assert outcome.status == status
    assert reason in outcome.reason, outcome.reason


def test_connection_refused_is_unknown() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = probe({"kind": "http", "url": f"http://127.0.0.1:{port}/"}, limits=FAST)
    assert out.status == "unknown" and "after 2 attempts" in out.reason


def test_5xx_is_retried_then_reported(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(faults=[{"path": "^/national/", "kind": "status", "status": 502}])
    start = time.perf_counter()
    out = probe(
        {"kind": "http", "url": f"{sim.base_url}/national/"}, limits=Limits(retries=2, backoff=0.05)
    )
    assert out.status == "fail" and out.reason.endswith("got 502")
    assert time.perf_counter() - start >= 0.15  # two backoffs: 0.05 + 0.1


def _targets_against(
    sim, tag: str | None = None, provinces: list[str] | None = None, steps: list[str] | None = None
):  # type: ignore[no-untyped-def]
    overlay = Overlay.model_validate(overlay_for(sim.base_url))
    return service.prepare(service.Selection(provinces, steps, tag), overlay)


def test_hundred_hanging_endpoints_cost_one_timeout(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(faults=[{"path": "^/national/api/communes/", "kind": "hang"}])
    ctx = _targets_against(sim, provinces=["01"], steps=["online-filing-test"])
    targets = ctx.targets[:100]
    assert len(targets) == 100
    results: list[engine.Result] = []
    start = time.perf_counter()
    asyncio.run(
        engine.run(
            targets,
            ctx.endpoints,
            Limits(jobs=128, per_host=128, timeout=1),
            allow_commands=False,
            on_result=results.append,
        )
    )
    elapsed = time.perf_counter() - start
    assert len(results) == 100
    assert {r.outcome.reason for r in results} == {"timed out after 1 s"}
    assert elapsed < 5, f"100 hanging probes took {elapsed:.1f} s; they should overlap"


def test_demo_reproduces_the_telegram(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("demo", "--format", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    totals = {k: (v["done"], v["total"]) for k, v in data["totals"].items()}
    assert totals == {
        "unit-declaration": (34, 34),
        "portal-closure": (32, 34),
        "sso-test": (33, 34),
        "online-filing-test": (8, 34),
        "dossier-sync": (32, 34),
        "online-payment-test": (21, 34),
        "promotion-notice-intake": (21, 34),
        "agency-eid-codes": (33, 34),
    }
    cells = {(c["province"], c["step"]): c for c in data["cells"]}
    assert cells[("31", "agency-eid-codes")]["status"] == "at-risk"
    assert (
        cells[("31", "agency-eid-codes")]["reason"]
        == "0 valid codes published, expected 114; due now"
    )
    filing = cells[("31", "online-filing-test")]
    assert filing["communes"]["total"] == 114 and 0 < filing["communes"]["done"] < 114


def test_demo_table_totals_row(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("demo")
    assert result.code == 0
    totals = next(line for line in result.lines if line.startswith("done"))
    assert totals.split() == [
        "done",
        "34/34",
        "32/34",
        "33/34",
        "8/34",
        "32/34",
        "21/34",
        "21/34",
        "33/34",
    ]
    assert sum(1 for line in result.lines if line[:2].isdigit()) == 34
    assert all(len(line) <= 100 for line in result.lines)


def test_check_one_province(cli, telegram_sim, overlay_file, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    overlay = overlay_file(telegram_sim.base_url)
    result = cli(
        "check",
        "--province",
        "Hải Phòng",
        "--tag",
        "telegram-2025-06-28",
        "--endpoints",
        str(overlay),
        "--as-of",
        "2025-06-28T13:00+07:00",
    )
    assert result.code == 1, result.err
    owner = "Provincial People's Committee Office"
    assert result.lines[0] == "31 Thành phố Hải Phòng"
    assert f"  ✓ done      unit-declaration         due 28/06 13:00  {owner}" in result.lines
    eid = [line for line in result.lines if "agency-eid-codes" in line]
    assert eid == [
        f"  ! at-risk   agency-eid-codes         due 28/06 13:00  {owner}  "
        "0 valid codes published, expected 114; due now"
    ]


def test_check_after_deadline_is_overdue(cli, telegram_sim, overlay_file, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    overlay = overlay_file(telegram_sim.base_url)
    result = cli(
        "check",
        "-p",
        "31",
        "--step",
        "agency-eid-codes",
        "--endpoints",
        str(overlay),
        "--as-of",
        "2025-06-29T13:00+07:00",
        "--format",
        "json",
    )
    cell = json.loads(result.out)["cells"][0]
    assert (cell["status"], cell["reason"]) == (
        "overdue",
        "0 valid codes published, expected 114; due 24 h ago",
    )


def test_check_all_done_exits_0(cli, make_sim, overlay_file, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    overlay = overlay_file(make_sim().base_url)
    result = cli("check", "-p", "hue", "--tag", "telegram-2025-06-28", "--endpoints", str(overlay))
    assert result.code == 0, result.out


def test_check_everything_unknown_exits_3(cli, tmp_path: Path, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    overlay = overlay_file_for(tmp_path, f"http://127.0.0.1:{port}")
    result = cli(
        "check",
        "-p",
        "31",
        "--tag",
        "telegram-2025-06-28",
        "--endpoints",
        str(overlay),
        "--timeout",
        "2",
    )
    assert result.code == 3, result.out
    assert "Traceback" not in result.err


def overlay_file_for(tmp_path: Path, base: str) -> Path:
    from cutover.yamlio import dump

    path = tmp_path / "unreachable.yaml"
    path.write_text(dump(overlay_for(base)), encoding="utf-8")
    return path


def test_check_usage_errors(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("check").err_lines == [
        "cutover: error: name provinces with --province P (repeatable) or use --all"
    ]
    bad = cli("check", "-p", "nowhere")
    assert bad.code == 2 and bad.err_lines[0].startswith(
        "cutover: error: unknown province 'nowhere'"
    )
    step = cli("check", "-p", "31", "--step", "portal-closur")
    assert step.err_lines == [
        "cutover: error: unknown step 'portal-closur' (did you mean "
        "'portal-closure'?) in checklist cutover-2025-06"
    ]
    assert cli("check", "--all", "--jobs", "0").code == 2


def test_ctrl_c_exits_130_and_keeps_results(make_sim, overlay_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(faults=[{"path": "^/national/api/communes/", "kind": "hang"}])
    overlay = overlay_file(sim.base_url)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cutover",
            "check",
            "--all",
            "--tag",
            "telegram-2025-06-28",
            "--endpoints",
            str(overlay),
            "--timeout",
            "60",
            "--format",
            "json",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(tmp_path / "store.db")},
    )
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    kept = json.loads(out)
    done = sum(1 for c in kept["cells"] if c["status"] == "done")
    assert done > 0  # province-level probes finished before the interrupt and were kept
    assert "interrupted: kept" in err
