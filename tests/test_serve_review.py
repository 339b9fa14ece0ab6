"""`cutover serve` after review: a malformed request costs the server's log nothing (no
traceback per request), and a province page can be asked for by slug or name, redirecting to
its code.  Real `cutover serve` processes over real sockets (tests/test_serve.py's Server)."""

from __future__ import annotations

import re
import socket
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_serve import Server

SECURITY = ("Content-Security-Policy", "X-Content-Type-Options", "X-Frame-Options")


@pytest.fixture
def server(demo_copy: Path) -> Iterator[Server]:
    running = Server(demo_copy)
    yield running
    running.stop()


def _raw(server: Server, request: bytes) -> bytes:
    """Send `request` as it is over a socket and read the whole answer."""
    address = urllib.parse.urlsplit(server.url)
    assert address.hostname is not None and address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=10) as client:
        client.sendall(request)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    return answer


OVERLONG = [
    b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",  # the request line
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",  # a header
    b"GET / HTTP/1.1\r\nHost: x\r\n" + b"X-" + b"c" * 9000 + b": 1\r\n\r\n",  # a header name
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",  # not HTTP
]


def _flood(server: Server) -> list[bytes]:
    answers = []
    for i in range(20):
        answers.append(_raw(server, OVERLONG[i % len(OVERLONG)]))
    return answers


def _said_after_start(server: Server) -> list[str]:
    time.sleep(0.3)  # the reader thread collects what the server wrote
    start = next(i for i, line in enumerate(server.said) if line.startswith("cutover: serving"))
    return server.said[start + 1 :]


def test_malformed_requests_do_not_flood_the_log(server: Server) -> None:
    answers = _flood(server)
    for answer in answers:
        assert re.match(rb"HTTP/1\.[01] 400 ", answer), answer[:200]
    status, _, _ = server.get("/healthz")
    assert status == 200
    said = _said_after_start(server)
    assert not any("Traceback" in line for line in said), "".join(said)
    assert len(said) <= 2, "".join(said)  # nothing per request


def test_malformed_requests_with_access_log_are_one_short_line_each(demo_copy: Path) -> None:
    running = Server(demo_copy, "--access-log")
    try:
        _flood(running)
        status, _, _ = running.get("/healthz")
        assert status == 200
        said = _said_after_start(running)
    finally:
        running.stop()
    text = "".join(said)
    assert "Traceback" not in text, text
    assert len(said) <= 21, text  # one line per request, the /healthz one included
    assert all(len(line) < 300 for line in said), text
    assert sum(" 400 " in line for line in said) == 20, text


# --- provinces by slug or name ----------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _first_answer(server: Server, path: str) -> tuple[int, dict[str, str]]:
    """The status and headers of the answer to `path`, without following a redirect."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(server.url + path, timeout=30) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers)


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/province/hai-phong", "/province/31"),
        ("/province/H%E1%BA%A3i%20Ph%C3%B2ng", "/province/31"),
        ("/province/hai%20phong?lang=en", "/province/31?lang=en"),
        (
            "/province/HCM?lang=en&as_of=2025-06-28T12:00%2B07:00",
            "/province/79?lang=en&as_of=2025-06-28T12:00%2B07:00",
        ),
        ("/province/1", "/province/01"),
        (
            "/province/hai-phong/communes/online-filing-test?lang=en",
            "/province/31/communes/online-filing-test?lang=en",
        ),
    ],
)
def test_a_province_by_slug_or_name_redirects_to_its_code(
    server: Server, path: str, location: str
) -> None:
    status, headers = _first_answer(server, path)
    assert status in (301, 308), (path, status)
    assert headers["Location"] == location
    for name in SECURITY:
        assert name in headers, name
    followed, _, body = server.get(path)
    assert followed == 200 and b"Traceback" not in body


def test_an_unknown_province_name_stays_404(server: Server) -> None:
    for path in (
        "/province/atlantis",
        "/province/99",
        "/province/qu%E1%BA%A3ng",  # "quảng": several provinces
        "/province/" + "x" * 4000,
        "/province/atlantis/communes/online-filing-test",
    ):
        status, headers = _first_answer(server, path)
        assert status == 404, path
        assert "Location" not in headers
    status, _, body = server.get("/province/atlantis")
    assert status == 404 and body.decode().startswith("cutover: error: no province ")
    status, _, _ = server.get("/province/31")
    assert status == 200


def test_a_province_role_cannot_reach_another_province_by_name(pg_db: Any, demo_db: Path) -> None:  # type: ignore[no-untyped-def]
    """With a province role the page shows that province alone; another province stays 404
    whatever it is called, and its own province's slug redirects to its code."""
    from cutover.store import admin

    admin.init(pg_db.url, {})
    role = pg_db.role("p31")
    admin.grant(pg_db.url, {}, role, "31", "pw-31")
    url = pg_db.role_url(role, "pw-31")
    running = Server(url, "--db", url)
    try:
        assert "province 31 only" in "".join(running.said)
        assert _first_answer(running, "/province/hai-phong")[0] in (301, 308)
        for path in ("/province/01", "/province/ha-noi", "/province/H%C3%A0%20N%E1%BB%99i"):
            status, headers = _first_answer(running, path)
            assert status == 404, path
            assert "Location" not in headers
    finally:
        running.stop()


# --- the log quotes the client: inert --------------------------------------------------------

C1_CSI, RLO = "\x9b", "\u202e"  # an 8-bit escape sequence's start; a bidi override


def test_the_access_log_keeps_no_control_character_a_client_sent(demo_copy: Path) -> None:
    """llhttp refuses 7-bit escapes in headers, but a UTF-8 C1 control or a bidi override in
    the Referer or User-Agent passes, and the access log quotes both."""
    running = Server(demo_copy, "--access-log")
    try:
        hostile = f"x{C1_CSI}2J{RLO}gnp.exe".encode()
        answer = _raw(
            running,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\nReferer: "
            + hostile
            + b"\r\nUser-Agent: "
            + hostile
            + b"\r\n\r\n",
        )
        assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
        said = _said_after_start(running)
    finally:
        running.stop()
    logged = [line for line in said if "/healthz" in line]
    assert len(logged) == 1, said
    assert '"xgnp.exe" "xgnp.exe"' in logged[0], logged  # quoted, the escape removed whole
    assert not any(c in "".join(said) for c in (C1_CSI, RLO, "\x1b")), said


# --- the as-of picker -------------------------------------------------------------------------


def test_no_two_times_in_the_picker_read_the_same() -> None:
    from datetime import UTC, datetime

    from cutover.web.pages import _labels

    def at(minute: int, second: int, micro: int = 0) -> datetime:
        return datetime(2026, 11, 24, 6, minute, second, micro, tzinfo=UTC)

    times = [at(52, 1), at(52, 7), at(53, 0), at(54, 10, 500), at(54, 10, 700), at(55, 0)]
    labels = [label for _, label in _labels(times, "Asia/Ho_Chi_Minh")]
    assert labels == [
        "13:52:01 24/11/2026",
        "13:52:07 24/11/2026",
        "13:53 24/11/2026",
        "13:54:10.000500 24/11/2026",
        "13:54:10.000700 24/11/2026",
        "13:55 24/11/2026",
    ]
