"""Local trust: secrets appear nowhere (every format, the store file, history, --quiet lines,
the webhook, the recorded command line), crash logs are private, store files are private and
refused when others can write them, and `command` probes run only when asked."""

from __future__ import annotations

import base64
import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

SECRETS = {"CUTOVER_T_TOKEN": "tok-SECRET-123", "CUTOVER_T_KEY": "key-SECRET-456"}
HOOK_TOKEN = "hook-SECRET-789"
FORMATS = ["table", "json", "csv", "markdown", "html", "junit", "prometheus", "summary"]


def _checklist(path: Path, national_steps: str) -> Path:
    path.write_text(
        "id: trust\ntitle: {vi: trust, en: trust}\nsteps:\n" + national_steps, encoding="utf-8"
    )
    return path


SECRET_STEP = """\
  - id: api-with-secrets
    title: {vi: api, en: api}
    due: 2025-01-01T00:00:00+07:00
    verify:
      kind: http
      url: "{endpoint.national}/api/units/{province.code}?key=${env:CUTOVER_T_KEY}"
      headers: {Authorization: "Bearer ${env:CUTOVER_T_TOKEN}"}
      expect: {status: 418}
"""


@pytest.fixture
def webhook() -> Iterator[list[bytes]]:
    received: list[bytes] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            # The body is what cutover says; the path and header are the hook's own credentials.
            assert HOOK_TOKEN in self.path and "Basic " in self.headers["Authorization"]
            received.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.append(str(server.server_address[1]).encode())
    yield received
    server.shutdown()
    server.server_close()


def _hook(webhook: list[bytes]) -> str:
    port = int(webhook.pop(0))
    return f"http://robot:{HOOK_TOKEN}@127.0.0.1:{port}/bot{HOOK_TOKEN}/send?token={HOOK_TOKEN}"


def _shown_everywhere(  # type: ignore[no-untyped-def]
    cli, checklist: Path, store: Path, hook: str, *check: str
) -> tuple[list[bytes], str]:
    """What `check` (plain and --quiet, with a webhook), every `matrix` format, the workbook,
    `history`, `db` and the store's files (its WAL too) hold after checking `checklist`, and
    what `history` printed."""
    outputs = []
    for quiet in ([], ["--quiet"]):
        run = cli("check", "-p", "31", "--checklist", str(checklist), *check,
                  "--notify", hook, *quiet)  # fmt: skip
        assert run.code == 1, run.err
        outputs += [run.out, run.err]
    for fmt in FORMATS:
        shown = cli("matrix", "-p", "31", "--checklist", str(checklist), "--format", fmt)
        outputs += [shown.out, shown.err]
    xlsx = store.parent / "m.xlsx"
    cli("matrix", "-p", "31", "--checklist", str(checklist), "--format", f"xlsx:{xlsx}")
    history = cli("history", "31", "--checklist", str(checklist))
    described = cli("db")
    outputs += [history.out, described.out]
    blobs = [o.encode() for o in outputs] + [xlsx.read_bytes()]
    blobs += [p.read_bytes() for p in store.parent.glob(f"{store.name}*")]
    return blobs, history.out


