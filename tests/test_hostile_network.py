"""Every way a server can misbehave costs one cell, with a reason, within a bounded time.

Each case runs one probe against the fault server (tests/fault_server.py) and asserts the
status, the reason and an upper bound on the time taken (generous: these are not benchmarks,
they catch a probe that waits for a hanging server longer than its own timeout).  The last
test runs one `check` over ~50 hostile endpoints through the CLI.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_server import FaultServer
from probe_helpers import probe

from cutover.probes import Limits

LIMITS = Limits(timeout=2, retries=2, backoff=0.01)
HANG = LIMITS.timeout + 3  # a hanging server costs one timeout, plus slack for a busy machine
QUICK = 5.0  # everything else answers at once; the bound only catches a hang

Spec = Callable[[FaultServer], dict[str, Any]]


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultServer]:
    with FaultServer(tmp_path_factory.mktemp("faults")) as server:
        yield server


def http(path: str, **extra: Any) -> Spec:
    return lambda s: {"kind": "http", "url": s.url(path), **extra}


def count(path: str) -> Spec:
    return lambda s: {"kind": "count", "url": s.url(path), "expected": 3, "path": "count"}


def redirect(path: str, final: str = "^https://portal\\.example\\.vn/") -> Spec:
    return lambda s: {"kind": "redirect", "url": s.url(path), "final_url": final}


def tls(variant: str, trust: bool = True) -> Spec:
    return lambda s: {
        "kind": "http",
        "url": s.tls_url(variant, "/ok"),
        **({"ca_file": str(s.ca_file)} if trust else {}),
    }


def oidc(variant: str) -> Spec:
    return lambda s: {
        "kind": "oidc",
        "issuer": s.url(f"/oidc/{variant}"),
        "client_id": "dvc-31",
        "redirect_uri": "https://dvc.example.vn/oauth2/callback",
    }


# name -> (spec, status, reason fragment, seconds at most)
CASES: dict[str, tuple[Spec, str, str, float]] = {
    "healthy": (http("/ok"), "pass", "", QUICK),
    "hang after accept": (http("/hang"), "unknown", "timed out after 2 s", HANG),
    "hang after headers": (http("/hang-after-headers"), "unknown", "timed out after 2 s", HANG),
    "drip body": (http("/drip"), "unknown", "timed out after 2 s", HANG),
    "drip headers": (http("/drip-headers"), "unknown", "timed out after 2 s", HANG),
    "reset": (http("/reset"), "unknown", "Connection reset by peer after 3 attempts", QUICK),
    "5xx x3": (http("/5xx"), "unknown", "service unavailable: 503 after 3 attempts", QUICK),
    "5xx x2 then 200": (http("/flaky?key=once"), "pass", "", QUICK),
    "invalid JSON": (count("/invalid-json"), "unknown", "response is not valid JSON", QUICK),
    "JSON nested 200,000 deep": (
        count("/deep-json"),
        "unknown",
        "response JSON is nested too deeply",
        QUICK,
    ),
    "2 GiB body": (count("/huge"), "unknown", "exceeds the 2,097,152 byte cap", QUICK),
    "endless chunked body": (
        http("/endless", expect={"body_contains": "z"}),
        "unknown",
        "exceeds the 2,097,152 byte cap",
        QUICK,
    ),
    "gzip bomb": (count("/gzip-bomb"), "unknown", "exceeds the 2,097,152 byte cap", QUICK),
    "redirect loop": (redirect("/loop/a"), "unknown", "redirect loop: ", QUICK),
    "redirect chain of 4": (redirect("/chain?n=4", final="chain\\?n=0$"), "pass", "", QUICK),
    "redirect chain of 20": (redirect("/chain?n=20"), "unknown", "more than 10 redirects", QUICK),
    "redirect to file:": (
        redirect("/to?location=file:///etc/passwd"),
        "unknown",
        "redirect to file:///etc/passwd: only http and https are followed",
        QUICK,
    ),
    "redirect to gopher:": (
        redirect("/to?location=gopher://127.0.0.1:70/_x"),
        "unknown",
        "only http and https are followed",
        QUICK,
    ),
    "redirect into a private network": (
        redirect("/to?location=http://10.255.255.1/admin"),
        "unknown",
        "not followed into a private address",
        QUICK,
    ),
    "redirect to link-local metadata": (
        redirect("/to?location=http://169.254.169.254/latest/meta-data/"),
        "unknown",
        "not followed into a link-local address",
        QUICK,
    ),
    "malformed Location": (
        redirect("/to?location=http://[::1"),
        "unknown",
        "redirect to malformed location 'http://[::1' (Invalid IPv6 URL)",
        QUICK,
    ),
    "10,000 headers": (http("/many-headers"), "unknown", "malformed response", QUICK),
    "HTTP/1.0 without length": (
        http("/http10", expect={"json": [{"path": "ok", "value": True}]}),
        "pass",
        "",
        QUICK,
    ),
    "valid certificate": (tls("valid"), "pass", "", QUICK),
    "untrusted certificate": (
        tls("valid", trust=False),
        "fail",
        "certificate of localhost not valid: unable to get local issuer certificate",
        QUICK,
    ),
    "self-signed certificate": (
        tls("self-signed"),
        "fail",
        "certificate of localhost not valid: self-signed certificate",
        QUICK,
    ),
    "expired certificate": (
        tls("expired"),
        "fail",
        "certificate of localhost not valid: certificate has expired",
        QUICK,
    ),
    "wrong-host certificate": (
        tls("wrong-host"),
        "fail",
        "certificate of localhost not valid: Hostname mismatch",
        QUICK,
    ),
    "plain HTTP on a TLS port": (
        lambda s: {"kind": "http", "url": s.url("/ok").replace("http:", "https:")},
        "unknown",
        "TLS handshake failed",
        QUICK,
    ),
    "TLS on a plain HTTP URL": (
        lambda s: {"kind": "http", "url": f"http://127.0.0.1:{s.ports['valid']}/ok"},
        "unknown",
        "after 3 attempts",
        QUICK,
    ),
    "oidc healthy": (oidc("good"), "pass", "", QUICK),
    "oidc authorize answers 301": (oidc("301"), "pass", "", QUICK),
    "oidc authorize refuses via redirect_uri": (
        oidc("error"),
        "fail",
        "redirected back to https://dvc.example.vn/oauth2/callback with error=access_denied",
        QUICK,
    ),
    "oidc login page on another host": (
        oidc("elsewhere"),
        "fail",
        "redirected to https://login.example.net/login?state=",
        QUICK,
    ),
    "oidc jwks_uri is file:": (
        oidc("jwks-file"),
        "unknown",
        "jwks_uri file:///etc/passwd: only http and https are followed",
        QUICK,
    ),
    "oidc jwks_uri is private": (
        oidc("jwks-private"),
        "unknown",
        "jwks_uri http://10.255.255.1/jwks: not followed into a private address",
        QUICK,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_fault(faults: FaultServer, name: str) -> None:
    spec, status, reason, bound = CASES[name]
    start = time.perf_counter()
    outcome = probe(spec(faults), limits=LIMITS)
    elapsed = time.perf_counter() - start
    assert (outcome.status, reason in outcome.reason) == (status, True), outcome.reason
    if status == "pass":
        assert outcome.reason == ""
    assert elapsed < bound, f"{name} took {elapsed:.1f} s"


def test_redirect_into_loopback_from_a_public_url(faults: FaultServer) -> None:
    """A probe of a public name must not be sent to the machine it runs on.  `public.test`
    is served by the fault server but classified as a public address."""
    port = faults.ports["plain"]
    spec = {
        "kind": "redirect",
        "url": f"http://public.test:{port}/to?location=http://127.0.0.1:{port}/ok",
        "final_url": "/ok$",
    }
    answers = {"public.test": ["93.184.215.14"], "internal.test": ["192.168.7.7"]}
    out = probe(spec, limits=LIMITS, hosts={"public.test": "127.0.0.1"}, resolve=answers)
    assert out.status == "unknown"
    assert out.reason == (
        f"redirect to http://127.0.0.1:{port}/ok: not followed into a loopback address "
        "(the probe's own URL is not; allow_private: true permits it)"
    )
    spec["url"] = f"http://public.test:{port}/to?location=http://internal.test/"
    by_name = probe(spec, limits=LIMITS, hosts={"public.test": "127.0.0.1"}, resolve=answers)
    assert "not followed into a private address" in by_name.reason
    spec["url"] = f"http://public.test:{port}/to?location=http://127.0.0.1:{port}/ok"
    allowed = {**spec, "allow_private": True}
    ok = probe(allowed, limits=LIMITS, hosts={"public.test": "127.0.0.1"}, resolve=answers)
    assert ok.status == "pass"


def _checklist(faults: FaultServer, tmp_path: Path) -> tuple[Path, Path]:
    """One step per fault case, plus every other probe kind at a hostile target."""
    from cutover.yamlio import dump

    base = faults.url("")
    verify: dict[str, dict[str, Any]] = {}
    for i, (spec, _, _, _) in enumerate(CASES.values()):
        concrete = spec(faults)
        for key in ("url", "issuer"):
            if key in concrete and concrete[key].startswith(base):
                concrete[key] = "{endpoint.fault}" + concrete[key].removeprefix(base)
        verify[f"case-{i:02d}"] = concrete
    verify |= {
        "codes-on-hang": {"kind": "codes", "url": "{endpoint.fault}/hang"},
        "codes-deep": {"kind": "codes", "url": "{endpoint.fault}/deep-json"},
        "codes-gzip-bomb": {"kind": "codes", "url": "{endpoint.fault}/gzip-bomb"},
        "oidc-on-hang": {
            "kind": "oidc",
            "issuer": "{endpoint.fault}/hang",
            "client_id": "x",
            "redirect_uri": "https://dvc.example.vn/cb",
        },
        "redirect-on-drip": {"kind": "redirect", "url": "{endpoint.fault}/drip", "final_url": "x"},
        "count-many-headers": {
            "kind": "count",
            "url": "{endpoint.fault}/many-headers",
            "expected": 1,
        },
        "http-malformed-location": {
            "kind": "http",
            "url": "{endpoint.fault}/to?location=http://[::1",
        },
        "count-5xx": {"kind": "count", "url": "{endpoint.fault}/5xx", "expected": 1},
        # {endpoint.national} is .../nat.onal: unescaped, its dot would match .../national
        "escaped-final-url": {
            "kind": "redirect",
            "url": "{endpoint.fault}/to?location=/national",
            "final_url": "^{endpoint.national}(/|$)",
        },
        "tls-expired": {
            "kind": "tls",
            "host": "localhost",
            "port": faults.ports["expired"],
            "ca_file": str(faults.ca_file),
        },
        "tls-on-plain": {"kind": "tls", "host": "127.0.0.1", "port": faults.ports["plain"]},
        "tcp-open": {"kind": "tcp", "host": "127.0.0.1", "port": faults.ports["plain"]},
        "dns-missing": {"kind": "dns", "name": "nothing.invalid"},
        "not-a-number": {"kind": "count", "url": "{endpoint.fault}/ok", "expected": "many"},
        # Malformed only once rendered: a URL malformed as written is refused at load time.
        "malformed-url": {"kind": "http", "url": "http://[::1{province.code}/x"},
        "redirect-ftp": {
            "kind": "redirect",
            "url": "{endpoint.fault}/to?location=ftp://x/",
            "final_url": "x",
        },
        "command-slow": {"kind": "command", "argv": ["sleep", "30"]},
    }
    steps = [
        {
            "id": step_id,
            "title": {"vi": step_id, "en": step_id},
            "due": "2099-01-01T00:00:00+07:00",
            "verify": spec,
        }
        for step_id, spec in verify.items()
    ]
    checklist = tmp_path / "hostile.yaml"
    checklist.write_text(
        dump({"id": "hostile", "title": {"vi": "x", "en": "x"}, "steps": steps}), "utf-8"
    )
    overlay = tmp_path / "overlay.yaml"
    endpoints = {"fault": base, "national": f"{base}/nat.onal"}
    overlay.write_text(dump({"version": 1, "endpoints": endpoints}), "utf-8")
    return checklist, overlay


def test_one_check_over_fifty_hostile_endpoints(
    cli, faults: FaultServer, tmp_path: Path, elsewhere: Path
) -> None:  # type: ignore[no-untyped-def]
    checklist, overlay = _checklist(faults, tmp_path)
    start = time.perf_counter()
    result = cli(
        "check",
        "--province",
        "31",
        "--checklist",
        str(checklist),
        "--endpoints",
        str(overlay),
        "--no-store",
        "--timeout",
        "2",
        "--format",
        "json",
    )
    elapsed = time.perf_counter() - start
    assert result.code == 1, result.err
    cells = json.loads(result.out)["cells"]
    assert len(cells) >= 50
    for cell in cells:
        assert cell["status"] in ("done", "failing", "unknown"), cell
        assert bool(cell["reason"]) == (cell["status"] != "done"), cell
    by_step = {c["step"]: c for c in cells}
    assert by_step["escaped-final-url"]["status"] == "failing"
    assert by_step["malformed-url"]["status"] == "unknown"
    assert elapsed < 30, f"one check over hostile endpoints took {elapsed:.0f} s"
