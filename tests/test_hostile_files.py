"""Hostile files (issue 8): one located line and exit 2 on every command that loads them, fast
and in bounded memory; paths that are not regular files refused before any read; literals
that look like secrets warned about; `${env:…}`/`${file:…}` references accepted."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

import pytest

from cutover import safefiles, yamlio
from cutover.errors import ConfigError
from cutover.safefiles import FileRefused, read_regular, sha256_regular
from cutover.validation import looks_secret

ROOT = Path(__file__).resolve().parent.parent
BAD = ROOT / "tests" / "bad"
HOSTILE = [
    "control-char.yaml",
    "control-nul.yaml",
    "deep-block.yaml",
    "deep-flow.yaml",
    "deep-keys.yaml",
    "huge-int.yaml",
    "impossible-date.yaml",
    "impossible-datetime.yaml",
    "tag-bool.yaml",
    "tag-float.yaml",
    "tag-int.yaml",
    "tag-timestamp.yaml",
    "billion-laughs.yaml",
]
EXPECTED = {  # as in test_yaml_corpus
    "control-char.yaml": "8:16: steps[0].task: control character U+001B is not allowed in YAML",
    "deep-block.yaml": "3:199: title[0][0][0][0][0][0][0]…: nested deeper than 100 levels",
    "deep-flow.yaml": "2:107: title[0][0][0][0][0][0][0]…: nested deeper than 100 levels",
    "huge-int.yaml": "8:16: steps[0].freshness: a number of 5,000 digits is too long "
    "(at most 100); quote it if it is text",
    "impossible-date.yaml": "6:10: steps[0].due: impossible date '2025-02-30': "
    "day is out of range for month",
    "tag-bool.yaml": "7:12: steps[0].owner: !!bool value 'maybe' is not true or false",
}
# CPU seconds of the command: a bound against pathological (quadratic, unbounded) work that
# holds on a machine shared with other jobs, where wall time does not.
MAX_SECONDS = 2.0
MAX_RSS = 200 * 1024 * 1024


# Runs the command as its child and reports RUSAGE_CHILDREN on stdout.  On Linux a child's
# ru_maxrss starts at its parent's RSS when forked, so measuring straight from the test
# process (pytest, hypothesis, every module loaded) would count the test runner too: this
# small wrapper is the parent instead.
_WRAPPER = """\
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print(used.ru_maxrss, used.ru_utime + used.ru_stime)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_measured(*args: str, cwd: Path = ROOT, timeout: float = 20) -> tuple[int, str, float, int]:
    """`python -m cutover ARGS` in a child process: exit code, stderr, CPU seconds and the
    child's peak RSS in bytes."""
    store = tempfile.mkdtemp(prefix="cutover-test-")  # never the user's store
    env = {**os.environ, "NO_COLOR": "1", "CUTOVER_DB": str(Path(store) / "cutover.db")}
    env.pop("CUTOVER_ENDPOINTS", None)
    command = [sys.executable, "-m", "cutover", *args]
    try:
        result = measure(command, cwd=cwd, env=env, timeout=timeout)
        if result[2] >= MAX_SECONDS:
            # A machine shared with other jobs can stall one run; a slow command is slow twice.
            again = measure(command, cwd=cwd, env=env, timeout=timeout)
            result = min(result, again, key=lambda r: r[2])
        return result
    finally:
        shutil.rmtree(store, ignore_errors=True)


def measure(
    command: list[str], *, cwd: Path, env: dict[str, str], timeout: float
) -> tuple[int, str, float, int]:
    command = [sys.executable, "-c", _WRAPPER, *command]
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # so a timeout kills the command as well as the wrapper
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    rss_kb, cpu = (out.decode().split() or ["0", "0"])[:2]
    return proc.returncode, err.decode("utf-8", "replace"), float(cpu), int(rss_kb) * 1024