def test_secret_values_appear_nowhere(  # type: ignore[no-untyped-def]
    cli, make_sim, overlay_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook, elsewhere
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "store.db"
    monkeypatch.setenv("CUTOVER_DB", str(db))
    sim = make_sim()
    overlay = overlay_file(sim.base_url)
    checklist = _checklist(tmp_path / "c.yaml", SECRET_STEP)
    hook = _hook(webhook)
    blobs, history = _shown_everywhere(cli, checklist, db, hook, "--endpoints", str(overlay))
    assert webhook, "the webhook was called"
    assert "?key=***: expected status 418, got 404" in history  # the reason is there, redacted
    blobs += webhook
    for value in [*SECRETS.values(), HOOK_TOKEN]:
        for blob in blobs:
            assert value.encode() not in blob
    assert b"key=***" in b"".join(blobs)  # the URL is shown, its secret is not


# Secrets that change meaning in a URL unless encoded, and a password sent base64-encoded.
URL_SECRETS = {
    "CUTOVER_T_SPACE": "aaaa bbbb&x=1#frag",
    "CUTOVER_T_B64": "abc+def/ghi@jkl=mno",
    "CUTOVER_T_PCT": "pct%41secretvalue",
    "CUTOVER_T_PW": "pwSECRETvalue7777",
}

ECHO_STEP = """\
  - id: {id}
    title: {{vi: echo, en: echo}}
    due: 2025-01-01T00:00:00+07:00
    verify:
      kind: http
      url: "{url}"
      expect: {{json: [{{path: {shown}, value: 0}}]}}
"""


def test_secrets_in_urls_and_credentials_appear_nowhere_even_echoed(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, webhook, elsewhere
) -> None:
    """A server that echoes what it received, decoded or not, into the body a probe checks:
    the reasons quote it, and every place a reason goes shows *** instead."""
    from urllib.parse import quote, quote_plus

    from fault_server import FaultServer

    for name, value in URL_SECRETS.items():
        monkeypatch.setenv(name, value)
    db = tmp_path / "store.db"
    monkeypatch.setenv("CUTOVER_DB", str(db))
    (tmp_path / "faults").mkdir()
    with FaultServer(tmp_path / "faults") as faults:
        base = faults.url("")
        steps = [
            ("query", f"{base}/echo?a=${{env:CUTOVER_T_SPACE}}&b=${{env:CUTOVER_T_B64}}", "query"),
            ("query-raw", f"{base}/echo?t=${{env:CUTOVER_T_SPACE}}", "target"),
            ("path", f"{base}/echo/${{env:CUTOVER_T_B64}}/${{env:CUTOVER_T_PCT}}", "path"),
            ("path-raw", f"{base}/echo/${{env:CUTOVER_T_PCT}}", "target"),
            ("user-info", base.replace("//", "//svc:${env:CUTOVER_T_B64}@") + "/echo",
             "authorization.authorization"),
        ]  # fmt: skip
        text = "".join(ECHO_STEP.format(id=i, url=u, shown=s) for i, u, s in steps)
        text += ECHO_STEP.format(id="basic-auth", url=f"{base}/echo",
                                 shown="authorization.authorization").replace(
            "      expect:", '      basic_auth: {user: svc, password: "${env:CUTOVER_T_PW}"}\n'
            "      expect:")  # fmt: skip
        checklist = _checklist(tmp_path / "c.yaml", text)
        blobs, _ = _shown_everywhere(cli, checklist, db, _hook(webhook))
    assert webhook, "the webhook was called"
    blobs += webhook
    everything = b"\n".join(blobs)
    assert b"got 'Basic ***'" in everything and b"got '/echo/***/***'" in everything
    forms = [f(v) for v in URL_SECRETS.values() for f in (str, quote_plus, lambda v: quote(v, ""))]
    forms += [base64.b64encode(f"svc:{URL_SECRETS[n]}".encode()).decode()
              for n in ("CUTOVER_T_PW", "CUTOVER_T_B64")]  # fmt: skip
    forms += ["aaaa bbbb", "abc def", "pctAsecret"]  # how the server read them unencoded
    for form in forms:
        assert form.encode() not in everything, form


def test_notify_url_checked_before_probing(cli, elsewhere) -> None:  # type: ignore[no-untyped-def]
    bad = cli("check", "-p", "31", "--notify", "ftp://user:pw@host/x")
    assert bad.code == 2
    assert bad.err_lines == [
        "cutover: error: --notify must be an http(s) URL with a host, got ftp://host/***"
    ]


def test_a_dripping_webhook_costs_its_timeout_not_the_run() -> None:
    import socket
    import time

    from cutover.changes import Change, notify

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def drip() -> None:
        conn, _ = listener.accept()
        with conn:
            send(conn)

    def send(conn: socket.socket) -> None:
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
        for _ in range(100):
            time.sleep(0.1)
            try:
                conn.sendall(b"x")
            except OSError:
                return

    threading.Thread(target=drip, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"

    class Fake:
        class checklist:
            id = "c"
            timezone = "Asia/Ho_Chi_Minh"

        from datetime import UTC, datetime

        as_of = datetime(2025, 6, 28, tzinfo=UTC)

    began = time.monotonic()
    problem = notify(url, [Change("31", "s", None, "done", "")], Fake(), timeout=1.0)  # type: ignore[arg-type]
    assert time.monotonic() - began < 3
    port = listener.getsockname()[1]
    listener.close()
    assert problem == f"webhook http://127.0.0.1:{port}/*** did not answer within 1 s"


def test_crash_log_is_private_unique_and_named(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, elsewhere
) -> None:
    from cutover import service

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug")

    state = tmp_path / "state"
    monkeypatch.setenv("CUTOVER_STATE_DIR", str(state))
    monkeypatch.setattr(service, "prepare", broken)
    first = cli("matrix")
    second = cli("matrix")
    assert first.code == 3
    logs = sorted(state.iterdir())
    assert len(logs) == 2  # a unique name per crash
    for result, log in zip((first, second), logs, strict=True):
        assert result.err_lines == [
            f"cutover: internal error: RuntimeError: a bug (traceback in {log})"
        ]
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert "Traceback" in log.read_text(encoding="utf-8")
    assert stat.S_IMODE(state.stat().st_mode) == 0o700


def test_crash_log_never_follows_a_symlink(tmp_path: Path) -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    from cutover.crashlog import write_crash_log
    from cutover.env import Environment, fixed_clock

    state = tmp_path / "state"
    state.mkdir()
    target = tmp_path / "victim"
    target.write_text("keep", encoding="utf-8")
    env = replace(Environment(environ={"CUTOVER_STATE_DIR": str(state)}),
                  clock=fixed_clock(datetime(2025, 6, 28, tzinfo=UTC)))  # fmt: skip
    planted = state / f"crash-20250628T000000-{os.getpid()}-0.log"
    planted.symlink_to(target)
    written = write_crash_log(RuntimeError("x"), env)
    assert written is not None and written != planted
    assert target.read_text(encoding="utf-8") == "keep"


def test_new_store_is_private(cli, tmp_path: Path, elsewhere) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "own.db"
    cli("mark", "31", "commune-plans", "--by", "A", "--evidence", "https://x.vn", "--db", str(db))
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_store_others_can_write_is_refused(cli, tmp_path: Path, elsewhere) -> None:  # type: ignore[no-untyped-def]
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    mark = ["mark", "31", "commune-plans", "--by", "A", "--evidence", "https://x.vn"]
    result = cli(*mark, "--db", str(shared / "s.db"))
    assert result.code == 3
    assert result.err_lines == [
        f"cutover: error: store directory {shared} is writable by other users; "
        f"run `chmod o-w {shared}` or choose another --db"
    ]
    own = tmp_path / "own.db"
    cli("mark", "31", "commune-plans", "--by", "A", "--evidence", "https://x.vn", "--db", str(own))
    own.chmod(0o666)
    result = cli("db", "--db", str(own))
    assert result.code == 3
    assert "is writable by other users" in result.err_lines[0]


COMMAND_STEP = """\
  - id: local-script
    title: {vi: script, en: script}
    due: 2099-01-01T00:00:00+07:00
    verify: {kind: command, argv: [touch, MARKER]}
"""


@pytest.mark.parametrize(
    ("how", "runs"),
    [("implicit", False), ("path only", False), ("path and flag", True), ("flag only", False)],
)
def test_commands_run_only_when_asked(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, runs: bool
) -> None:
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "ran"
    text = COMMAND_STEP.replace("MARKER", str(marker))
    (tmp_path / "checklists").mkdir()
    implicit = _checklist(tmp_path / "checklists" / "cutover-2025-06.yaml", text)
    args = ["check", "-p", "31", "--no-store", "--format", "json"]
    if how in ("path only", "path and flag"):
        args += ["--checklist", str(implicit)]
    if how in ("path and flag", "flag only"):
        args += ["--allow-commands"]
    result = cli(*args)
    assert marker.exists() is runs, result.err
    cell = json.loads(result.out)["cells"][0]
    assert cell["status"] == ("done" if runs else "unknown")


def test_a_webhook_that_redirects_is_reported_and_not_followed() -> None:
    """urllib follows a 302 by turning the POST into a GET (the changes lost without a word)
    and sends the Basic credentials on to the host the answer names.  The webhook's answer
    is reported instead, and nothing reaches the other host."""
    import socket

    from cutover.changes import Change, notify

    elsewhere = socket.socket()
    elsewhere.bind(("127.0.0.1", 0))
    elsewhere.listen()
    elsewhere.settimeout(0.5)
    hook = socket.socket()
    hook.bind(("127.0.0.1", 0))
    hook.listen()
    port, other = hook.getsockname()[1], elsewhere.getsockname()[1]

    def answer() -> None:
        conn, _ = hook.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(
                f"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{other}/stolen\r\n"
                "Content-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )

    threading.Thread(target=answer, daemon=True).start()

    class Fake:
        class checklist:
            id = "c"
            timezone = "Asia/Ho_Chi_Minh"

        from datetime import UTC, datetime

        as_of = datetime(2025, 6, 28, tzinfo=UTC)

    url = f"http://u:HookPass99xx@127.0.0.1:{port}/hooks/TOK?k=QSECRET777"
    problem = notify(url, [Change("31", "s", None, "done", "")], Fake(), timeout=5.0)  # type: ignore[arg-type]
    assert problem == f"webhook http://127.0.0.1:{port}/***?k=*** answered 302"
    with pytest.raises(TimeoutError):
        elsewhere.accept()  # nobody was sent on to the other host
    hook.close()
    elsewhere.close()
