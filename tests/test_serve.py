"""`cutover serve`: the live page in Debian's Chromium (driven by Playwright, no browser
download) and the machine endpoints over real HTTP, against a real `cutover serve` process
over a demo store.

The demo store here is recorded at the present time (`demo --as-of NOW`), so the live page,
which evaluates at the wall clock, shows the telegram's done counts; deadlines have passed, so
the cells not done are overdue."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from conftest import record_demo
from test_render import CHROMIUM_FLAGS

# The telegram of 28 June 2025: done counts of the steps it names.
TELEGRAM = {
    "unit-declaration": "34/34",
    "portal-closure": "32/34",
    "sso-test": "33/34",
    "online-filing-test": "8/34",
    "agency-eid-codes": "33/34",
}
REFRESH_S = 0.3  # the server's change check in these tests


def _environ(db: Path | str) -> dict[str, str]:
    env = {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(db), "CUTOVER_LANG": "vi"}
    env.pop("CUTOVER_SITE", None)
    return env


def cutover(*args: str, db: Path | str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cutover", *args],
        capture_output=True,
        text=True,
        env=_environ(db),
        timeout=120,
    )


class Server:
    """`cutover serve --port 0` as its own process; `url` is what it said it serves."""

    def __init__(self, db: Path | str, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cutover", "serve", "--port", "0", *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=_environ(db),
        )
        assert self.proc.stderr is not None
        self.said: list[str] = []
        while True:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"serve ended early: {''.join(self.said)}")
            self.said.append(line)
            if line.startswith("cutover: serving "):
                self.url = line.split()[2].rstrip("/")
                break
        # Keep reading what it says, so a chatty server never blocks on a full pipe.
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.said.append(line)

    def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, dict(exc.headers), exc.read()

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)
        self._reader.join(timeout=10)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        said = "".join(self.said)
        assert self.proc.returncode == 0, said
        return said


@pytest.fixture(scope="module")
def live_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The telegram demo recorded now (one run of the simulator for this module)."""
    now = datetime.now(UTC).replace(microsecond=0).isoformat()
    return record_demo(tmp_path_factory.mktemp("serve") / "live.db", now)


