"""Shared fixtures: databases (SQLite file / fresh PostgreSQL database) and a running server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from server.db.engine import Database
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    postgres_database,
    require_postgres,
    sqlite_url,
)
from tests.support.server import ErrandsServer


def _fresh_postgres() -> Iterator[str]:
    """A fresh, empty PostgreSQL database while the generator runs (skipped, or failed under
    CI, when PostgreSQL is not reachable)."""
    require_postgres()
    with postgres_database() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test."""
    yield from _fresh_postgres()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    yield from _fresh_postgres()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """A migrated database (SQLite and PostgreSQL), for in-process tests."""
    # Generous: these tests are not about DB_TIMEOUT_SECONDS (tests/integration/test_faults.py
    # is), and a loaded machine may take seconds over a statement of 10,000 rows.
    db = Database(database_url, timeout_seconds=60)
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def sqlite_database_url(tmp_path: Path) -> str:
    return sqlite_url(tmp_path)


@pytest.fixture
def errands_server(tmp_path: Path) -> Iterator[Callable[..., ErrandsServer]]:
    """Factory: ``errands_server(database_url, env={...}, api_key=...)`` → started server."""
    started: list[ErrandsServer] = []

    def start(database_url: str, **kwargs: Any) -> ErrandsServer:
        server = ErrandsServer(database_url=database_url, workdir=tmp_path, **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
        server.client.close()


@pytest.fixture(scope="module",
                params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_server(request: pytest.FixtureRequest,
                  tmp_path_factory: pytest.TempPathFactory) -> Iterator[ErrandsServer]:
    """One running server per test module and database, for tests that do not restart it.

    Keys: ``admin-key`` (admin), ``op-key`` (operator), ``rev-key`` (reviewer),
    ``view-key`` (viewer); calls use the admin key unless told otherwise.
    """
    workdir = tmp_path_factory.mktemp("server")
    name = None
    if request.param == "sqlite":
        url = sqlite_url(workdir)
    else:
        require_postgres()
        url, name = create_postgres_database()
    keys = "admin:admin:admin-key,op:operator:op-key,rev:reviewer:rev-key,view:viewer:view-key"
    server = ErrandsServer(database_url=url, workdir=workdir, api_key="admin-key",
                           env={"ERRANDS_API_KEYS": keys, "LEASE_SECONDS": "3"})
    server.start()
    try:
        yield server
    finally:
        server.stop()
        server.client.close()
        if name is not None:
            drop_postgres_database(name)
