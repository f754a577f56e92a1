"""Shared fixtures.

PostgreSQL: ``postgres_server`` starts one real, throwaway server per test session (see
``tests/pg.py``; the binaries come from ``bash tests/system-deps.sh``), ``postgres_url``
gives each test a fresh, empty database on it, as a SQLAlchemy URL
(``postgresql+psycopg://...``), dropped after the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.pg import PgServer, PostgresUnavailable, start_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        failure = str(exc)  # failed outside the handler, without the chained traceback
    else:
        failure = ""
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PgServer) -> Iterator[str]:
    url = postgres_server.new_database()
    yield url
    postgres_server.drop_database(url.rsplit("/", 1)[1])
