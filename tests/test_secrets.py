"""Secret references resolve at run time, are checked before a run, and never leave the engine."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
from fault_server import FaultServer
from probe_helpers import engine_env

from cutover import engine, plan
from cutover.checklist import Endpoints, Overlay, Step
from cutover.errors import UsageError
from cutover.probes import Limits
from cutover.probes.http import HttpSpec
from cutover.secrets import MissingSecret, Secrets, check_references, redact_url

ENV = {"TOKEN": "tok-123", "KEY": "k 456/é", "USER": "robot", "PASS": "pw-789"}
FAST = Limits(timeout=3, retries=0)


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultServer]:
    with FaultServer(tmp_path_factory.mktemp("faults")) as server:
        yield server


def test_env_and_file_references(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-a-file\n")
    secrets = Secrets({"TOKEN": "tok-123"}, tmp_path)
    text = "Bearer ${env:TOKEN} ${file:token} ${file:" + str(tmp_path / "token") + "}"
    assert secrets.resolve(text) == "Bearer tok-123 from-a-file from-a-file"
    assert secrets.resolve("^${env:TOKEN}$", re.escape) == r"^tok\-123$"
    assert secrets.resolve("no reference, {province.code}, $HOME") == (
        "no reference, {province.code}, $HOME"
    )


def test_a_file_under_home_is_under_the_environments_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`${file:~/…}` reads HOME from the environment the caller passed (the command's
    `Environment`), not from the process's; `${file:./~/…}` is a folder named `~` (pathlib
    drops the `./`, and `expanduser` then read the process's HOME)."""
    for home, value in (("given", "from the given HOME"), ("process", "from the process")):
        (tmp_path / home).mkdir()
        (tmp_path / home / "token").write_text(value + "\n")
    monkeypatch.setenv("HOME", str(tmp_path / "process"))
    secrets = Secrets({"HOME": str(tmp_path / "given")}, tmp_path)
    assert secrets.resolve("${file:~/token}") == "from the given HOME"
    assert secrets.resolve("${file:~//token}") == "from the given HOME"  # as in the shell
    (tmp_path / "~").mkdir()
    (tmp_path / "~" / "token").write_text("a folder named ~\n")
    assert Secrets({}, tmp_path).resolve("${file:./~/token}") == "a folder named ~"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ("${env:NOPE}", "secret ${env:NOPE}: environment variable NOPE is not set"),
        ("${env:EMPTY}", "secret ${env:EMPTY} is empty"),
        ("${file:missing}", "secret ${file:missing}: cannot read {dir}/missing: No such file"),
        ("${file:.}", "secret ${file:.}: {dir} is not a regular file"),
        ("${file:/dev/zero}", "secret ${file:/dev/zero}: /dev/zero is not a regular file"),
        ("${file:fifo}", "secret ${file:fifo}: {dir}/fifo is not a regular file"),
        ("${file:big}", "secret ${file:big}: {dir}/big is larger than 64 KiB"),
        ("${file:binary}", "secret ${file:binary}: {dir}/binary is not UTF-8 text"),
        ("${file:a\0b}", "secret ${file:a\0b}: a file name cannot contain a NUL character"),
        (
            "${file:~no-such-account/t}",
            "secret ${file:~no-such-account/t}: no home directory is known for ~no-such-account",
        ),
    ],
)
def test_a_reference_that_cannot_resolve_names_itself(
    tmp_path: Path, reference: str, message: str
) -> None:
    os.mkfifo(tmp_path / "fifo")  # opened without blocking, then refused
    (tmp_path / "big").write_bytes(b"x" * (64 * 1024 + 1))
    (tmp_path / "binary").write_bytes(b"\xff\xfe")
    secrets = Secrets({"EMPTY": ""}, tmp_path)
    with pytest.raises(MissingSecret) as caught:
        secrets.resolve(f"Bearer {reference}")
    assert str(caught.value).startswith(message.replace("{dir}", str(tmp_path)))


