"""The engine against the simulator: faults, timeouts, concurrency, the demo, `check`."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from pathlib import Path

import pytest
from conftest import DEMO_AS_OF, DEMO_TAG
from probe_helpers import RUN_AT, engine_env, probe
from store_helpers import interrupted_check

from cutover import engine, plan, service
from cutover.checklist import Endpoints, Overlay, Step
from cutover.probes import Limits
from cutover.probes.http import HttpSpec
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
        ({"kind": "status", "status": 503}, "http", "unknown", "503 after 2 attempts"),
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


def test_5xx_is_retried_then_unknown(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(faults=[{"path": "^/national/", "kind": "status", "status": 502}])
    start = time.perf_counter()
    url = f"{sim.base_url}/national/"
    out = probe({"kind": "http", "url": url}, limits=Limits(retries=2, backoff=0.05))
    assert (out.status, out.reason) == (
        "unknown",
        f"{url}: service unavailable: 502 after 3 attempts",
    )
    assert time.perf_counter() - start >= 0.15  # two backoffs: 0.05 + 0.1


def test_an_expected_5xx_is_an_answer(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(faults=[{"path": "^/national/", "kind": "status", "status": 503}])
    spec = {"kind": "http", "url": f"{sim.base_url}/national/", "expect": {"status": 503}}
    assert probe(spec, limits=FAST).status == "pass"


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
            **engine_env(),
        )
    )
    elapsed = time.perf_counter() - start
    assert len(results) == 100
    assert {r.outcome.reason for r in results} == {"timed out after 1 s"}
    assert elapsed < 5, f"100 hanging probes took {elapsed:.1f} s; they should overlap"


def test_demo_reproduces_the_telegram(cli, demo_db: Path, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    """The session's demo store (conftest.py) read back as JSON at the scenario's time; the
    `demo` command's own output and exit code are checked by the test below, the one demo run
    of this file."""
    result = cli("matrix", "--db", str(demo_db), "--tag", DEMO_TAG, "--as-of", DEMO_AS_OF,
                 "--format", "json")  # fmt: skip
    assert (result.code, result.err) == (1, "")  # `matrix` exits 1 while cells are not done
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
    """`cutover demo` itself, end to end (the simulator, `check --all`'s path, its default
    table): the only test that runs the command, so it keeps a demo run of its own."""
    result = cli("demo", "--lang", "en")
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
    assert sum(1 for line in result.lines if re.match(r"^\d\d \S", line)) == 34
    assert all(len(line) <= 80 for line in result.lines)  # COLUMNS unset, not a terminal: 80


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
    assert result.err == ""
    assert result.lines[:11] == [
        "31 Thành phố Hải Phòng: 2/8 nhiệm vụ chưa hoàn thành",
        "   9  Kiểm thử nộp hồ sơ, dịch vụ trực tuyến; 100% xã, phường, đặc khu thử",
        "      nghiệm ít nhất một lần",
        "      ! có nguy cơ chậm · hạn 28/06 13:00 · chủ trì: Ủy ban nhân dân cấp xã",
        "      87/114 xã hoàn thành; Phường Hồng Bàng: test filings: 0, expected >= 1;",
        "      đến hạn",
        "  13  Công bố, cập nhật mã định danh điện tử cơ quan trên Cổng Dịch vụ công quốc",
        "      gia và Trục liên thông văn bản quốc gia",
        "      ! có nguy cơ chậm · hạn 28/06 13:00",
        "      chủ trì: Văn phòng Ủy ban nhân dân cấp tỉnh",
        "      0 valid codes published, expected 114; đến hạn",
    ]
    # Then the totals row, the verdict, and the communes still missing, by name.
    verdict = result.lines.index(
        "Chưa sẵn sàng: 2/8 ô chưa hoàn thành (2 có nguy cơ chậm) tại 1 tỉnh, thành phố."
    )
    totals = ["hoàn", "thành", *["1/1"] * 3, "0/1", *["1/1"] * 3, "0/1"]
    assert result.lines[verdict - 1].split() == totals
    assert result.lines[verdict + 2 : verdict + 4] == [
        "Các xã, phường, đặc khu chưa hoàn thành tại 31 Thành phố Hải Phòng, nhiệm vụ 9",
        "  (27/114):",
    ]
    assert "Phường Hồng Bàng (11311)" in result.out.split("nhiệm vụ 9")[-1]


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
    returncode, out, err = interrupted_check(
        overlay, tmp_path / "store.db", tmp_path, signal.SIGINT, "--format", "json"
    )
    assert returncode == 130, err
    assert "Traceback" not in err
    kept = json.loads(out)
    done = sum(1 for c in kept["cells"] if c["status"] == "done")
    assert done > 0  # province-level probes finished before the interrupt and were kept
    assert "interrupted: kept" in err


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from fault_server import FaultServer

    with FaultServer(tmp_path_factory.mktemp("faults")) as server:
        yield server


def _steps(specs: dict[str, dict[str, object]]) -> list[Step]:
    return [
        Step.model_validate(
            {
                "id": step_id,
                "title": {"vi": step_id, "en": step_id},
                "due": "2099-01-01T00:00:00+07:00",
                "verify": spec,
            }
        )
        for step_id, spec in specs.items()
    ]


def _run(targets, endpoints, limits, **kwargs) -> tuple[list[engine.Result], float]:  # type: ignore[no-untyped-def]
    results: list[engine.Result] = []
    start = time.perf_counter()
    asyncio.run(
        engine.run(
            targets,
            endpoints,
            limits,
            allow_commands=True,
            on_result=results.append,
            **engine_env(),
            **kwargs,
        )
    )
    return results, time.perf_counter() - start


def test_healthy_paths_of_a_host_where_others_hang_stay_done(geo, faults) -> None:  # type: ignore[no-untyped-def]
    """34 healthy and 34 hanging probes on one host, with the default per-host limit of 16:
    queueing behind the hanging ones is not counted against the healthy ones' timeout, and
    the hanging ones cost about one timeout, not one per batch of 16."""
    steps = _steps(
        {
            "healthy": {"kind": "http", "url": faults.url("/ok?p={province.code}")},
            "hanging": {"kind": "http", "url": faults.url("/hang?p={province.code}")},
        }
    )
    targets = plan.build(geo.provinces, steps)
    limits = Limits(jobs=64, per_host=16, timeout=2)
    results, elapsed = _run(targets, Endpoints(geo), limits)
    by_step: dict[str, set[tuple[str, str]]] = {}
    for r in results:
        by_step.setdefault(r.step, set()).add((r.outcome.status, r.outcome.reason))
    assert by_step == {"healthy": {("pass", "")}, "hanging": {("unknown", "timed out after 2 s")}}
    assert elapsed < 2 * limits.timeout, f"took {elapsed:.1f} s: more than about one timeout"


def test_a_probe_that_raises_costs_one_cell_and_is_logged(
    geo, faults, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:  # type: ignore[no-untyped-def]
    from cutover.probes.count import CountSpec

    async def broken(self: CountSpec, ctx: object) -> None:
        raise KeyError("a bug in a probe")

    monkeypatch.setattr(CountSpec, "run", broken)
    steps = _steps(
        {
            "buggy": {"kind": "count", "url": faults.url("/ok"), "expected": 3},
            "fine": {"kind": "http", "url": faults.url("/ok")},
        }
    )
    targets = plan.build([geo.by_code["31"], geo.by_code["01"]], steps)
    results, _ = _run(targets, Endpoints(geo), FAST)
    outcomes = {(r.province, r.step): (r.outcome.status, r.outcome.reason) for r in results}
    assert outcomes == {
        ("31", "buggy"): ("unknown", "probe error: KeyError: 'a bug in a probe'"),
        ("01", "buggy"): ("unknown", "probe error: KeyError: 'a bug in a probe'"),
        ("31", "fine"): ("pass", ""),
        ("01", "fine"): ("pass", ""),
    }
    assert {r.at for r in results} == {RUN_AT}  # stamped by the caller's clock, crashes too
    crashes = [r for r in caplog.records if r.name == "cutover.engine"]
    assert [r.getMessage() for r in crashes] == [
        "probe 31 buggy raised KeyError",
        "probe 01 buggy raised KeyError",
    ]
    assert all("in broken" in (r.exc_text or "") for r in crashes)


def test_template_values_are_escaped_in_regexes_only() -> None:
    from cutover.probes.redirect import RedirectSpec

    spec = RedirectSpec.model_validate(
        {
            "kind": "redirect",
            "url": "{endpoint.portal}/",
            "final_url": "^{endpoint.national}(/|$)",
            "notice": "{province.name}",
        }
    )
    values = {
        "endpoint.portal": "https://dichvucong.haiphong.gov.vn",
        "endpoint.national": "https://dichvucong.gov.vn",
        "province.name": "Hải Phòng (TP.)",
    }
    concrete = engine.render_spec(spec, values)
    assert isinstance(concrete, RedirectSpec)
    assert concrete.url == "https://dichvucong.haiphong.gov.vn/"
    assert concrete.final_url == r"^https://dichvucong\.gov\.vn(/|$)"
    assert concrete.notice == r"Hải\ Phòng\ \(TP\.\)"
    http = engine.render_spec(
        HttpSpec.model_validate(
            {
                "kind": "http",
                "url": "{endpoint.portal}/api",
                "expect": {
                    "headers": {"Location": "^{endpoint.portal}"},
                    "json": [
                        {"path": "home", "op": "matches", "value": "^{endpoint.portal}/?$"},
                        {"path": "name", "value": "{province.name}"},
                    ],
                },
            }
        ),
        values,
    )
    assert isinstance(http, HttpSpec)
    assert http.expect.headers == {"Location": r"^https://dichvucong\.haiphong\.gov\.vn"}
    checks = [c.value for c in http.expect.json_checks]
    assert checks == [r"^https://dichvucong\.haiphong\.gov\.vn/?$", "Hải Phòng (TP.)"]


def test_command_values_stay_one_argument_each() -> None:
    from cutover.probes.command import CommandSpec

    spec = CommandSpec.model_validate({"kind": "command", "argv": ["check", "{province.name}"]})
    concrete = engine.render_spec(spec, {"province.name": "x; rm -rf / $(id)"})
    assert isinstance(concrete, CommandSpec)
    assert concrete.argv == ["check", "x; rm -rf / $(id)"]


def _one_at_a_time(app, specs_for, geo, provinces: int) -> list[engine.Result]:  # type: ignore[no-untyped-def]
    """Serve aiohttp `app` on 127.0.0.1 and run the steps `specs_for(port)` of the first
    `provinces` of `geo` through the engine, one probe after another (jobs 1)."""
    from aiohttp import web

    results: list[engine.Result] = []

    async def go() -> None:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            await engine.run(
                plan.build(geo.provinces[:provinces], _steps(specs_for(runner.addresses[0][1]))),
                Endpoints(geo),
                Limits(jobs=1, per_host=1, timeout=5, retries=0),
                allow_commands=False,
                on_result=results.append,
                **engine_env(),
            )
        finally:
            await runner.cleanup()

    asyncio.run(go())
    return results


def test_probes_share_no_cookies_and_a_redirect_chain_keeps_its_own(geo) -> None:  # type: ignore[no-untyped-def]
    """A portal on loopback, named `localhost` (aiohttp keeps no cookies from an IP
    address), that remembers a visitor by a cookie, probed one province after another: a
    cookie one probe's response set is never sent by the next, so each province's cell is
    what a fresh visitor sees; within one redirect chain the cookie set on a hop is sent on
    the next, as a browser would.  `/who` says whether the request carried a cookie;
    `/start` sets one and sends the visitor to `/check`, which sends those with it on to
    `/closed` and those without back to `/start` (a loop), and `/start` answers a visitor
    who already has it with a page of its own."""
    from aiohttp import web

    def who(request: web.Request) -> web.Response:
        answer = web.Response(text="known" if "seen" in request.cookies else "fresh")
        answer.set_cookie("seen", "1")
        return answer

    def start(request: web.Request) -> web.Response:
        if "gate" in request.cookies:
            return web.Response(text="already here")
        answer = web.Response(status=302, headers={"Location": "/check"})
        answer.set_cookie("gate", "1")
        return answer

    def check(request: web.Request) -> web.Response:
        target = "/closed" if "gate" in request.cookies else "/start"
        return web.Response(status=302, headers={"Location": target})

    app = web.Application()
    app.router.add_get("/who", who)
    app.router.add_get("/start", start)
    app.router.add_get("/check", check)
    app.router.add_get("/closed", lambda request: web.Response(text="closed"))

    def specs(port: int) -> dict[str, dict[str, object]]:
        base = f"http://localhost:{port}"
        return {
            "who": {
                "kind": "http",
                "url": f"{base}/who?p={{province.code}}",
                "expect": {"body_contains": "fresh"},
            },
            "gate": {
                "kind": "redirect",
                "url": f"{base}/start?p={{province.code}}",
                "final_url": "/closed$",
            },
        }

    results = _one_at_a_time(app, specs, geo, 4)
    assert len(results) == 8
    assert {(r.step, r.outcome.status, r.outcome.reason) for r in results} == {
        ("who", "pass", ""),
        ("gate", "pass", ""),
    }


def test_a_chain_sends_a_cookie_back_only_to_the_host_that_set_it(geo, monkeypatch, caplog) -> None:  # type: ignore[no-untyped-def]
    """a.test sets a host cookie and one for `Domain=test`, then sends the chain to b.test,
    which must get neither (aiohttp, with no public-suffix list, would send the second),
    and back to a.test, which must get both.  A cookie held when the next hop is a URL yarl
    cannot encode costs the cell an `invalid URL`, as without one, not a probe error."""
    from aiohttp import web
    from multidict import CIMultiDict
    from probe_helpers import StaticResolver

    def hop(location: str, *cookies: str) -> web.Response:
        headers = CIMultiDict([("Location", location)] + [("Set-Cookie", c) for c in cookies])
        return web.Response(status=302, headers=headers)

    def start(request: web.Request) -> web.Response:
        return hop(f"http://b.test:{request.url.port}/next", "wide=1; Domain=test", "own=1")

    def next_(request: web.Request) -> web.Response:
        if "Cookie" in request.headers:
            return web.Response(text=f"b.test was sent {request.headers['Cookie']}")
        return hop(f"http://a.test:{request.url.port}/end")

    def end(request: web.Request) -> web.Response:
        if {"own", "wide"} <= request.cookies.keys():
            return hop("/closed")
        return web.Response(text="a.test forgot its visitor")

    app = web.Application()
    app.router.add_get("/start", start)
    app.router.add_get("/next", next_)
    app.router.add_get("/end", end)
    app.router.add_get("/closed", lambda request: web.Response(text="closed"))
    app.router.add_get("/bad", lambda request: hop("http://\u00fc..test/next", "own=1"))
    monkeypatch.setattr(
        engine.lookup,
        "resolver",
        lambda: StaticResolver({"a.test": "127.0.0.1", "b.test": "127.0.0.1"}),
    )

    def specs(port: int) -> dict[str, dict[str, object]]:
        base = f"http://a.test:{port}"
        return {
            "hosts": {"kind": "redirect", "url": f"{base}/start", "final_url": "/closed$"},
            "bad": {"kind": "redirect", "url": f"{base}/bad", "final_url": "/closed$"},
        }

    with caplog.at_level("ERROR", logger="cutover.engine"):
        results = _one_at_a_time(app, specs, geo, 1)
    outcomes = {r.step: (r.outcome.status, r.outcome.reason) for r in results}
    assert outcomes == {
        "hosts": ("pass", ""),
        "bad": ("unknown", "invalid URL 'http://\u00fc..test/next'"),
    }
    assert not caplog.records


def test_an_overlay_pattern_that_cannot_render_costs_its_province_only(geo, faults) -> None:  # type: ignore[no-untyped-def]
    overlay = Overlay.model_validate(
        {"province_endpoints": {"edoc": faults.url("/ok?eid={province.eid_code}")}}
    )
    steps = _steps({"eid": {"kind": "http", "url": "{endpoint.edoc}"}})
    no_eid, with_eid = geo.by_code["04"], geo.by_code["31"]
    assert no_eid.spec.eid_code is None and with_eid.spec.eid_code
    results, _ = _run(plan.build([no_eid, with_eid], steps), Endpoints(geo, overlay), FAST)
    assert {r.province: (r.outcome.status, r.outcome.reason) for r in results} == {
        "04": ("unknown", "not configured: no value for {province.eid_code}"),
        "31": ("pass", ""),
    }


def test_probes_queued_for_a_busy_host_leave_the_global_limit_to_others(geo, faults) -> None:  # type: ignore[no-untyped-def]
    """Hanging probes of one host wait for its slots without holding global places, so another
    host's probes run meanwhile instead of waiting for the first host's timeouts."""
    port = faults.ports["plain"]
    steps = _steps(
        {
            "busy": {"kind": "http", "url": faults.url("/hang?p={province.code}")},
            "other": {"kind": "http", "url": f"http://localhost:{port}/ok?p={{province.code}}"},
        }
    )
    targets = plan.build(geo.provinces[:8], steps)  # every busy target comes first
    limits = Limits(jobs=6, per_host=4, timeout=2, host_grace=60)
    start = time.perf_counter()
    arrived: dict[str, list[float]] = {"busy": [], "other": []}

    def note(result: engine.Result) -> None:
        arrived[result.step].append(time.perf_counter() - start)

    asyncio.run(
        engine.run(
            targets, Endpoints(geo), limits, allow_commands=False, on_result=note, **engine_env()
        )
    )
    assert len(arrived["other"]) == 8 and len(arrived["busy"]) == 8
    assert max(arrived["other"]) < limits.timeout * 0.75, arrived["other"]


def test_a_finished_run_lets_go_of_its_result_callback_without_the_collector(geo, faults) -> None:  # type: ignore[no-untyped-def]
    """Once `engine.run` returns, nothing of it keeps the result callback alive: reference
    counting frees it, with the cyclic collector off.  (The pool and its alarms formed a
    cycle, which kept the callback, and through it a store writer's caches of every unit,
    until the collector's next full walk: 40 MB at 49,815 units.)"""
    import gc
    import weakref

    port = faults.ports["plain"]
    url = f"http://localhost:{port}/ok?p={{province.code}}"
    steps = _steps({"ok": {"kind": "http", "url": url}})
    targets = plan.build(geo.provinces[:6], steps)

    class Collect:
        def __init__(self) -> None:
            self.results: list[engine.Result] = []

        def __call__(self, result: engine.Result) -> None:
            self.results.append(result)

    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    try:
        collect = Collect()
        limits = Limits(jobs=4, per_host=2, timeout=5)
        run = engine.run(
            targets, Endpoints(geo), limits, allow_commands=False, on_result=collect, **engine_env()
        )
        asyncio.run(run)
        del run
        assert [r.outcome.status for r in collect.results] == ["pass"] * 6
        gone = weakref.ref(collect)
        del collect
        assert gone() is None
    finally:
        if enabled:
            gc.enable()


# The worker pool, without a network: HttpSpec.run is replaced by a stand-in that records how
# many probes run at once, overall and per host, and behaves as the URL's path says.


class _Recorder:
    def __init__(self) -> None:
        self.running: dict[str, int] = {}
        self.most: dict[str, int] = {}
        self.total = 0
        self.most_total = 0
        self.started: list[str] = []

    async def run(self, spec: HttpSpec, ctx: object) -> engine.Outcome:
        from urllib.parse import urlsplit

        parts = urlsplit(spec.url)
        host = parts.hostname or ""
        self.started.append(spec.url)
        self.running[host] = self.running.get(host, 0) + 1
        self.most[host] = max(self.most.get(host, 0), self.running[host])
        self.total += 1
        self.most_total = max(self.most_total, self.total)
        try:
            if parts.path == "/hang":
                await asyncio.sleep(3600)
            elif parts.path == "/swallow":  # a probe that ignores its cancellation
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    return engine.Outcome.ok("kept going")
            elif parts.path == "/own-timeout":
                raise TimeoutError("the probe's own")
            else:
                await asyncio.sleep(0.01)
            return engine.Outcome.ok()
        finally:
            self.running[host] -= 1
            self.total -= 1


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> _Recorder:
    rec = _Recorder()

    async def run(spec: HttpSpec, ctx: object) -> engine.Outcome:
        return await rec.run(spec, ctx)

    monkeypatch.setattr(HttpSpec, "run", run)
    return rec


def _pool_run(geo, specs, limits, provinces=8, **kwargs):  # type: ignore[no-untyped-def]
    targets = plan.build(geo.provinces[:provinces], _steps(specs))
    return _run(targets, Endpoints(geo), limits, **kwargs)


def test_the_pool_keeps_both_limits_and_never_idles_for_a_busy_host(geo, recorder) -> None:  # type: ignore[no-untyped-def]
    specs = {f"s{h}": {"kind": "http", "url": f"http://h{h % 3}.test/ok?p={{province.code}}"}
             for h in range(6)}  # fmt: skip
    results, _ = _pool_run(geo, specs, Limits(jobs=5, per_host=2, timeout=5), provinces=10)
    assert len(results) == 60 and {r.outcome.status for r in results} == {"pass"}
    assert max(recorder.most.values()) == 2  # per host
    assert recorder.most_total == 5  # three hosts of two could use every place


def test_parked_probes_past_the_kept_renders_are_rendered_again(geo, recorder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(engine, "PARKED_RENDERED", 3)
    specs = {"a": {"kind": "http", "url": "http://one.test/ok?p={province.code}"},
             "b": {"kind": "http", "url": "http://two.test/ok?p={province.code}"}}  # fmt: skip
    results, _ = _pool_run(geo, specs, Limits(jobs=4, per_host=1, timeout=5), provinces=20)
    assert sorted((r.step, r.province) for r in results) == sorted(
        (s, p.code) for p in geo.provinces[:20] for s in "ab"
    )
    assert recorder.most == {"one.test": 1, "two.test": 1}
    # Each host's probes ran in the order of the targets.
    for host in ("one.test", "two.test"):
        order = [u.rsplit("=", 1)[1] for u in recorder.started if host in u]
        assert order == [p.code for p in geo.provinces[:20]]


def test_a_hanging_probe_frees_its_host_after_the_grace(geo, recorder) -> None:  # type: ignore[no-untyped-def]
    specs = {"hang": {"kind": "http", "url": "http://one.test/hang"},
             "ok": {"kind": "http", "url": "http://one.test/ok"}}  # fmt: skip
    limits = Limits(jobs=2, per_host=1, timeout=1, host_grace=0.1)
    start = time.perf_counter()
    arrived: dict[str, float] = {}

    def note(result: engine.Result) -> None:
        arrived[result.step] = time.perf_counter() - start

    targets = plan.build(geo.provinces[:1], _steps(specs))
    asyncio.run(
        engine.run(
            targets, Endpoints(geo), limits, allow_commands=False, on_result=note, **engine_env()
        )
    )
    assert arrived["ok"] < 0.6, arrived  # did not wait for the hanging probe's timeout
    assert 0.9 < arrived["hang"] < 1.5, arrived


def test_timeouts_use_no_timer_per_probe(geo, recorder, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Thousands of probes, each under a timeout and a host grace, arm a handful of timers
    (asyncio rebuilds its heap of timers when many are cancelled)."""
    timers = 0
    real_call_at = asyncio.BaseEventLoop.call_at

    def counting(self, when, callback, *args, context=None):  # type: ignore[no-untyped-def]
        nonlocal timers
        timers += getattr(callback, "__name__", "") != "_set_result_unless_cancelled"  # sleeps
        return real_call_at(self, when, callback, *args, context=context)

    monkeypatch.setattr(asyncio.BaseEventLoop, "call_at", counting)
    specs = {f"s{i}": {"kind": "http", "url": f"http://h{i % 4}.test/ok?p={{province.code}}"}
             for i in range(60)}  # fmt: skip
    results, elapsed = _pool_run(geo, specs, Limits(jobs=32, per_host=4, timeout=1), provinces=34)
    assert len(results) == 2040 and {r.outcome.status for r in results} == {"pass"}
    # The timeout's and the grace's: each fires about once per delay (1 s and 0.1 s).
    assert timers <= 2 + elapsed / 1 + elapsed / 0.1 + 2, (timers, elapsed)


def test_a_probe_that_ignores_its_timeout_does_not_cancel_the_next(geo, recorder) -> None:  # type: ignore[no-untyped-def]
    specs = {"swallow": {"kind": "http", "url": "http://one.test/swallow"},
             "next": {"kind": "http", "url": "http://one.test/ok"},
             "own": {"kind": "http", "url": "http://one.test/own-timeout"}}  # fmt: skip
    results, _ = _pool_run(geo, specs, Limits(jobs=1, per_host=1, timeout=0.2), provinces=1)
    outcomes = {r.step: (r.outcome.status, r.outcome.reason) for r in results}
    assert outcomes == {
        "swallow": ("pass", ""),
        "next": ("pass", ""),
        "own": ("unknown", "probe error: TimeoutError: the probe's own"),
    }


def test_cancelling_a_run_keeps_what_finished_and_leaves_no_task(geo, recorder) -> None:  # type: ignore[no-untyped-def]
    specs = {"ok": {"kind": "http", "url": "http://one.test/ok?p={province.code}"},
             "hang": {"kind": "http", "url": "http://two.test/hang?p={province.code}"}}  # fmt: skip
    targets = plan.build(geo.provinces, _steps(specs))
    results: list[engine.Result] = []

    async def main() -> set[asyncio.Task[object]]:
        limits = Limits(jobs=8, per_host=4, timeout=60)
        task = asyncio.create_task(
            engine.run(
                targets,
                Endpoints(geo),
                limits,
                allow_commands=False,
                on_result=results.append,
                **engine_env(),
            )
        )
        while len(results) < 34:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

    assert asyncio.run(main()) == set()
    assert {r.step for r in results} == {"ok"} and len(results) == 34


def test_a_failing_callback_stops_the_run(geo, recorder) -> None:  # type: ignore[no-untyped-def]
    specs = {"ok": {"kind": "http", "url": "http://one.test/ok?p={province.code}"}}
    targets = plan.build(geo.provinces, _steps(specs))

    def broken(result: engine.Result) -> None:
        raise OSError("disk full")

    async def main() -> set[asyncio.Task[object]]:
        with pytest.raises(OSError, match="disk full"):
            await engine.run(
                targets,
                Endpoints(geo),
                Limits(jobs=4),
                allow_commands=False,
                on_result=broken,
                **engine_env(),
            )
        return asyncio.all_tasks() - {asyncio.current_task()}  # type: ignore[operator]

    assert asyncio.run(main()) == set()


def test_jobs_1_runs_one_probe_at_a_time(geo, recorder) -> None:  # type: ignore[no-untyped-def]
    specs = {"a": {"kind": "http", "url": "http://one.test/ok?p={province.code}"},
             "b": {"kind": "http", "url": "http://two.test/ok?p={province.code}"}}  # fmt: skip
    results, _ = _pool_run(geo, specs, Limits(jobs=1, per_host=1), provinces=5)
    assert len(results) == 10 and recorder.most_total == 1


def test_rendering_once_per_step_matches_render_spec(geo) -> None:  # type: ignore[no-untyped-def]
    """The engine's per-step template renders exactly what `render_spec` does."""
    from cutover.probes.redirect import RedirectSpec
    from cutover.secrets import Secrets

    values = {
        "endpoint.portal": "https://dichvucong.haiphong.gov.vn",
        "endpoint.national": "https://dichvucong.gov.vn",
        "province.name": "Hải Phòng (TP.)",
        "commune.code": "00004",
    }
    secrets = Secrets({"TOKEN": "tok-123"}, Path.cwd())
    specs = [
        HttpSpec.model_validate(
            {
                "kind": "http",
                "url": "{endpoint.portal}/api/{commune.code}",
                "headers": {"X-Key": "${env:TOKEN}", "Accept": "application/json"},
                "expect": {
                    "status": [200, 204],
                    "headers": {"Location": "^{endpoint.portal}"},
                    "json": [
                        {"path": "home", "op": "matches", "value": "^{endpoint.portal}/?$"},
                        {"path": "name", "value": "{province.name}"},
                    ],
                },
            }
        ),
        HttpSpec.model_validate({"kind": "http", "url": "https://static.example.vn/x"}),
        HttpSpec.model_validate(
            {"kind": "http", "url": "{endpoint.national}/", "expect": {"status": 302}}
        ),
        RedirectSpec.model_validate(
            {"kind": "redirect", "url": "{endpoint.portal}/", "final_url": "^{endpoint.national}"}
        ),
    ]
    for spec in specs:
        fast = engine._Template(spec).render(values, secrets.resolve)
        assert fast == engine.render_spec(spec, values, secrets)
        assert fast.model_fields_set == spec.model_fields_set


def test_rendering_once_per_step_matches_render_spec_for_the_shipped_checklist(geo) -> None:  # type: ignore[no-untyped-def]
    """Every automated step of the shipped checklist, for units across every province:
    the engine's per-step template renders what `render_spec` does, from the province's
    shared values plus the unit's own."""
    from cutover.secrets import Secrets

    overlay = Overlay.model_validate(overlay_for("http://127.0.0.1:9"))
    ctx = service.prepare(service.Selection(), overlay, geo)
    secrets = Secrets({}, Path.cwd())
    shared: dict[str, dict[str, str | None]] = {}
    seen = 0
    for target in ctx.targets[::7]:
        if target.step.verify.manual:
            continue
        code = target.province.code
        if code not in shared:
            endpoints = ctx.endpoints.for_province(target.province)
            shared[code] = plan.base_values(target.province, endpoints)
        before = dict(shared[code])
        values = target.values(shared[code])
        assert shared[code] == before  # a unit's own values do not leak into its province's
        spec = target.step.verify
        fast = engine._Template(spec).render(values, secrets.resolve)
        assert fast == engine.render_spec(spec, values, secrets), target.key
        assert fast.model_fields_set == spec.model_fields_set
        seen += 1
    assert seen > 100