@pytest.fixture
def live_copy(live_db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "live.db"
    shutil.copy(live_db, target)
    return target


@pytest.fixture
def server(live_copy: Path) -> Iterator[Server]:
    running = Server(live_copy, "--refresh", str(REFRESH_S))
    yield running
    said = running.stop()
    assert "Traceback" not in said


@pytest.fixture(scope="module")
def browser(live_db: Path, demo_db: Path) -> Iterator[Any]:
    """Chromium for the module.  Playwright's sync API keeps an event loop in this thread
    while it runs, so the stores that need `asyncio.run` are made before it starts."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium is needed (scripts/check installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        yield launched
        launched.close()


class Watched:
    """A page with every console message, page error and request it makes recorded."""

    def __init__(self, browser: Any, origin: str) -> None:
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.origin = origin
        self.console: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def problems(self) -> list[str]:
        """Console errors and warnings, and any request that left the server's origin."""
        bad = [m for m in self.console if m.startswith(("error", "warning", "pageerror"))]
        bad += [f"off-origin: {u}" for u in self.requests if not u.startswith(self.origin + "/")]
        return bad


@pytest.fixture
def watched(browser: Any, server: Server) -> Iterator[Watched]:
    page = Watched(browser, server.url)
    yield page
    page.context.close()


def _footer(page: Any) -> list[str]:
    return page.locator("#matrix tfoot td").all_inner_texts()  # type: ignore[no-any-return]


def _step_columns(server: Server) -> dict[str, int]:
    document = json.loads(server.get("/matrix.json")[2])
    return {s["id"]: i for i, s in enumerate(document["steps"])}


def _behind(server: Server, step: str) -> str:
    """A province whose cell of `step` is not done."""
    document = json.loads(server.get("/matrix.json")[2])
    return next(
        c["province"] for c in document["cells"] if c["step"] == step and c["status"] != "done"
    )


def test_matrix_page_shows_34_rows_and_the_telegram_totals(
    watched: Watched, server: Server, live_copy: Path
) -> None:
    page = watched.page
    page.goto(server.url + "/")
    assert page.locator("#matrix tbody tr.province").count() == 34
    columns = _step_columns(server)
    footer = _footer(page)
    for step, done in TELEGRAM.items():
        assert footer[columns[step]] == done, step
    # The same cells and totals as `cutover matrix --format json` over the same store.
    cli = json.loads(cutover("matrix", "--format", "json", db=live_copy).stdout)
    expected = [f"{cli['totals'][s['id']]['done']}/{cli['totals'][s['id']]['total']}"
                for s in cli["steps"]]  # fmt: skip
    assert footer == expected
    # The report's key, legend and escalation list are there too.
    for part in ("#key", "#legend", "#escalation-list", "#progress-bars"):
        assert page.locator(part).count() == 1, part
    assert page.locator("#escalation-list tbody tr").count() > 0
    assert watched.problems() == []


def test_the_open_page_shows_a_mark_without_a_reload(
    watched: Watched, server: Server, live_copy: Path
) -> None:
    page = watched.page
    page.goto(server.url + "/")
    page.evaluate("window.notReloaded = true")
    columns = _step_columns(server)
    column = columns["portal-closure"]
    province = _behind(server, "portal-closure")
    cell = page.locator(f'#matrix tr[data-code="{province}"] td.c').nth(column)
    assert "s-done" not in (cell.get_attribute("class") or "")

    marked = cutover(
        "mark", province, "portal-closure", "--by", "Nguyễn Văn A",
        "--evidence", "https://evidence.example/portal.png", "--status", "done",
        db=live_copy,
    )  # fmt: skip
    assert marked.returncode == 0, marked.stderr
    page.wait_for_function(
        """([code, column]) => {
            const row = document.querySelector(`#matrix tr[data-code="${code}"]`);
            return row && row.querySelectorAll("td.c")[column].classList.contains("s-done");
        }""",
        arg=[province, column],
        timeout=15_000,
    )
    assert page.evaluate("window.notReloaded") is True  # the page was not reloaded
    assert _footer(page)[column] == "33/34"
    assert watched.problems() == []


def test_a_hidden_tab_asks_nothing_and_catches_up_when_shown(
    watched: Watched, server: Server, live_copy: Path
) -> None:
    page = watched.page
    page.goto(server.url + "/")
    page.wait_for_timeout(300)  # the event stream is open
    hide = """hidden => {
        Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    page.evaluate(hide, True)
    asked = len(watched.requests)
    marked = cutover(
        "mark", "01", "unit-declaration", "--by", "Trần B", "--status", "failed",
        "--note", "retracted", "--evidence", "https://e.example/01", db=live_copy,
    )  # fmt: skip
    assert marked.returncode == 0, marked.stderr
    page.wait_for_timeout(int(REFRESH_S * 1000 * 6))
    assert watched.requests[asked:] == []  # nothing while hidden
    column = _step_columns(server)["unit-declaration"]
    assert _footer(page)[column] == "34/34"  # not yet refreshed
    page.evaluate(hide, False)
    page.wait_for_function(
        "c => document.querySelectorAll('#matrix tfoot td')[c].textContent === '33/34'",
        arg=column,
        timeout=15_000,
    )
    assert any("fragment=1" in u for u in watched.requests[asked:])
    assert watched.problems() == []


def test_province_page_and_commune_drill_down_open_from_the_matrix(
    watched: Watched, server: Server
) -> None:
    page = watched.page
    page.goto(server.url + "/")
    page.locator('#matrix tr[data-code="31"] th a').click()
    page.wait_for_url(server.url + "/province/31")
    assert page.locator("#steps tbody tr").count() == 17
    filing = page.locator("#step-online-filing-test")
    assert filing.get_attribute("data-status") != "done"
    history = page.locator("#history-online-filing-test pre").inner_text().strip()
    assert history != ""
    # Under the step's number and title, the lines do not repeat its id.
    assert "online-filing-test" not in history, history
    filing.locator("a.drill").click()
    page.wait_for_url(server.url + "/province/31/communes/online-filing-test")
    rows = page.locator("section.communes tbody tr")
    assert rows.count() == 114  # every commune, ward and special zone of Hai Phong
    # From the matrix, a commune-level cell opens the same drill-down.
    page.goto(server.url + "/")
    column = _step_columns(server)["online-filing-test"]
    page.locator('#matrix tr[data-code="01"] td.c').nth(column).locator("a").click()
    page.wait_for_url(server.url + "/province/01/communes/online-filing-test")
    assert page.locator("section.communes tbody tr").count() == 126
    assert watched.problems() == []


def test_as_of_and_language_from_the_url(watched: Watched, server: Server, live_copy: Path) -> None:
    page = watched.page
    before = datetime.now(UTC).isoformat()
    marked = cutover(
        "mark", _behind(server, "portal-closure"), "portal-closure", "--by", "Lê C",
        "--status", "done", "--evidence", "https://evidence.example/04.png", db=live_copy,
    )  # fmt: skip
    assert marked.returncode == 0, marked.stderr
    column = _step_columns(server)["portal-closure"]
    page.goto(server.url + "/?lang=en")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Readiness matrix" in page.locator("main").inner_text()
    live_total = _footer(page)[column]
    # The picker offers the recorded evaluations; choosing an earlier one shows that table.
    options = page.locator("#as-of-select option")
    assert options.count() >= 2
    page.goto(server.url + "/?" + urllib.parse.urlencode({"lang": "en", "as_of": before}))
    assert _footer(page)[column] != live_total
    assert page.locator("#live").get_attribute("data-fragment") is None  # a past table is still
    assert page.locator("html").get_attribute("lang") == "en"
    # The slider moves over the same evaluations and submits the chosen one.
    first = page.locator("#as-of-select option").first.get_attribute("value")
    slider = page.locator("#as-of-slider")
    slider.evaluate(
        """s => { s.value = "0"; s.dispatchEvent(new Event("input"));
                  s.dispatchEvent(new Event("change")); }"""
    )
    page.wait_for_url(lambda url: "as_of=" + urllib.parse.quote(first or "", safe="") in url)
    assert "lang=en" in page.url
    assert watched.problems() == []


def test_a_past_province_page_shows_no_later_history(
    watched: Watched, server: Server, live_copy: Path
) -> None:
    before = datetime.now(UTC).isoformat()
    time.sleep(0.01)
    marked = cutover(
        "mark", "31", "portal-closure", "--by", "Later Person", "--status", "failed",
        "--evidence", "https://e.example/later", db=live_copy,
    )  # fmt: skip
    assert marked.returncode == 0, marked.stderr
    page = watched.page
    page.goto(server.url + "/province/31?lang=en")
    assert "Later Person" in page.locator("#history-portal-closure").inner_text()
    page.goto(
        server.url + "/province/31?" + urllib.parse.urlencode({"lang": "en", "as_of": before})
    )
    assert "Later Person" not in page.locator("#history-portal-closure").inner_text()
    assert watched.problems() == []


def test_the_page_recovers_when_its_event_stream_fails(
    watched: Watched, server: Server, live_copy: Path
) -> None:
    """Behind a reverse proxy, a restarting server is a 502 on /events, which ends an
    EventSource for good: the page says so, tries again, and is live again afterwards."""
    page = watched.page
    page.goto(server.url + "/?lang=en")
    page.wait_for_timeout(300)
    page.route("**/events", lambda route: route.fulfill(status=502, body="bad gateway"))
    port = server.url.rsplit(":", 1)[1]
    server.stop()
    page.wait_for_function(
        "() => document.getElementById('live-state').hasAttribute('data-saved')", timeout=15_000
    )
    assert "trying again" in page.locator("#live-state").inner_text()
    page.unroute("**/events")
    again = Server(live_copy, "--port", port, "--refresh", str(REFRESH_S))
    try:
        column = _step_columns(again)["portal-closure"]
        province = _behind(again, "portal-closure")
        marked = cutover(
            "mark", province, "portal-closure", "--by", "A", "--status", "done",
            "--evidence", "https://e.example/back", db=live_copy,
        )  # fmt: skip
        assert marked.returncode == 0, marked.stderr
        page.wait_for_function(
            "c => document.querySelectorAll('#matrix tfoot td')[c].textContent === '33/34'",
            arg=column,
            timeout=20_000,
        )
        assert not page.locator("#live-state").get_attribute("data-saved")
    finally:
        again.stop()
    server.proc = again.proc  # the fixture's stop() finds it stopped
    console = [m for m in watched.console if "502" not in m and "ERR_CONNECTION" not in m]
    watched.console[:] = console
    assert watched.problems() == []


def test_hostile_text_is_inert_on_the_page(
    watched: Watched, server: Server, live_copy: Path
) -> None:
    page = watched.page
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    hostile = '<script>alert(1)</script><img src=x onerror="alert(2)">"\'&'
    marked = cutover(
        "mark", "31", "portal-closure", "--by", hostile, "--status", "failed",
        "--note", hostile, "--evidence", "https://e.example/31", db=live_copy,
    )  # fmt: skip
    assert marked.returncode == 0, marked.stderr
    page.goto(server.url + "/province/31")
    page.wait_for_timeout(200)
    text = page.locator("#history-portal-closure").inner_text()
    assert "<script>alert(1)</script>" in text
    assert page.locator("main script, main img").count() == 0
    assert dialogs == []
    assert watched.problems() == []


# --- over HTTP ------------------------------------------------------------------------------


def test_machine_endpoints(server: Server, live_copy: Path, tmp_path: Path) -> None:
    status, headers, body = server.get("/matrix.json")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    document = json.loads(body)
    assert document["schema"] == "cutover.matrix/1"
    cli = json.loads(cutover("matrix", "--format", "json", db=live_copy).stdout)
    strip = lambda d: {k: v for k, v in d.items() if k != "as_of"}  # noqa: E731
    assert [strip(c) for c in document["cells"]] == [strip(c) for c in cli["cells"]]
    assert document["totals"] == cli["totals"]

    status, headers, body = server.get("/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    metrics = tmp_path / "metrics.prom"
    metrics.write_bytes(body)
    promtool = shutil.which("promtool")
    assert promtool, "promtool is needed (scripts/check installs prometheus)"
    with metrics.open("rb") as given:
        checked = subprocess.run([promtool, "check", "metrics"], stdin=given, capture_output=True)
    assert checked.returncode == 0, checked.stderr
    assert b'cutover_step_done_total{step="portal-closure"} 32' in body

    status, _, body = server.get("/healthz")
    assert status == 200 and json.loads(body)["status"] == "ok"


def test_the_province_page_names_owners_in_its_language(server: Server) -> None:
    def owner(lang: str) -> str:
        status, _, body = server.get(f"/province/31?lang={lang}")
        assert status == 200
        row = body.decode().split('<tr id="step-agency-eid-codes"', 1)[1].split("</tr>", 1)[0]
        return row.split("<td>")[-1].split("</td>", 1)[0]  # the cell before the deadline

    assert owner("vi") == "Văn phòng Ủy ban nhân dân cấp tỉnh"
    assert owner("en") == "Provincial People&#x27;s Committee Office"


def test_conditional_requests_and_safety_headers(server: Server) -> None:
    status, headers, _ = server.get("/")
    assert status == 200
    etag = headers["ETag"]
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert (
        "frame-ancestors 'none'" in csp and "unsafe-inline'" not in csp.split("style-src-attr")[0]
    )
    assert headers["X-Content-Type-Options"] == "nosniff"
    status, headers, body = server.get("/", {"If-None-Match": etag})
    assert status == 304 and body == b""
    for path, code in (
        ("/province/99", 404),
        ("/province/31/communes/portal-closure", 404),
        ("/?as_of=yesterday-ish", 400),
        ("/?lang=fr", 400),
        ("/nowhere", 404),
    ):
        status, headers, body = server.get(path)
        assert status == code, path
        assert "Content-Security-Policy" in headers, path
        assert b"Traceback" not in body
    status, _, body = server.get("/?as_of=yesterday-ish")
    assert body.decode().startswith("cutover: error: as_of: ")
    # Read-only: no route takes a write.
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        request = urllib.request.Request(server.url + "/", method=method, data=b"x")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 405, method
        refused.value.close()


def test_a_client_gone_before_its_event_stream_starts_is_not_an_error(server: Server) -> None:
    """Clients that ask for the event stream and leave at once (a tab hidden as it opens),
    some with a reset: the server carries on and logs no traceback (the fixture checks its
    log when it stops)."""
    import socket
    import struct

    address = urllib.parse.urlsplit(server.url)
    for i in range(60):
        with socket.create_connection((address.hostname, address.port), timeout=10) as client:
            client.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n")
            if i % 2:  # close with a reset rather than a FIN
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    status, _, _ = server.get("/healthz")
    assert status == 200


def test_binds_to_loopback_by_default_and_says_where(live_copy: Path) -> None:
    running = Server(live_copy)
    try:
        assert running.url.startswith("http://127.0.0.1:")
    finally:
        said = running.stop()
    assert "read-only" in said and said.rstrip().endswith("cutover: stopped")


def test_a_busy_port_and_a_missing_store_end_in_one_line(live_copy: Path, tmp_path: Path) -> None:
    running = Server(live_copy)
    try:
        port = running.url.rsplit(":", 1)[1]
        taken = cutover("serve", "--port", port, db=live_copy)
        assert taken.returncode == 2
        assert taken.stderr.startswith(f"cutover: error: cannot listen on 127.0.0.1:{port}")
        assert len(taken.stderr.splitlines()) == 1
    finally:
        running.stop()
    missing = cutover("serve", "--port", "0", db=tmp_path / "none.db")
    assert missing.returncode == 3
    assert missing.stderr.startswith("cutover: error: no store at ")


def test_a_request_over_its_time_is_answered_503(live_copy: Path) -> None:
    running = Server(live_copy, "--request-timeout", "0.001")
    try:
        status, _, body = running.get("/matrix.json")
        assert status == 503
        assert body.decode().startswith("cutover: error: the request took longer than 0.001 s")
    finally:
        running.stop()


def test_a_query_over_its_time_is_stopped(demo_db: Path) -> None:
    from cutover import service
    from cutover.errors import StoreError
    from cutover.store.base import open_store

    store = open_store(demo_db, environ={}, create=False, query_timeout=1e-9)
    ctx = service.prepare(service.Selection())
    with pytest.raises(StoreError, match="a query took longer than 1e-09 s and was stopped"):
        service.stored_matrix(ctx, store, datetime.now(UTC))
    store.close()


def test_change_marker_moves_with_every_write(demo_copy: Path) -> None:
    from cutover.store.base import open_store

    store = open_store(demo_copy, environ={}, create=False)
    first = store.change_marker()
    assert store.change_marker() == first  # reading changes nothing
    marked = cutover("mark", "31", "portal-closure", "--by", "A", "--status", "done",
                     "--evidence", "https://e.example/x", db=demo_copy)  # fmt: skip
    assert marked.returncode == 0, marked.stderr
    second = store.change_marker()
    assert second != first
    waived = cutover("waive", "31", "sso-test", "--approver", "VPCP", "--reason", "r",
                     "--until", "2099-01-01T00:00+07:00", db=demo_copy)  # fmt: skip
    assert waived.returncode == 0, waived.stderr
    assert store.change_marker() not in (first, second)
    store.close()


def test_a_province_role_sees_its_province_only(pg_db: Any, live_db: Path) -> None:  # type: ignore[no-untyped-def]
    """With PostgreSQL, the page connects as the role it is given; row-level security decides
    what it reads, and the page shows the provinces the role may read."""
    from cutover.store import admin

    admin.init(pg_db.url, {})
    role = pg_db.role("p31")
    admin.grant(pg_db.url, {}, role, "31", "pw-31")
    admin.grant(pg_db.url, {}, pg_db.role("gov"), None, "pw-gov")
    # Evidence for two provinces, each written by its own site as its own role.
    admin.grant(pg_db.url, {}, pg_db.role("p01"), "01", "pw-01")
    for code, url in (
        ("31", pg_db.role_url(role, "pw-31")),
        ("01", pg_db.role_url(pg_db.role("p01"), "pw-01")),
    ):
        env = {**_environ(url), "CUTOVER_SITE": code}
        done = subprocess.run(
            [sys.executable, "-m", "cutover", "mark", code, "unit-declaration", "--by", "IT",
             "--status", "done", "--evidence", "https://e.example/" + code],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr

    province = Server(pg_db.role_url(role, "pw-31"), "--db", pg_db.role_url(role, "pw-31"))
    try:
        assert "province 31 only" in "".join(province.said)
        document = json.loads(province.get("/matrix.json")[2])
        assert {c["province"] for c in document["cells"]} == {"31"}
        status, _, body = province.get("/")
        assert status == 200 and body.count(b'class="province"') == 1
        assert "pw-31" not in "".join(province.said)
    finally:
        said = province.stop()
    assert "pw-31" not in said

    national = Server(pg_db.url, "--db", pg_db.role_url(pg_db.role("gov"), "pw-gov"))
    try:
        document = json.loads(national.get("/matrix.json")[2])
        assert len({c["province"] for c in document["cells"]}) == 34
        done = {c["province"] for c in document["cells"]
                if c["step"] == "unit-declaration" and c["status"] == "done"}  # fmt: skip
        assert done == {"01", "31"}
    finally:
        national.stop()


@pytest.mark.parametrize(
    ("params", "lang", "as_of", "suffix"),
    [
        ({}, "vi", None, ""),
        ({"lang": "en"}, "en", None, "?lang=en"),
        ({"lang": "vi", "as_of": "2025-06-28T13:00+07:00"}, "vi", "2025-06-28T13:00:00+07:00",
         "?as_of=2025-06-28T13%3A00%2B07%3A00"),
        ({"as_of": "  "}, "vi", None, ""),
    ],
)  # fmt: skip
def test_page_query(params: dict[str, str], lang: str, as_of: str | None, suffix: str) -> None:
    from cutover.web.pages import Query

    query = Query.parse(params, "vi", datetime(2026, 1, 1, tzinfo=UTC))
    assert query.lang == lang
    assert (query.as_of.isoformat() if query.as_of else None) == as_of
    assert query.live is (as_of is None)
    assert query.suffix("vi") == suffix


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.0.0.2", True),
     ("0.0.0.0", False), ("::", False), ("10.0.0.5", False), ("example.org", False)],
)  # fmt: skip
def test_only_loopback_goes_without_a_warning(host: str, loopback: bool) -> None:
    from cutover.cli.serve import _loopback

    assert _loopback(host) is loopback
