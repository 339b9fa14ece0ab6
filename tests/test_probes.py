"""Every probe kind against real servers on loopback, passing and failing."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from probe_helpers import probe

from cutover.probes import Limits


def test_http_pass_and_fail(telegram_sim) -> None:  # type: ignore[no-untyped-def]
    base = telegram_sim.base_url
    spec = {
        "kind": "http",
        "url": f"{base}/national/api/provinces/14/dossier-sync",
        "expect": {"headers": {"Content-Type": "json"}, "json": [{"path": "unsynced", "value": 0}]},
    }
    failing = probe(spec)
    assert failing.status == "fail"
    assert failing.reason == "expected unsynced == 0, got 26"
    spec["url"] = f"{base}/national/api/provinces/01/dossier-sync"
    assert probe(spec).status == "pass"
    missing = probe({"kind": "http", "url": f"{base}/national/api/provinces/01/nothing"})
    assert missing.status == "fail"
    assert missing.reason.endswith("expected status 200, got 404")


def test_http_header_names_are_case_insensitive(telegram_sim) -> None:  # type: ignore[no-untyped-def]
    """HTTP header names are case-insensitive (RFC 9110 §5.1): a checklist that writes
    `content-type` matches a server that sends `Content-Type`."""
    url = f"{telegram_sim.base_url}/national/api/provinces/01/dossier-sync"
    for name in ("content-type", "CONTENT-TYPE", "Content-Type"):
        assert (
            probe({"kind": "http", "url": url, "expect": {"headers": {name: "json"}}}).status
            == "pass"
        )
    out = probe({"kind": "http", "url": url, "expect": {"headers": {"content-type": "xml"}}})
    assert out.status == "fail" and "application/json" in out.reason


def test_http_body_and_regex(telegram_sim) -> None:  # type: ignore[no-untyped-def]
    url = f"{telegram_sim.base_url}/p/12/portal/"
    assert (
        probe({"kind": "http", "url": url, "expect": {"body_contains": "Nộp hồ sơ"}}).status
        == "pass"
    )
    out = probe({"kind": "http", "url": url, "expect": {"body_regex": "đã dừng"}})
    assert out.reason == "expected body matching 'đã dừng', no match"


def test_redirect_closed_and_open(telegram_sim) -> None:  # type: ignore[no-untyped-def]
    base = telegram_sim.base_url
    spec = {
        "kind": "redirect",
        "url": f"{base}/p/01/portal/",
        "final_url": f"^{base}/national(/|$)",
    }
    assert probe(spec).status == "pass"
    spec["url"] = f"{base}/p/12/portal/"
    out = probe(spec)
    assert out.status == "fail"
    assert out.reason == (
        f"final URL {base}/p/12/portal/ (200, without a redirect) does not match "
        f"^{base}/national(/|$)"
    )


@pytest.fixture
def tiny_server() -> Iterator[callable]:  # type: ignore[valid-type]
    """Serve a few fixed routes on loopback: tiny_server({path: (status, body, ctype)})."""
    stops = []

    def start(routes: dict[str, tuple[int, str, str]]) -> str:
        app = web.Application()
        for path, (status, body, ctype) in routes.items():

            async def handler(_: web.Request, s=status, b=body, c=ctype) -> web.Response:
                return web.Response(status=s, text=b, content_type=c)

            app.router.add_get(path, handler)
        ready = threading.Event()
        holder: dict[str, object] = {}

        async def main() -> None:
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            holder["port"] = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            stop = asyncio.Event()
            holder["stop"], holder["loop"] = stop, asyncio.get_running_loop()
            ready.set()
            await stop.wait()
            await runner.cleanup()

        thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        thread.start()
        ready.wait(5)
        stops.append((holder, thread))
        return f"http://127.0.0.1:{holder['port']}"

    yield start
    for holder, thread in stops:
        holder["loop"].call_soon_threadsafe(holder["stop"].set)  # type: ignore[attr-defined]
        thread.join(5)


def test_redirect_notice_page(tiny_server) -> None:  # type: ignore[no-untyped-def]
    base = tiny_server(
        {
            "/closed": (
                200,
                "<h1>Cổng đã dừng hoạt động</h1><a href=x>dichvucong.gov.vn</a>",
                "text/html",
            ),
            "/form": (200, "<h1>đã dừng</h1><FORM action=x></FORM>", "text/html"),
        }
    )
    spec = {
        "kind": "redirect",
        "url": f"{base}/closed",
        "final_url": "^https://dichvucong\\.gov\\.vn",
        "notice": "đã dừng",
    }
    assert probe(spec).status == "pass"
    spec["url"] = f"{base}/form"
    assert probe(spec).status == "fail"


def test_oidc_pass_and_fail(telegram_sim) -> None:  # type: ignore[no-untyped-def]
    base = telegram_sim.base_url

    def spec(code: str) -> dict[str, object]:
        return {
            "kind": "oidc",
            "issuer": f"{base}/sso",
            "client_id": f"dvc-{code}",
            "redirect_uri": f"{base}/p/{code}/procedures/oauth2/callback",
            "acr_values": "LoA1",
        }

    ok = probe(spec("01"))
    assert ok.status == "pass" and "/sso/login?" in (ok.observed or "")
    bad = probe(spec("11"))
    assert bad.status == "fail"
    assert bad.reason == (
        "authorize for client dvc-11 answered 400 (invalid_client), expected a "
        "redirect to a login page matching /login"
    )
    wrong_issuer = probe(
        {
            **spec("01"),
            "issuer": f"{base}/sso",
            "discovery": f"{base}/sso/.well-known/openid-configuration",
            "client_id": "dvc-01",
            "redirect_uri": f"{base}/elsewhere",
        }
    )
    assert wrong_issuer.status == "fail" and "(invalid_request)" in wrong_issuer.reason


def test_oidc_jwks_missing(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(faults=[{"path": "^/sso/jwks$", "kind": "status", "status": 404}])
    base = sim.base_url
    out = probe(
        {
            "kind": "oidc",
            "issuer": f"{base}/sso",
            "client_id": "dvc-01",
            "redirect_uri": f"{base}/p/01/procedures/oauth2/callback",
        }
    )
    assert out.status == "fail"
    assert out.reason == f"jwks_uri {base}/sso/jwks returned 404, expected 200"


def test_count_pass_and_fail(make_sim) -> None:  # type: ignore[no-untyped-def]
    sim = make_sim(features={"units_declared": {"failing": ["31"]}})
    spec = {
        "kind": "count",
        "url": f"{sim.base_url}/national/api/provinces/31/units",
        "path": "units",
        "expected": 114,
        "noun": "declared units",
    }
    out = probe(spec)
    assert (out.status, out.reason) == ("fail", "declared units: 112, expected 114")
    spec["url"] = spec["url"].replace("/31/", "/46/")
    spec["expected"] = 40
    assert probe(spec).status == "pass"


def test_codes_format_duplicates_missing(tiny_server) -> None:  # type: ignore[no-untyped-def]
    base = tiny_server(
        {
            "/good": (200, '["000.00.00.H24", "000.01.00.H24"]', "application/json"),
            "/bad": (
                200,
                '["000.00.00.H24", "000.00.00.H24", "000.00.0.h24", "x"]',
                "application/json",
            ),
        }
    )
    assert probe({"kind": "codes", "url": f"{base}/good", "expected_count": 2}).status == "pass"
    out = probe(
        {
            "kind": "codes",
            "url": f"{base}/bad",
            "expected_count": 3,
            "required": ["000.00.00.H24", "000.00.00.H26"],
        }
    )
    assert out.status == "fail"
    assert out.reason == (
        "2 codes malformed: 000.00.0.h24, x; 1 duplicated: 000.00.00.H24; "
        "missing 000.00.00.H26; 1 valid codes published, expected 3"
    )


def _serve_tls(context: ssl.SSLContext, stop: threading.Event) -> int:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (ssl.SSLError, OSError):
                pass
        listener.close()

    threading.Thread(target=serve, daemon=True).start()
    return int(listener.getsockname()[1])


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path, int]]:
    """Real TLS servers on loopback with certificates for 'localhost' from a test CA:
    one valid for years, one expiring in 3 days."""
    ca = trustme.CA()
    ca_file = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    stop = threading.Event()
    ports = []
    for not_after in (None, datetime.now(UTC) + timedelta(days=3, hours=1)):
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        kwargs = {"not_after": not_after} if not_after else {}
        ca.issue_cert("localhost", **kwargs).configure_cert(context)
        ports.append(_serve_tls(context, stop))
    yield ports[0], ca_file, ports[1]
    stop.set()


def test_tls_valid_and_expiring(tls_server) -> None:  # type: ignore[no-untyped-def]
    port, ca_file, expiring = tls_server
    ok = probe({"kind": "tls", "host": "localhost", "port": port, "ca_file": str(ca_file)})
    assert ok.status == "pass"
    soon = probe({"kind": "tls", "host": "localhost", "port": expiring, "ca_file": str(ca_file)})
    assert (soon.status, soon.reason) == ("fail", "certificate expires in 3 days (< 14)")


def test_tls_untrusted_is_failing(tls_server) -> None:  # type: ignore[no-untyped-def]
    port, _, _ = tls_server
    out = probe({"kind": "tls", "host": "localhost", "port": port})
    assert out.status == "fail"
    assert out.reason.startswith("certificate of localhost not valid: unable to get local issuer")


def test_tls_handshake_failure_is_unknown(telegram_sim) -> None:  # type: ignore[no-untyped-def]
    port = int(telegram_sim.base_url.rsplit(":", 1)[1])  # plain HTTP, not TLS
    out = probe({"kind": "tls", "host": "127.0.0.1", "port": port})
    assert out.status == "unknown" and "TLS handshake with 127.0.0.1" in out.reason


def test_https_probe_untrusted_is_failing(tls_server) -> None:  # type: ignore[no-untyped-def]
    port, _, _ = tls_server
    out = probe({"kind": "http", "url": f"https://localhost:{port}/"})
    assert out.status == "fail"
    assert out.reason.startswith("certificate of localhost not valid: unable to get local issuer")


def test_tcp_open_and_refused(telegram_sim) -> None:  # type: ignore[no-untyped-def]
    port = int(telegram_sim.base_url.rsplit(":", 1)[1])
    assert probe({"kind": "tcp", "host": "127.0.0.1", "port": port}).status == "pass"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    out = probe({"kind": "tcp", "host": "127.0.0.1", "port": closed})
    assert (out.status, out.reason) == ("fail", f"connection to 127.0.0.1:{closed} refused")


def test_dns() -> None:
    assert probe({"kind": "dns", "name": "localhost", "addresses": ["127.0.0.1"]}).status == "pass"
    out = probe({"kind": "dns", "name": "nonexistent.invalid"})
    assert out.status == "fail" and out.reason.startswith("nonexistent.invalid does not resolve")


def test_command() -> None:
    assert probe({"kind": "command", "argv": ["true"]}).status == "pass"
    out = probe({"kind": "command", "argv": ["sh", "-c", "echo first >&2; echo boom >&2; exit 3"]})
    assert (out.status, out.reason) == ("fail", "sh exited 3: boom")
    refused = probe({"kind": "command", "argv": ["true"]}, allow_commands=False)
    assert (refused.status, refused.reason) == (
        "unknown",
        "command probes run only with --allow-commands and a checklist given by path "
        "(--checklist FILE)",
    )
    missing = probe({"kind": "command", "argv": ["/nonexistent/tool"]})
    assert missing.status == "unknown"


def test_manual_is_never_run_as_a_probe() -> None:
    assert probe({"kind": "manual"}).reason == "no attestation"


def test_codes_are_matched_whole(tiny_server) -> None:  # type: ignore[no-untyped-def]
    base = tiny_server(
        {"/codes": (200, '["000.00.00.H24", "000.01.00.H24\\n", " 000.02.00.H24"]', "text/json")}
    )
    out = probe({"kind": "codes", "url": f"{base}/codes"})
    assert (out.status, out.reason) == (
        "fail",
        "2 codes malformed: 000.01.00.H24\n,  000.02.00.H24",
    )


@pytest.mark.parametrize(
    ("actual", "op", "expected", "holds"),
    [
        (1, "==", True, False),
        (0, "==", False, False),
        (True, "==", True, True),
        (True, "!=", 1, True),
        ([1, 0], "contains", True, False),
        ([True], "contains", True, True),
        ({"a": [1]}, "==", {"a": [True]}, False),
        (True, ">", 0, False),
        (2, ">", 1, True),
        ("3", "==", 3, True),
    ],
)
def test_json_comparisons_do_not_confuse_booleans_and_numbers(
    actual: object, op: str, expected: object, holds: bool
) -> None:
    from cutover.probes.conditions import compare

    assert compare(actual, op, expected) is holds  # type: ignore[arg-type]


def test_json_true_is_not_1_end_to_end(tiny_server) -> None:  # type: ignore[no-untyped-def]
    base = tiny_server({"/pay": (200, '{"returned_to_province": 1}', "application/json")})
    spec = {
        "kind": "http",
        "url": f"{base}/pay",
        "expect": {"json": [{"path": "returned_to_province", "value": True}]},
    }
    out = probe(spec)
    assert (out.status, out.reason) == ("fail", "expected returned_to_province == True, got 1")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a zombie waiting for init is dead


def test_command_timeout_kills_its_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    script = 'sleep 300 & echo $! > "$1"; wait'
    out = probe(
        {"kind": "command", "argv": ["sh", "-c", script, "sh", str(pid_file)]},
        limits=Limits(timeout=1),
    )
    assert (out.status, out.reason) == ("unknown", "timed out after 1 s")
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the command's background child survived its timeout"


def test_command_output_is_bounded_and_drained() -> None:
    script = "head -c 20000000 /dev/zero | tr '\\0' x >&2; echo >&2; echo last words >&2; exit 2"
    out = probe({"kind": "command", "argv": ["sh", "-c", script]}, limits=Limits(timeout=20))
    assert (out.status, out.reason) == ("fail", "sh exited 2: last words")


def test_a_placeholder_inside_a_shell_script_is_refused() -> None:
    from pydantic import ValidationError

    from cutover.probes.command import CommandSpec

    with pytest.raises(ValidationError, match="parsed by the shell"):
        CommandSpec.model_validate(
            {"kind": "command", "argv": ["sh", "-c", "curl {endpoint.portal}"]}
        )
    fine = ["sh", "-c", 'curl "$1"', "sh", "{endpoint.portal}"]
    assert CommandSpec.model_validate({"kind": "command", "argv": fine}).argv == fine


def test_address_classes() -> None:
    from cutover.probes.urls import address_class

    assert [
        address_class(a)
        for a in (
            "127.0.0.1",
            "::1",
            "0.0.0.0",
            "::ffff:127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "fd00::1",
            "100.64.0.1",
            "169.254.169.254",
            "fe80::1%eth0",
            "8.8.8.8",
            "2001:4860:4860::8888",
        )
    ] == [
        "loopback",
        "loopback",
        "loopback",
        "loopback",
        "private",
        "private",
        "private",
        "private",
        "link-local",
        "link-local",
        "public",
        "public",
    ]
