"""`cutover serve`'s state in-process, on a fixed clock: the version, healing after a store
error, `/healthz` when the watcher fails, and the read-only store it opens.  (The page itself,
in a real browser against a real `cutover serve`, is tests/test_serve.py.)"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from cutover import service
from cutover.errors import StoreError
from cutover.store.base import AttestationRecord, open_store
from cutover.web import app as web_app
from cutover.web.pages import Workspace

T = TypeVar("T")
DATA = Path(__file__).parent / "data"
NOW = datetime(2025, 6, 28, 6, 0, tzinfo=UTC)


def _site(db: Path, clock: Callable[[], datetime], readers: int = 4) -> web_app.Site:
    workspace = Workspace(service.prepare(service.Selection()), "vi", None, 0.05)
    settings = web_app.Settings(str(db), {}, clock, readers=readers)
    return web_app.Site(workspace, settings)


def _run(work: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(work())


def _attest(db: Path, at: datetime) -> None:
    store = open_store(db, environ={})
    record = AttestationRecord("31", "portal-closure", "", "pass", "A", at, "https://e.example/")
    store.add_attestation(record)
    store.close()


def test_the_version_moves_with_writes_and_with_the_minute(demo_copy: Path) -> None:
    now = [NOW]
    site = _site(demo_copy, lambda: now[0])

    async def work() -> None:
        assert await site.check()
        first = site.version
        assert not await site.check()  # nothing written, same minute
        now[0] += timedelta(seconds=30)
        assert not await site.check() and site.version == first
        now[0] += timedelta(seconds=31)  # the next minute: the "as of" line and deadlines
        assert await site.check()
        second = site.version
        assert second != first
        _attest(demo_copy, now[0])
        assert await site.check()
        assert site.version not in (first, second)

    try:
        _run(work)
    finally:
        site.close()


def test_a_reader_thread_opens_its_store_again_after_an_error(demo_copy: Path) -> None:
    site = _site(demo_copy, lambda: NOW, readers=1)

    async def work() -> None:
        first: Any = await site.read(lambda store: store)
        first.close()  # the connection dies under the thread (as a PostgreSQL restart would)
        with pytest.raises(StoreError):
            await site.read(lambda store: store.change_marker())
        second: Any = await site.read(lambda store: store)
        assert second is not first
        assert await site.read(lambda store: store.change_marker())

    try:
        _run(work)
    finally:
        site.close()


def test_healthz_says_when_the_pages_are_not_kept_current(demo_copy: Path) -> None:
    from aiohttp.test_utils import TestClient, TestServer

    site = _site(demo_copy, lambda: NOW)

    async def work() -> None:
        await site.check()
        async with TestClient(TestServer(web_app.create_app(site))) as client:
            response = await client.get("/healthz")
            assert response.status == 200 and (await response.json())["status"] == "ok"
            site.problem = "store x: lost the connection"
            response = await client.get("/healthz")
            assert response.status == 503
            assert await response.json() == {
                "status": "degraded",
                "error": "store x: lost the connection",
                "version": site.version,
            }

    try:
        _run(work)
    finally:
        site.close()


def test_the_fragment_says_the_version_it_was_computed_for(demo_copy: Path) -> None:
    """A change that lands while a page is computed must not be claimed by that page."""
    from aiohttp.test_utils import TestClient, TestServer

    site = _site(demo_copy, lambda: NOW)

    async def work() -> None:
        await site.check()
        before = site.version
        original = site.rendered

        async def slow(version: str, key: tuple[str, ...], make: Any) -> Any:
            site.version = "moved-meanwhile"  # the watcher moved on while this one computed
            return await original(version, key, make)

        site.rendered = slow  # type: ignore[method-assign]
        async with TestClient(TestServer(web_app.create_app(site))) as client:
            response = await client.get("/?fragment=1")
            assert response.status == 200
            assert response.headers["X-Cutover-Version"] == before
            assert response.headers["ETag"] == f'"{before}.vi"'

    try:
        _run(work)
    finally:
        site.close()


def test_pages_are_compressed_once_for_clients_that_accept_gzip(demo_copy: Path) -> None:
    import gzip

    from aiohttp.test_utils import TestClient, TestServer

    site = _site(demo_copy, lambda: NOW)

    async def work() -> None:
        await site.check()
        async with TestClient(TestServer(web_app.create_app(site))) as client:
            plain = await client.get("/matrix.json", headers={"Accept-Encoding": "identity"})
            body = await plain.read()
            assert "Content-Encoding" not in plain.headers
            packed = await client.get(
                "/matrix.json", headers={"Accept-Encoding": "gzip"}, auto_decompress=False
            )
            assert packed.headers["Content-Encoding"] == "gzip"
            data = await packed.read()
            assert gzip.decompress(data) == body and len(data) < len(body) / 4

    try:
        _run(work)
    finally:
        site.close()


def test_the_server_opens_its_store_read_only(demo_copy: Path, tmp_path: Path) -> None:
    store = open_store(demo_copy, environ={}, create=False, read_only=True)
    with pytest.raises(StoreError):
        store.add_attestation(
            AttestationRecord("31", "portal-closure", "", "pass", "A", NOW, "https://e.example/")
        )
    store.close()
    # An older store would need a migration, which is a write: refused with what to run.
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as conn:
        conn.executescript((DATA / "store-0.1.sql").read_text(encoding="utf-8"))
    conn.close()
    with pytest.raises(StoreError, match="run `cutover db init`"):
        open_store(old, environ={}, create=False, read_only=True)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("2025-06-28T13:00 07:00", "2025-06-28T13:00:00+07:00"),  # "+" arrived as a space
        ("2025-06-28T13:00", "2025-06-28T13:00:00+07:00"),  # no offset: Vietnam's time
    ],
)
def test_as_of_typed_in_the_address_bar(typed: str, expected: str) -> None:
    from cutover.web.pages import Query

    query = Query.parse({"as_of": typed}, "vi", NOW)
    assert query.as_of is not None and query.as_of.isoformat() == expected


@pytest.mark.parametrize("typed", ["9999-12-31T23:59:59-23:59", "1900-01-01T00:00+07:00"])
def test_as_of_far_outside_the_cutover_is_refused(typed: str) -> None:
    from cutover.errors import UsageError
    from cutover.web.pages import Query

    with pytest.raises(UsageError, match="outside 2000-2100"):
        Query.parse({"as_of": typed}, "vi", NOW)
