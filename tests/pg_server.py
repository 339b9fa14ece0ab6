"""A real, throwaway PostgreSQL server for the tests.

`PgServer` runs `initdb` and `postgres` from the machine's PostgreSQL binaries in a temporary
directory, listening on a free loopback TCP port (password authentication, SCRAM) and on a
unix socket in that directory.  `initdb` refuses to run as root, so as root both run as an
unprivileged user (`postgres` when it exists, else `nobody`), which owns the directory.

The cluster has a superuser (`pgsuper`, for the tests' own setup only) and makes for each test
database an owner role that is *not* a superuser, because superusers bypass row-level security.
Durability is off (`fsync`, `synchronous_commit`, `full_page_writes`): a test server never
survives a power cut, and it starts in about a second.

When the binaries are missing or the server does not start, the tests that need it are skipped;
with `CUTOVER_REQUIRE_POSTGRES=1` (set by `scripts/check`, so CI) they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

SUPERUSER = "pgsuper"
SUPER_PASSWORD = "super-secret-" + uuid.uuid4().hex[:8]


def required() -> bool:
    return os.environ.get("CUTOVER_REQUIRE_POSTGRES") == "1"


def unavailable(why: str) -> None:
    """Skip, or fail when PostgreSQL tests are required (CI)."""
    if required():
        pytest.fail(f"PostgreSQL is required (CUTOVER_REQUIRE_POSTGRES=1) but {why}")
    pytest.skip(f"PostgreSQL not available: {why}", allow_module_level=True)


def need_psycopg() -> None:
    """For test modules that import psycopg themselves: skip them without it (fail in CI)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        unavailable("psycopg is not installed (pip install 'cutover[postgres]')")


def find_bin() -> Path | None:
    """CUTOVER_PG_BIN, else Debian's PostgreSQL 15 (what production runs), else the newest
    version installed."""
    override = os.environ.get("CUTOVER_PG_BIN")

    def preference(folder: Path) -> tuple[bool, int]:
        version = folder.parent.name
        return version != "15", -int(version) if version.isdigit() else 0

    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=preference)
    for folder in ([Path(override)] if override else []) + found:
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _unprivileged() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as when we are root; None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) exists")


@dataclass
class PgServer:
    bin: Path
    # In /tmp even when TMPDIR is private: as root, the server runs as another user.
    root: Path = field(
        default_factory=lambda: Path(tempfile.mkdtemp(prefix="cutover-pg-", dir="/tmp"))
    )
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    durable: bool = False  # True: PostgreSQL's defaults (fsync on), for benchmarks

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "server.log"

    def _as_owner(self) -> dict[str, object]:
        user = _unprivileged()
        if user is None:
            return {}
        return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}

    def init(self) -> None:
        user = _unprivileged()
        self.root.chmod(0o700)
        pwfile = self.root / "pw"
        pwfile.write_text(SUPER_PASSWORD + "\n", encoding="utf-8")
        if user is not None:
            os.chown(self.root, user.pw_uid, user.pw_gid)
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        done = subprocess.run(
            [str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
             f"--pwfile={pwfile}", "--auth-local=trust", "--auth-host=scram-sha-256",
             "-E", "UTF8", "--no-locale", "--no-sync", "--no-instructions"],
            capture_output=True, text=True, check=False, cwd=self.root,
            **self._as_owner(),  # type: ignore[arg-type]
        )  # fmt: skip
        pwfile.unlink()
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed: {done.stderr.strip() or done.stdout.strip()}")

    def start(self, timeout: float = 30.0) -> None:
        log = self.log.open("ab")
        if (user := _unprivileged()) is not None:
            os.chown(self.log, user.pw_uid, user.pw_gid)
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port),
             "-k", str(self.root), "-c", "listen_addresses=127.0.0.1",
             *(() if self.durable else ("-c", "fsync=off", "-c", "synchronous_commit=off",
                                        "-c", "full_page_writes=off")),
             "-c", "max_connections=300", "-c", "shared_buffers=64MB",
             "-c", "dynamic_shared_memory_type=mmap", "-c", "log_min_messages=warning",
             "-c", "password_encryption=scram-sha-256"],
            stdout=log, stderr=subprocess.STDOUT, cwd=self.root, start_new_session=True,
            **self._as_owner(),  # type: ignore[arg-type]
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited with {self.process.returncode}: {self.tail()}")
            try:
                with self.connect():
                    return
            except Exception as exc:
                if time.monotonic() > deadline:
                    self.stop()
                    why = f"postgres did not accept connections: {self.tail()}"
                    raise RuntimeError(why) from exc
                time.sleep(0.05)

    def tail(self) -> str:
        try:
            return " | ".join(self.log.read_text(errors="replace").strip().splitlines()[-5:])
        except OSError:
            return "(no log)"

    def stop(self, how: signal.Signals = signal.SIGINT) -> None:
        """SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(how)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # --- addresses ---------------------------------------------------------------------

    def url(self, role: str, password: str, database: str) -> str:
        return f"postgresql://{role}:{password}@127.0.0.1:{self.port}/{database}"

    def super_url(self, database: str = "postgres") -> str:
        return self.url(SUPERUSER, SUPER_PASSWORD, database)

    def connect(self, database: str = "postgres"):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(self.super_url(database), autocommit=True, connect_timeout=5)

    def new_database(self) -> Database:
        """A fresh database owned by a fresh non-superuser role that may create roles."""
        name = "t" + uuid.uuid4().hex[:10]
        owner, password = f"{name}_owner", uuid.uuid4().hex
        with self.connect() as conn:
            conn.execute(
                f"CREATE ROLE {owner} LOGIN CREATEROLE PASSWORD '{password}'"  # type: ignore[arg-type]
            )
            conn.execute(f"CREATE DATABASE {name} OWNER {owner}")  # type: ignore[arg-type]
        return Database(self, name, owner, password)


@dataclass
class Database:
    server: PgServer
    name: str
    owner: str
    password: str

    @property
    def url(self) -> str:
        """The owner's URL: `cutover db init` and the grants run as this role."""
        return self.server.url(self.owner, self.password, self.name)

    def role_url(self, role: str, password: str) -> str:
        return self.server.url(role, password, self.name)

    def role(self, suffix: str) -> str:
        """A cluster-unique role name for this database (roles are cluster-wide)."""
        return f"{self.name}_{suffix}"

    def super_connect(self):  # type: ignore[no-untyped-def]
        return self.server.connect(self.name)


def start_server() -> PgServer:
    need_psycopg()
    folder = find_bin()
    if folder is None:
        unavailable("no PostgreSQL binaries in /usr/lib/postgresql/*/bin (set CUTOVER_PG_BIN)")
        raise AssertionError("unreachable")
    server = PgServer(folder)
    try:
        server.init()
        server.start()
    except Exception as exc:
        server.remove()
        unavailable(str(exc))
    return server


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole test session."""
    server = start_server()
    try:
        yield server
    finally:
        server.remove()


@pytest.fixture
def pg_db(pg_server: PgServer) -> Database:
    """A fresh, empty database for one test (schema not yet created)."""
    return pg_server.new_database()
