"""`cutover serve` after review: a malformed request costs the server's log nothing (no
traceback per request), and a province page can be asked for by slug or name, redirecting to
its code.  Real `cutover serve` processes over real sockets (tests/test_serve.py's Server)."""

from __future__ import annotations

import re
import shutil
import socket
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_serve import Server


@pytest.fixture
def store(demo_db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "demo.db"
    shutil.copy(demo_db, target)
    return target


@pytest.fixture
def server(store: Path) -> Iterator[Server]:
    running = Server(store)
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


def test_malformed_requests_with_access_log_are_one_short_line_each(store: Path) -> None:
    running = Server(store, "--access-log")
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
