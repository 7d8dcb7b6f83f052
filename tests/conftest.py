"""Shared fixtures: databases (SQLite file / fresh PostgreSQL database) and a running server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    require_postgres,
    sqlite_url,
)
from tests.support.server import ErrandsServer


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    require_postgres()
    url, name = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(name)


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