def test_measurement_sees_the_child_not_the_test_runner() -> None:
    """The harness itself: a child that touches 220 MB is seen as such, and this process's
    own memory (here 150 MB more) is not counted for a child that uses little."""
    hog = "x = bytearray(220 * 2**20)\nfor i in range(0, len(x), 4096): x[i] = 1"
    fat = bytearray(150 * 2**20)
    fat[:: 1 << 12] = b"\x01" * len(fat[:: 1 << 12])
    env = dict(os.environ)
    code, _, _, rss = measure([sys.executable, "-c", hog], cwd=ROOT, env=env, timeout=30)
    assert code == 0 and rss > MAX_RSS
    code, _, _, rss = measure([sys.executable, "-c", "pass"], cwd=ROOT, env=env, timeout=30)
    assert code == 0 and rss < 100 * 2**20
    del fat


def assert_one_line(err: str, file: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cutover: error: {file}:"), lines[0]
    return lines[0]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_file_fast_and_small_in_a_process(name: str) -> None:
    code, err, seconds, rss = run_measured("validate", f"tests/bad/{name}")
    assert code == 2
    assert_one_line(err, f"tests/bad/{name}")
    assert seconds < MAX_SECONDS, f"{seconds:.2f} s"
    assert rss < MAX_RSS, f"{rss / 2**20:.0f} MB"


@pytest.mark.parametrize(
    "command",
    [
        ["check", "--no-store", "--all", "--checklist"],
        ["matrix", "--checklist"],
        ["mark", "01", "sso-test", "--by", "me", "--evidence", "https://e.gov.vn", "--checklist"],
    ],
    ids=lambda c: c[0],
)
def test_other_commands_fast_and_small(command: list[str]) -> None:
    for name in ("deep-flow.yaml", "billion-laughs.yaml"):
        code, err, seconds, rss = run_measured(*command, f"tests/bad/{name}")
        assert code == 2
        assert_one_line(err, f"tests/bad/{name}")
        assert seconds < MAX_SECONDS, f"{seconds:.2f} s"
        assert rss < MAX_RSS, f"{rss / 2**20:.0f} MB"


def _big_cases() -> dict[str, tuple[str, str]]:
    """Files near the 5 MB limit built to be as expensive as possible: (text, expected end)."""
    return {
        "flow-4m-deep.yaml": (
            "id: x\ntitle: " + "[" * 2_000_000 + "]" * 2_000_000 + "\n",
            "2:107: title[0][0][0][0][0][0][0]…: nested deeper than 100 levels",
        ),
        "block-2m-deep.yaml": (
            "id: x\ntitle:\n" + "- " * 2_000_000 + "x\n",
            "3:199: title[0][0][0][0][0][0][0]…: nested deeper than 100 levels",
        ),
        "wide-list.yaml": (
            "id: x\ntitle: [" + "1," * 2_500_000 + "1]\n",
            "2:99999: title[49995]: document has over 50,000 values",
        ),
        "wide-map.yaml": (
            "a:\n" + "".join(f" k{i}: 1\n" for i in range(400_000)),
            "25000:10: a.k24998: document has over 50,000 values",
        ),
        "long-numbers.yaml": (
            "a: [" + ",".join(["9" * 99] * 30_000) + "]\n",
            "2:1: a: a number of",  # not reached: see the assertion below
        ),
    }


@pytest.mark.parametrize("name", sorted(_big_cases()))
def test_expensive_file_bounded(name: str, tmp_path: Path) -> None:
    text, expected = _big_cases()[name]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert path.stat().st_size < yamlio.MAX_BYTES
    code, err, seconds, rss = run_measured("validate", name, cwd=tmp_path)
    assert code == 2
    line = assert_one_line(err, name)
    if name == "long-numbers.yaml":  # 30,000 numbers of 99 digits are fine YAML, not a checklist
        assert line.endswith(
            "(expected a top-level 'steps', 'provinces', 'endpoints' or 'features')"
        )
    else:
        assert line.endswith(expected), line
    assert seconds < MAX_SECONDS, f"{seconds:.2f} s"
    assert rss < MAX_RSS, f"{rss / 2**20:.0f} MB"


# Every command that loads a checklist goes through load_checklist: the same line everywhere.
COMMANDS = [
    ["validate"],
    ["check", "--no-store", "-p", "01", "--checklist"],
    ["matrix", "--checklist"],
    ["summary", "--checklist"],
    ["history", "--checklist"],
    ["mark", "01", "sso-test", "--by", "me", "--evidence", "https://e.gov.vn", "--checklist"],
    [
        "waive",
        "01",
        "sso-test",
        "--reason",
        "r",
        "--approver",
        "a",
        "--until",
        "2030",
        "--checklist",
    ],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
@pytest.mark.parametrize("name", ["deep-flow.yaml", "impossible-date.yaml", "control-char.yaml"])
def test_every_command_one_line(command: list[str], name: str, cli, in_root: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(*command, f"tests/bad/{name}")
    assert result.code == 2
    assert result.out == ""
    assert result.err_lines == [f"cutover: error: tests/bad/{name}:{EXPECTED[name]}"]


@pytest.mark.parametrize(
    "args",
    [
        ["check", "--no-store", "-p", "01", "--endpoints"],
        ["check", "--no-store", "-p", "01", "--provinces"],
        ["provinces", "--provinces"],
        ["matrix", "--provinces"],
    ],
    ids=lambda a: "-".join(x for x in a if x.startswith("--") and x != "--no-store"),
)
def test_overlay_and_provinces_files_one_line(args: list[str], cli, in_root: Path) -> None:  # type: ignore[no-untyped-def]
    for name in ("deep-block.yaml", "tag-bool.yaml", "huge-int.yaml"):
        result = cli(*args, f"tests/bad/{name}")
        assert result.code == 2
        assert result.err_lines == [f"cutover: error: tests/bad/{name}:{EXPECTED[name]}"]


# Paths that are not regular files: refused at once, before anything is read.
@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.yaml"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["check", "--no-store", "-p", "01", "--checklist"],
        ["check", "--no-store", "-p", "01", "--endpoints"],
        ["check", "--no-store", "-p", "01", "--provinces"],
        ["provinces", "--provinces"],
        ["matrix", "--checklist"],
    ],
    ids=lambda a: a[0] + "".join(x for x in a if x.startswith("--") and x != "--no-store"),
)
def test_fifo_refused_at_once(args: list[str], fifo: Path) -> None:
    code, err, seconds, _ = run_measured(*args, str(fifo), timeout=10)
    assert code == 2
    assert err.splitlines() == [
        f"cutover: error: {fifo}: is a named pipe (FIFO), not a regular file"
    ]
    assert seconds < MAX_SECONDS


@pytest.mark.parametrize(
    "args",
    [["validate"], ["check", "--no-store", "--all", "--endpoints"], ["provinces", "--provinces"]],
    ids=lambda a: a[0],
)
def test_dev_zero_refused_at_once(args: list[str]) -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero")
    code, err, seconds, rss = run_measured(*args, "/dev/zero", timeout=10)
    assert code == 2
    assert err.splitlines() == [
        "cutover: error: /dev/zero: is a character device, not a regular file"
    ]
    assert seconds < MAX_SECONDS and rss < MAX_RSS


@pytest.mark.parametrize(
    "args",
    [
        ["validate"],
        ["check", "--no-store", "-p", "01", "--checklist"],
        ["check", "--no-store", "-p", "01", "--endpoints"],
        ["summary", "--provinces"],
        ["mark", "01", "sso-test", "--by", "me", "--evidence", "https://e.gov.vn", "--checklist"],
    ],
    ids=lambda a: a[0] + "".join(x for x in a if x.startswith("--") and x != "--no-store"),
)
def test_directory_refused(args: list[str], cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli(*args, str(tmp_path))
    assert result.code == 2
    assert result.err_lines == [f"cutover: error: {tmp_path}: is a directory, not a regular file"]


def test_checklist_name_with_a_slash_is_a_path(cli, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("check", "--no-store", "-p", "01", "--checklist", "nowhere/plan")
    assert result.err_lines == ["cutover: error: nowhere/plan: no such file"]
    result = cli("check", "--no-store", "-p", "01", "--checklist", "x" * 5000)
    assert result.code == 2 and len(result.err_lines) == 1
    assert result.err_lines[0].startswith("cutover: error: no checklist 'xxx")


# safefiles


def test_read_regular_reads_and_follows_symlinks(tmp_path: Path) -> None:
    real = tmp_path / "real.yaml"
    real.write_bytes(b"a: 1\n")
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    assert read_regular(link, what="link.yaml", limit=100) == b"a: 1\n"
    assert read_regular(real, what="x", limit=5) == b"a: 1\n"  # exactly the limit is fine


def test_read_regular_refuses_over_the_limit(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_bytes(b"x" * 3000)
    with pytest.raises(FileRefused) as caught:
        read_regular(big, what="big.yaml", limit=2048)
    assert str(caught.value) == "big.yaml: file is 0.0 MB, over the 2 KB limit"
    assert caught.value.exit_code == 2


def test_read_regular_reads_at_most_limit_plus_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that grows after fstat (here: fstat says 0 bytes) is still cut at the limit."""
    grown = tmp_path / "grown.yaml"
    grown.write_bytes(b"y" * 10_000)
    real_fstat = os.fstat
    reads: list[int] = []
    real_read = os.read

    def small_fstat(fd: int) -> os.stat_result:
        st = real_fstat(fd)
        return os.stat_result((st.st_mode, *st[1:6], 0, *st[7:10]))

    def counting_read(fd: int, n: int) -> bytes:
        block = real_read(fd, n)
        reads.append(len(block))
        return block

    monkeypatch.setattr(safefiles.os, "fstat", small_fstat)
    monkeypatch.setattr(safefiles.os, "read", counting_read)
    with pytest.raises(FileRefused, match="file grew over the 1 KB limit while being read"):
        read_regular(grown, what="grown.yaml", limit=1024)
    assert sum(reads) == 1025


def test_fifo_refused_without_blocking(fifo: Path) -> None:
    # Should the open block after all, a writer arriving after 5 s releases it (test fails).
    release = threading.Timer(5, lambda: os.close(os.open(fifo, os.O_WRONLY)))
    release.daemon = True
    release.start()
    start = time.perf_counter()
    try:
        for call in (
            lambda: read_regular(fifo, what="pipe", limit=10),
            lambda: sha256_regular(fifo, what="--evidence-file pipe"),
        ):
            with pytest.raises(FileRefused, match="is a named pipe"):
                call()
    finally:
        release.cancel()
    assert time.perf_counter() - start < 1


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/dev/zero", "is a character device, not a regular file"),
        ("/", "is a directory, not a regular file"),
        ("/nonexistent/x.yaml", "no such file"),
        ("/etc/passwd/x", "no such file (a parent is not a directory)"),
    ],
)
def test_not_readable_reasons(path: str, reason: str) -> None:
    for call in (read_regular, sha256_regular):
        with pytest.raises(FileRefused) as caught:
            call(Path(path), what=f"--evidence-file {path}", limit=1 << 20)
        assert str(caught.value) == f"--evidence-file {path}: {reason}"


def test_symlink_to_a_device_refused(tmp_path: Path) -> None:
    link = tmp_path / "evidence.pdf"
    link.symlink_to("/dev/zero")
    with pytest.raises(FileRefused, match="is a character device"):
        sha256_regular(link, what="--evidence-file evidence.pdf")


def test_sha256_regular_chunks_in_constant_memory(tmp_path: Path) -> None:
    data = os.urandom(3 * safefiles.CHUNK + 17)
    small = tmp_path / "scan.pdf"
    small.write_bytes(data)
    assert sha256_regular(small, what="scan.pdf") == hashlib.sha256(data).hexdigest()
    sparse = tmp_path / "sparse.img"
    with sparse.open("wb") as f:
        f.truncate(64 * 1024 * 1024)
    tracemalloc.start()
    digest = sha256_regular(sparse, what="sparse.img")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert digest == hashlib.sha256(bytes(64 * 1024 * 1024)).hexdigest()
    assert peak < 4 * safefiles.CHUNK
    with pytest.raises(FileRefused, match=r"file is 67\.1 MB, over the 32 MB limit"):
        sha256_regular(sparse, what="sparse.img", limit=32 * 1024 * 1024)


# The loader itself


def test_control_character_position_counts_yaml_line_breaks() -> None:
    with pytest.raises(ConfigError) as caught:
        yamlio.load_text("a: 1\r\nb:\r\n  c: x\x7f\n", "f.yaml")
    assert caught.value.lines() == [
        "f.yaml:3:7: b.c: control character U+007F is not allowed in YAML"
    ]
    with pytest.raises(ConfigError) as caught:  # NEL is a YAML line break
        yamlio.load_text("a: [1,\x852]\nb: \x9b\n", "f.yaml")
    assert caught.value.lines() == [
        "f.yaml:3:4: b: control character U+009B is not allowed in YAML"
    ]


def test_control_character_in_a_comment_or_key() -> None:
    with pytest.raises(ConfigError) as caught:
        yamlio.load_text("a: 1\nb\x01c: 2\n", "f.yaml")
    assert caught.value.lines() == ["f.yaml:2:2: control character U+0001 is not allowed in YAML"]
    with pytest.raises(ConfigError) as caught:
        yamlio.load_text("a:\n  b: 1\n  \x01: 2\n", "f.yaml")  # in a key: the mapping's path
    assert caught.value.lines() == [
        "f.yaml:3:3: a: control character U+0001 is not allowed in YAML"
    ]
    with pytest.raises(ConfigError) as caught:
        yamlio.load_text("a: b: \x01\n", "f.yaml")  # the structure is broken too: no key path
    assert caught.value.lines() == ["f.yaml:1:7: control character U+0001 is not allowed in YAML"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: !!map x\n", "1:4: a: YAML tag !!map does not fit a scalar"),
        ("a: !!str [1]\n", "1:4: a: YAML tag !!str does not fit a sequence"),
        ("a: !!seq {b: 1}\n", "1:4: a: YAML tag !!seq does not fit a mapping"),
        ("a: !!null x\n", "1:4: a: !!null value 'x' is not null"),
        ("a: !!int 0x\n", "1:4: a: !!int value '0x' is not an integer"),
        ("a: !!binary aGk=\n", "1:4: a: YAML tag !!binary is not allowed"),
        ("a: !local x\n", "1:4: a: YAML tag !local is not allowed"),
        ("a: 0000-01-01\n", "1:4: a: impossible date '0000-01-01': year 0 is out of range"),
        ("a: 2025-13-01\n", "1:4: a: impossible date '2025-13-01': month must be in 1..12"),
        ("a: *nope\n", "1:4: a: unknown alias *nope"),
        ("a: &x [1, *x]\n", "1:11: a[1]: recursive alias"),
        ("a: &x {b: *x}\n", "1:11: a.b: recursive alias"),
        ("a: 1\n---\nb: 2\n", "2:1: a second document in one file is not supported"),
        ("a: {[1]: 2}\n", "1:5: a: a mapping key must be a plain value"),
        ("a:\n  <<: {b: 1}\n", "2:3: a: merge keys (<<) are not supported"),
        ("a: [1, 2\n", "2:1: a: invalid YAML: did not find expected ',' or ']'"),
        (
            "a: -" + "1" * 150 + "\n",
            "1:4: a: a number of 150 digits is too long (at most 100); quote it if it is text",
        ),
        (
            "a: 0x" + "f" * 150 + "\n",
            "1:4: a: a number of 152 characters is too long (at most 100); quote it if it is text",
        ),
    ],
)
def test_loader_errors_are_located(text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        yamlio.load_text(text, "f.yaml")
    assert caught.value.lines() == [f"f.yaml:{expected}"]


def test_aliases_expand_as_copies_and_count() -> None:
    doc = yamlio.load_text("a: &x {b: [1, 2]}\nc: *x\n", "f.yaml")
    assert doc.data == {"a": {"b": [1, 2]}, "c": {"b": [1, 2]}}
    assert doc.data["a"] is not doc.data["c"]
    assert doc.locate(("c", "b", 0)) == (2, 1)  # inside an alias: where the alias is


def test_a_key_path_with_a_newline_stays_on_one_line() -> None:
    with pytest.raises(ConfigError) as caught:
        yamlio.load_text('"a\\nb": {c: !!bool x}\n', "f.yaml")
    assert caught.value.lines() == ["f.yaml:1:13: 'a\\nb'.c: !!bool value 'x' is not true or false"]


# Secrets: literal credentials warned about, references accepted


CHECKLIST = """\
id: secrets
title: {{vi: Thử, en: Test}}
steps:
  - id: one
    title: {{vi: Một, en: One}}
    due: 2025-06-28T13:00:00+07:00
    owner: o
    task: t
    responsible: r
    deliverable: d
    authority: a
    verify:
      kind: http
      url: "{url}"
      headers: {{Authorization: "{auth}"}}
"""


def test_literal_secrets_warned_never_shown(cli, tmp_path: Path, in_root: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "c.yaml"
    f.write_text(
        CHECKLIST.format(
            url="https://ops:Hunter2pw@portal.gov.vn/x?api_key=Zq81kLmN", auth="Bearer s3cr3tTok"
        ),
        encoding="utf-8",
    )
    result = cli("validate", str(f))
    assert result.code == 0
    hint = "; write a reference such as ${env:NAME} or ${file:PATH} instead"
    assert result.err_lines == [
        f"cutover: warning: {f}:14:7: steps[0].verify.url: URL with a literal password or "
        f"token before the @{hint}",
        f"cutover: warning: {f}:15:17: steps[0].verify.headers.Authorization: literal "
        f"credential in the Authorization header{hint}",
    ]
    for secret in ("Hunter2pw", "Zq81kLmN", "s3cr3tTok"):
        assert secret not in result.err + result.out
    assert cli("validate", "--strict", str(f)).code == 2


def test_references_accepted_everywhere(cli, tmp_path: Path, in_root: Path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "c.yaml"
    f.write_text(
        CHECKLIST.format(
            url="https://${env:PORTAL_HOST}/x?token=${env:T}&p={province.code}",
            auth="Bearer ${file:/run/secrets/portal-token}",
        ),
        encoding="utf-8",
    )
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text(
        "endpoints:\n  national: ${env:NATIONAL_URL}\n"
        "province_endpoints:\n  portal: https://${env:USER}:${env:PASS}@{province.slug}.gov.vn\n",
        encoding="utf-8",
    )
    result = cli("validate", "--strict", "provinces.yaml", str(f), str(overlay))
    assert result.code == 0, result.err
    assert result.err == ""
    assert result.lines[1:] == [
        f"ok {overlay} (endpoint overlay, 1 national, 1 per-province endpoints)",
        f"ok {f} (checklist secrets, 1 steps)",
    ]


def test_overlay_literal_password_warned(cli, tmp_path: Path, in_root: Path) -> None:  # type: ignore[no-untyped-def]
    overlay = tmp_path / "overlay.yaml"
    overlay.write_text("endpoints:\n  national: https://admin:admin@dvc.gov.vn\n", "utf-8")
    result = cli("validate", "provinces.yaml", str(overlay))
    assert result.code == 0
    assert result.err_lines[0] == (
        f"cutover: warning: {overlay}:2:3: endpoints.national: URL with a literal password or "
        "token before the @; write a reference such as ${env:NAME} or ${file:PATH} instead"
    )
    # The other warnings name the endpoints this partial overlay leaves to production.
    assert [ln.split("no endpoint ")[1].split(",")[0] for ln in result.err_lines[1:]] == [
        "'portal'",
        "'procedures'",
        "'sso'",
        "'edoc'",
    ]


@pytest.mark.parametrize(
    ("key", "value", "flagged"),
    [
        ("url", "https://u:p@host/x", True),
        ("url", "https://TOKEN@host/x", True),
        ("url", "https://user:${env:P}@host", False),
        ("url", "https://${env:U}:${env:P}@host", False),
        ("url", "https://h/x?token=abc", True),
        ("url", "https://h/x?a=1&access_token=abc", True),
        ("url", "{endpoint.portal}/x?apikey=zz", True),
        ("url", "https://h/x?key=${env:K}&p={province.code}", False),
        ("url", "https://h/x?keyword=vietnam", False),
        ("Authorization", "Bearer abc.def", True),
        ("Authorization", "Basic ${env:B}", False),
        ("X-Api-Key", "abc", True),
        ("password", "hunter2", True),
        ("password", "${file:/run/secrets/p}", False),
        ("client_secret", "xyz", True),
        ("token_endpoint", "https://sso.gov.vn/token", False),
        ("note", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.sig", True),
        ("note", "ghp_abcdefghijklmnopqrstuvwxyz0123456789", True),
        ("note", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z", True),
        ("note", "/api/v1/provinces/units-declared/for-everyone", False),
        ("note", "0123456789abcdef0123456789abcdef01234567", False),
        ("body_regex", "^https://dichvucong\\.gov\\.vn(/|$)", False),
        ("instructions", "Attach the steering committee's register of received plans.", False),
    ],
)
def test_looks_secret(key: str, value: str, flagged: bool) -> None:
    reason = looks_secret(key, value)
    assert bool(reason) is flagged, reason
    if reason:
        assert value not in reason


# Values that pass YAML but used to crash a validator


def _checklist(tmp_path: Path, step_extra: str = "", verify: str = "{kind: manual}") -> Path:
    f = tmp_path / "c.yaml"
    f.write_text(
        "id: c\ntitle: {vi: a, en: b}\nsteps:\n  - id: one\n    title: {vi: a, en: b}\n"
        f"    due: 2025-06-28T13:00:00+07:00\n{step_extra}    verify: {verify}\n",
        encoding="utf-8",
    )
    return f


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    freshness: 99999999999999999w\n",
            "7:5: steps[0].freshness: expected a duration like 30m, 12h, 7d or 2w, "
            "got '99999999999999999w'",
        ),
        (
            "    freshness: '٣d'\n",  # an Arabic-Indic digit is not a digit here
            "7:5: steps[0].freshness: expected a duration like 30m, 12h, 7d or 2w, got '٣d'",
        ),
        (
            f"    owner: {'x' * 100_000}\n    {'colour' * 150}: y\n",
            f"8:5: steps[0].{('colour' * 7)[:37]}...: unknown key '{('colour' * 7)[:36]}...",
        ),
        (
            f"    task: {'z' * 100_000}\n    level: {'w' * 100_000}\n",
            "8:5: steps[0].level: Input should be 'province' or 'commune' "
            f"(got str '{'w' * 36}...)",
        ),
    ],
)
def test_odd_values_one_short_line(extra: str, expected: str, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    f = _checklist(tmp_path, step_extra=extra)
    result = cli("validate", str(f))
    assert result.code == 2
    assert result.err_lines == [f"cutover: error: {f}:{expected}"]


@pytest.mark.parametrize("key", ["body_regex", "final_url"])
def test_regex_nested_thousands_deep(key: str, cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pattern = "(" * 5000 + ")" * 5000
    verify = (
        f'{{kind: http, url: "{{endpoint.portal}}/", expect: {{body_regex: "{pattern}"}}}}'
        if key == "body_regex"
        else f'{{kind: redirect, url: "{{endpoint.portal}}/", final_url: "{pattern}"}}'
    )
    f = _checklist(tmp_path, verify=verify)
    result = cli("validate", str(f))
    assert result.code == 2
    path = (
        "steps[0].verify.expect.body_regex" if key == "body_regex" else "steps[0].verify.final_url"
    )
    column = 62 if key == "body_regex" else 57
    assert result.err_lines == [
        f"cutover: error: {f}:7:{column}: {path}: regular expression nested too deeply"
    ]


def test_dependency_chain_of_thousands(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = ["id: chain", "title: {vi: a, en: b}", "steps:"]
    for i in range(2000):
        lines.append(
            f"  - {{id: s{i}, title: {{vi: a, en: b}}, due: 2025-06-28T13:00:00+07:00, "
            f"verify: {{kind: manual}}, depends_on: [s{(i - 1) % 2000}]}}"
        )
    f = tmp_path / "chain.yaml"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("validate", str(f))
    assert result.code == 2
    assert len(result.err_lines) == 1
    line = result.err_lines[0]
    assert line.startswith(f"cutover: error: {f}:5:"), line
    assert "steps[1].depends_on: dependency cycle: s0 -> s1999 -> s1998" in line
    assert line.endswith("...") and len(line) < 600
    lines[3] = lines[3].replace("depends_on: [s1999]", "depends_on: []")  # a chain, no cycle
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("validate", str(f))
    assert result.code == 0, result.err


def test_many_problems_capped(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    lines = ["id: many", "title: {vi: a, en: b}", "steps:"]
    for i in range(500):
        lines.append(
            f"  - {{id: s{i}, title: {{vi: a, en: b}}, due: soon, verify: {{kind: manual}}}}"
        )
    f = tmp_path / "many.yaml"
    f.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = cli("validate", str(f))
    assert result.code == 2
    assert len(result.err_lines) == 21
    assert result.err_lines[0] == (
        f"cutover: error: {f}:4:37: steps[0].due: not an ISO 8601 date-time: 'soon'"
    )
    assert result.err_lines[-1] == f"cutover: error: {f}: ... and 480 more problems"


def test_messages_quoting_the_file_stay_on_one_line() -> None:
    doc = yamlio.Document({"a": 1}, "f.yaml", marks={("a",): (1, 1)})
    problem = doc.problem(("a",), "bad \x1b]0;title\x07 value\nsecond\u2028third" + "x" * 1000)
    assert str(problem).startswith(
        "f.yaml:1:1: a: bad \\x1b]0;title\\x07 value\\nsecond\\u2028third"
    )
    assert len(problem.message) == yamlio.MAX_MESSAGE and problem.message.endswith("...")
    assert len(str(problem).splitlines()) == 1


def test_urls_may_start_with_a_reference(cli, tmp_path: Path, in_root: Path) -> None:  # type: ignore[no-untyped-def]
    step = (
        "  - id: {id}\n    title: {{vi: a, en: b}}\n    due: 2025-06-28T13:00:00+07:00\n"
        "    owner: o\n    task: t\n    responsible: r\n    deliverable: d\n    authority: a\n"
        "    verify: {verify}\n"
    )
    f = tmp_path / "refs.yaml"
    f.write_text(
        "id: refs\ntitle: {vi: a, en: b}\nsteps:\n"
        + step.format(
            id="one",
            verify='{kind: redirect, url: "${env:PORTAL_URL}/", '
            'final_url: "^https://${env:NATIONAL_HOST}(/|$)"}',
        )
        + step.format(
            id="two",
            verify='{kind: oidc, issuer: "${env:SSO}", client_id: "dvc-{province.code}", '
            'redirect_uri: "${file:/run/secrets/callback}/cb"}',
        ),
        encoding="utf-8",
    )
    result = cli("validate", "--strict", "provinces.yaml", str(f))
    assert result.code == 0, result.err
    assert result.lines[-1] == f"ok {f} (checklist refs, 2 steps)"
    f.write_text(f.read_text("utf-8").replace("${env:PORTAL_URL}/", "{portal}/"), "utf-8")
    result = cli("validate", "provinces.yaml", str(f))  # a bare placeholder is still refused
    assert result.code == 2
    assert result.err_lines[0].endswith(
        "steps[0].verify.url: a URL template must start with http://, https:// or an "
        "{endpoint.NAME}"
    )