def test_redact_values_userinfo_and_secret_parameters(tmp_path: Path) -> None:
    secrets = Secrets(ENV, tmp_path)
    url = secrets.resolve("https://api.example.vn/v1?key=${env:KEY}&page=2")
    secrets.resolve("Bearer ${env:TOKEN}")
    text = (
        f"GET {url} failed; token tok-123, quoted k%20456%2F%C3%A9, regex k\\ 456/é, "
        "https://robot:hunter2@x.example.vn/p?key=k%20456/%C3%A9&page=2"
    )
    assert secrets.redact(text) == (
        "GET https://api.example.vn/v1?key=***&page=2 failed; token ***, quoted ***, regex ***, "
        "https://***@x.example.vn/p?key=***&page=2"
    )


def test_redact_url() -> None:
    assert redact_url("https://u:p@hooks.example.vn/x?token=abc&chat=1#k=v") == (
        "https://hooks.example.vn/x?token=***&chat=***#k=***"
    )
    assert redact_url("https://hooks.example.vn/x") == "https://hooks.example.vn/x"
    assert redact_url("http://u:p@[::1/x?token=abc") == "http://[::1/x?***"


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


def test_check_references_before_a_run(geo, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    overlay = Overlay.model_validate(
        {"endpoints": {"api": "https://${env:USER}:${env:PASS}@api.example.vn"}}
    )
    steps = _steps(
        {
            "sync": {
                "kind": "http",
                "url": "{endpoint.api}/sync?key=${env:KEY}",
                "headers": {"Authorization": "Bearer ${file:token}"},
            },
            "signed": {"kind": "manual"},
        }
    )
    targets = plan.build([geo.by_code["31"]], steps)
    endpoints = Endpoints(geo, overlay)
    with pytest.raises(UsageError) as caught:
        check_references(targets, endpoints, {"USER": "robot"}, tmp_path)
    assert str(caught.value) == (
        f"secret ${{file:token}}: cannot read {tmp_path}/token: No such file or directory "
        "(used by step sync); "
        "secret ${env:KEY}: environment variable KEY is not set (used by step sync); "
        "secret ${env:PASS}: environment variable PASS is not set "
        "(used by endpoint api of province 31)"
    )
    (tmp_path / "token").write_text("tok")
    check_references(targets, endpoints, ENV, tmp_path)


def test_secrets_reach_the_server_and_nothing_else(
    geo, faults: FaultServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    port = faults.ports["plain"]
    overlay = Overlay.model_validate(
        {"endpoints": {"api": f"http://${{env:USER}}:${{env:PASS}}@127.0.0.1:{port}"}}
    )
    steps = _steps(
        {
            "header-and-query": {
                "kind": "http",
                "url": faults.url("/echo?key=${env:KEY}"),
                "headers": {"Authorization": "Bearer ${env:TOKEN}"},
                "expect": {"status": 201},
            },
            "user-info": {"kind": "http", "url": "{endpoint.api}/echo", "expect": {"status": 201}},
            "basic-auth": {
                "kind": "http",
                "url": faults.url("/echo"),
                "basic_auth": {"user": "${env:USER}", "password": "${env:PASS}"},
            },
            "crash": {"kind": "codes", "url": "{endpoint.api}/ok?key=${env:KEY}"},
        }
    )
    from cutover.probes.codes import CodesSpec

    async def leaky(self: CodesSpec, ctx: object) -> None:
        raise RuntimeError(f"bug while reading {self.url} with tok-123")

    monkeypatch.setattr(CodesSpec, "run", leaky)
    faults.seen.clear()
    results: list[engine.Result] = []
    with caplog.at_level(logging.ERROR, logger="cutover.engine"):
        asyncio.run(
            engine.run(
                plan.build([geo.by_code["31"]], steps),
                Endpoints(geo, overlay),
                FAST,
                allow_commands=False,
                on_result=results.append,
                **engine_env(ENV),
            )
        )
    assert {"key": "k 456/é"} in [s["query"] for s in faults.seen]
    assert {s["headers"].get("authorization") for s in faults.seen} == {
        "Bearer tok-123",
        "Basic " + base64.b64encode(b"robot:pw-789").decode(),
    }
    reasons = {r.step: r.outcome.reason for r in results}
    assert reasons["header-and-query"] == (
        f"http://127.0.0.1:{port}/echo?key=***: expected status 201, got 200"
    )
    assert reasons["user-info"].endswith(f"127.0.0.1:{port}/echo: expected status 201, got 200")
    assert reasons["basic-auth"] == ""
    assert reasons["crash"] == (
        f"probe error: RuntimeError: bug while reading http://***@127.0.0.1:{port}/ok?key=*** "
        "with ***"
    )
    everything = " ".join(
        [*(f"{r.outcome.reason} {r.outcome.observed}" for r in results), caplog.text]
    )
    assert "RuntimeError: bug while reading" in caplog.text
    for value in ENV.values():
        assert value not in everything
    assert "k%20456" not in everything


def test_credentials_stay_with_the_probes_own_origin(faults: FaultServer) -> None:
    from probe_helpers import probe

    port = faults.ports["plain"]
    other = f"http://localhost:{port}/echo"  # another origin, same server
    spec = {
        "kind": "redirect",
        "url": faults.url(f"/to?location={other}"),
        "final_url": "/echo$",
        "headers": {"X-Api-Key": "tok-123"},
        "basic_auth": {"user": "robot", "password": "pw-789"},
    }
    faults.seen.clear()
    assert probe(spec, limits=FAST).status == "pass"
    sent = [
        (s["path"], s["headers"].get("x-api-key"), "authorization" in s["headers"])
        for s in faults.seen
    ]
    assert sent == [("/to", "tok-123", True), ("/echo", None, False)]


def test_a_missing_secret_at_run_time_costs_its_cell(geo, faults: FaultServer) -> None:  # type: ignore[no-untyped-def]
    steps = _steps(
        {
            "needs-token": {
                "kind": "http",
                "url": faults.url("/echo"),
                "headers": {"X-Api-Key": "${env:TOKEN}"},
            },
            "open": {"kind": "http", "url": faults.url("/ok")},
        }
    )
    results: list[engine.Result] = []
    asyncio.run(
        engine.run(
            plan.build([geo.by_code["31"]], steps),
            Endpoints(geo),
            FAST,
            allow_commands=False,
            on_result=results.append,
            **engine_env({}),
        )
    )
    assert {r.step: (r.outcome.status, r.outcome.reason) for r in results} == {
        "needs-token": ("unknown", "secret ${env:TOKEN}: environment variable TOKEN is not set"),
        "open": ("pass", ""),
    }


def test_basic_auth_and_an_authorization_header_conflict() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="either basic_auth or an Authorization header"):
        HttpSpec.model_validate(
            {
                "kind": "http",
                "url": "https://api.example.vn/",
                "headers": {"authorization": "Bearer x"},
                "basic_auth": {"user": "u", "password": "p"},
            }
        )


def test_a_malformed_reference_is_a_checklist_problem() -> None:
    from cutover import templates

    assert templates.check("Bearer ${env:TOKEN} ${file:/run/key}", set(), False) == []
    assert templates.check("Bearer ${evn:TOKEN} ${env:}", set(), False) == [
        "malformed secret reference ${evn:TOKEN}: write ${env:NAME} or ${file:PATH}",
        "malformed secret reference ${env:}: write ${env:NAME} or ${file:PATH}",
    ]


# Each changes meaning in a URL unless it is encoded: the query's separators (& = # ;), the
# path's (/ ? #), the user-info's (@ :), `+` (a space in a query), a percent escape, and
# non-ASCII text.  Short enough that every echo of them below is shown whole.
HOSTILE = [
    "aaaa bbbb&x=1#frag",
    "abc+def/ghi@jkl=mno",
    "pct%41secretvalue",
    "usr:pa;ss?w@rd",
    "naïve café&crème",
    "Huế#mật/ạ",  # beyond Latin-1, which aiohttp encodes URL user-info in: not tried there
]


def _echoed(path: str) -> dict[str, object]:
    """Fails with what the echo server read at `path`, shown in the reason."""
    return {"json": [{"path": path, "value": 0}]}


def _results(geo, specs: dict[str, dict[str, object]], env: dict[str, str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    results: list[engine.Result] = []
    asyncio.run(
        engine.run(
            plan.build([geo.by_code["31"]], _steps(specs)),
            Endpoints(geo),
            FAST,
            allow_commands=False,
            on_result=results.append,
            **engine_env(env),
        )
    )
    return {r.step: r.outcome.reason for r in results}


@pytest.mark.parametrize("secret", HOSTILE)
def test_a_secret_in_a_url_reaches_the_server_exactly_and_no_echo_of_it_is_shown(
    geo, faults: FaultServer, secret: str
) -> None:  # type: ignore[no-untyped-def]
    port = faults.ports["plain"]
    specs: dict[str, dict[str, object]] = {
        "query": {"kind": "http", "url": faults.url("/echo?tok=${env:TOK}&after=1"),
                  "expect": _echoed("query.tok")},
        "query-raw": {"kind": "http", "url": faults.url("/echo?tok=${env:TOK}"),
                      "expect": _echoed("target")},
        "path": {"kind": "http", "url": faults.url("/echo/${env:TOK}/end"),
                 "expect": _echoed("path")},
        "path-raw": {"kind": "http", "url": faults.url("/echo/${env:TOK}"),
                     "expect": _echoed("target")},
        # the reason shows the URL as aiohttp sent it
        "status": {"kind": "http", "url": faults.url("/echo/${env:TOK}?tok=${env:TOK}"),
                   "expect": {"status": 201}},
    }  # fmt: skip
    latin1 = secret.isascii() or max(map(ord, secret)) < 256
    if latin1:
        specs["user-info"] = {
            "kind": "http",
            "url": f"http://svc:${{env:TOK}}@127.0.0.1:{port}/echo",
            "expect": _echoed("authorization.authorization"),
        }
    faults.seen.clear()
    reasons = _results(geo, specs, {"TOK": secret})
    sent = list(faults.seen)
    assert [s["query"] for s in sent if "after" in s["query"]] == [{"tok": secret, "after": "1"}]
    segments = [s["path"].split("/") for s in sent if s["path"].endswith("/end")]
    assert [[unquote(part) for part in path] for path in segments] == [["", "echo", secret, "end"]]
    if latin1:
        credential = base64.b64encode(f"svc:{secret}".encode("latin-1")).decode()
        assert f"Basic {credential}" in [s["headers"].get("authorization") for s in sent]
    expected = {
        "query": "expected query.tok == 0, got '***'",
        "query-raw": "expected target == 0, got '/echo?tok=***'",
        "path": "expected path == 0, got '/echo/***/end'",
        "path-raw": "expected target == 0, got '/echo/***'",
        "status": f"http://127.0.0.1:{port}/echo/***?tok=***: expected status 201, got 200",
    }
    if latin1:
        expected["user-info"] = "expected authorization.authorization == 0, got 'Basic ***'"
    assert reasons == expected


def test_a_basic_credential_is_masked_like_its_password(
    geo, faults: FaultServer, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The server sees `Basic base64(user:password)`; echoed back, or in a probe's error, that
    is masked like the password (a bearer token is sent as it is, and masked as it is)."""
    from cutover.probes.codes import CodesSpec

    async def leaky(self: CodesSpec, ctx: object) -> None:
        raise RuntimeError(f"bug after sending {self.request().headers['Authorization']}")

    monkeypatch.setattr(CodesSpec, "run", leaky)
    auth = {"user": "svc", "password": "${env:PW}"}
    specs: dict[str, dict[str, object]] = {
        "basic-auth": {"kind": "http", "url": faults.url("/echo"), "basic_auth": auth,
                       "expect": _echoed("authorization.authorization")},
        "bearer": {"kind": "http", "url": faults.url("/echo"),
                   "headers": {"Authorization": "Bearer ${env:PW}"},
                   "expect": _echoed("authorization.authorization")},
        "crash": {"kind": "codes", "url": faults.url("/ok"), "basic_auth": auth},
    }  # fmt: skip
    with caplog.at_level(logging.ERROR, logger="cutover.engine"):
        reasons = _results(geo, specs, {"PW": "pwSECRETvalue7777"})
    assert reasons == {
        "basic-auth": "expected authorization.authorization == 0, got 'Basic ***'",
        "bearer": "expected authorization.authorization == 0, got 'Bearer ***'",
        "crash": "probe error: RuntimeError: bug after sending Basic ***",
    }
    assert "bug after sending Basic ***" in caplog.text
    assert "c3ZjOnB3U0VDUkVUdmFsdWU3Nzc3" not in caplog.text  # base64 of svc:pwSECRETvalue7777


def test_a_value_in_a_url_is_encoded_unless_it_stands_for_the_base(tmp_path: Path) -> None:
    """A URL field's references and codes are encoded where they hold one value (user-info,
    path, query, fragment); a whole URL at the start, a host, or an endpoint go in as they
    are, an endpoint's own references encoded where they stand in it.  Other fields are not
    URLs: a header or a JSON value gets the value as it is."""
    from cutover.probes.oidc import OidcSpec

    secrets = Secrets(
        {"HOST": "api.example.vn:8443", "BASE": "https://u:p@api.example.vn/v1",
         "PW": "p@ss:w/rd", "K": "a+b&c=d #é"}, tmp_path,
    )  # fmt: skip
    values = {
        "endpoint.api": "https://svc:${env:PW}@api.example.vn/v1?key=${env:K}",
        "province.name": "Hải Phòng (TP.)",
        "province.slug": "hai-phong",
        "commune.code": "00004",
    }
    pw, k = "p%40ss%3Aw%2Frd", "a%2Bb%26c%3Dd%20%23%C3%A9"
    urls = {
        "https://${env:HOST}/x?k=${env:K}": f"https://api.example.vn:8443/x?k={k}",
        "${env:BASE}/units/{commune.code}": "https://u:p@api.example.vn/v1/units/00004",
        "http://svc:${env:PW}@{province.slug}.example.vn/": f"http://svc:{pw}@hai-phong.example.vn/",
        "{endpoint.api}&n={province.name}#${env:K}": (
            f"https://svc:{pw}@api.example.vn/v1?key={k}&n=H%E1%BA%A3i%20Ph%C3%B2ng%20%28TP.%29#{k}"
        ),
    }
    for template, url in urls.items():
        spec = HttpSpec.model_validate(
            {"kind": "http", "url": template, "headers": {"X-Key": "${env:K}"},
             "expect": {"json": [{"path": "name", "value": "{province.name} ${env:K}"}]}}
        )  # fmt: skip
        rendered = engine.render_spec(spec, values, secrets)
        assert isinstance(rendered, HttpSpec)
        assert rendered.url == url
        assert rendered.headers == {"X-Key": "a+b&c=d #é"}
        assert rendered.expect.json_checks[0].value == "Hải Phòng (TP.) a+b&c=d #é"
        assert engine._Template(spec).render(values, secrets.resolve) == rendered
    oidc = OidcSpec.model_validate(
        {"kind": "oidc", "issuer": "${env:BASE}", "client_id": "dvc-${env:K}",
         "redirect_uri": "https://app.example.vn/cb?k=${env:K}"}
    )  # fmt: skip
    rendered_oidc = engine.render_spec(oidc, values, secrets)
    assert isinstance(rendered_oidc, OidcSpec)
    assert (rendered_oidc.issuer, rendered_oidc.client_id, rendered_oidc.redirect_uri) == (
        "https://u:p@api.example.vn/v1",
        "dvc-a+b&c=d #é",
        f"https://app.example.vn/cb?k={k}",
    )
