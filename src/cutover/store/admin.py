"""`cutover db init`, `grant-province` and `grant-reader`, whatever the backend: SQLite files
are created and migrated by opening them; roles and row-level security exist only in a
PostgreSQL store (`cutover.store.pg_admin`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from cutover.errors import UsageError
from cutover.store.base import is_postgres, open_store, require_psycopg, store_location

if TYPE_CHECKING:
    from cutover.store.postgres import PostgresStore

T = TypeVar("T")


def init(location: str | Path | None, environ: Mapping[str, str]) -> list[str]:
    """Create or migrate the store's schema; lines to print."""
    text = store_location(location, environ)
    if is_postgres(text):
        from cutover.store import pg_admin

        return _with_postgres(text, environ, pg_admin.init)
    store = open_store(location, environ=environ, create=True)
    try:
        about = store.describe()
    finally:
        store.close()
    return [f"store {about.location} ({about.backend}): schema version {about.schema_version}"]


def grant(
    location: str | Path | None,
    environ: Mapping[str, str],
    role: str,
    province: str | None,
    password: str | None,
) -> str:
    """Create or update a login role for one province (or, with None, the national reader)."""
    text = store_location(location, environ)
    if not is_postgres(text):
        raise UsageError(
            "roles and row-level security exist only in a PostgreSQL store; "
            "give --db postgresql://… (or CUTOVER_DB)"
        )
    from cutover.store import pg_admin

    wanted = pg_admin.Grant(role, province or "*", province is not None, password)
    return _with_postgres(text, environ, lambda store: pg_admin.grant(store, wanted))


def _with_postgres(url: str, environ: Mapping[str, str], action: Callable[[PostgresStore], T]) -> T:
    require_psycopg()
    from cutover.store.postgres import PostgresStore

    store = PostgresStore(url, environ=environ, check=False)
    try:
        return action(store)
    finally:
        store.close()
