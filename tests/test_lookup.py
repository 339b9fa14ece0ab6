"""A DNS server that never answers costs the cells of its own names only (`probes.lookup`).

asyncio looks names up on the loop's default executor, min(32, CPUs + 4) threads; a lookup
no server answers holds its thread until the system resolver gives up.  Before, forty such
names made every other probe of the run wait behind them and time out, and the command then
waited for those threads before it could end."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

HANGING = ".hang.test"
NAMES_PER_KIND = 14  # 42 hanging names in all: more than any default executor has threads


class HangingDns:
    """Names under .hang.test get no answer until the test ends: what a DNS server outside
    the machine that never replies does.  Every other name is looked up as before."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.waiting = 0
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            self.waiting += 1
        self.release.wait(120)
        with self._lock:
            self.waiting -= 1
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")


@pytest.fixture
def hanging_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[HangingDns]:
    dns = HangingDns()
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.endswith(HANGING):
            dns.wait()
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield dns
    dns.release.set()


def _step(step_id: str, verify: str) -> list[str]:
    return [
        f"  - id: {step_id}",
        f"    title: {{vi: {step_id}, en: {step_id}}}",
        "    due: 2099-01-01T00:00:00+07:00",
        f"    verify: {verify}",
    ]


def _checklist(port: int) -> str:
    lines = ["id: lookups", "title: {vi: lookups, en: lookups}", "steps:"]
    for i in range(NAMES_PER_KIND):
        lines += _step(f"http-hang-{i}", f"{{kind: http, url: 'http://h{i}{HANGING}:{port}/'}}")
        lines += _step(f"dns-hang-{i}", f"{{kind: dns, name: d{i}{HANGING}}}")
        lines += _step(f"tcp-hang-{i}", f"{{kind: tcp, host: t{i}{HANGING}, port: {port}}}")
    lines += _step("http-ok", f"{{kind: http, url: 'http://localhost:{port}/national/'}}")
    lines += _step("dns-ok", "{kind: dns, name: localhost}")
    lines += _step("tcp-ok", f"{{kind: tcp, host: localhost, port: {port}}}")
    return "\n".join(lines) + "\n"


def test_names_whose_dns_hangs_cost_their_own_cells_only(  # type: ignore[no-untyped-def]
    cli, make_sim, hanging_dns: HangingDns, tmp_path: Path, elsewhere: Path
) -> None:
    port = urlsplit(make_sim().base_url).port
    assert port is not None
    checklist = tmp_path / "lookups.yaml"
    checklist.write_text(_checklist(port), encoding="utf-8")

    result = cli(
        "check", "-p", "31", "--checklist", str(checklist), "--timeout", "2",
        "--format", "json", "--no-store",
    )  # fmt: skip

    cells = {c["step"]: (c["status"], c["reason"]) for c in json.loads(result.out)["cells"]}
    assert cells["http-ok"][0] == "done", cells["http-ok"]
    assert cells["dns-ok"][0] == "done", cells["dns-ok"]
    assert cells["tcp-ok"][0] == "done", cells["tcp-ok"]
    hung = {step: cell for step, cell in cells.items() if "-hang-" in step}
    assert len(hung) == 3 * NAMES_PER_KIND
    assert set(hung.values()) == {("unknown", "timed out after 2 s")}
    # The command ended without waiting for the lookups that are still hanging.
    assert hanging_dns.waiting > 0
