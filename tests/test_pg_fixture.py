"""The throwaway PostgreSQL server of ``tests/pg.py`` and its fixtures work."""

from __future__ import annotations

import psycopg
import pytest

from tests.pg import PgServer, libpq_url


def test_create_insert_read_back(postgres_url: str) -> None:
    assert postgres_url.startswith("postgresql+psycopg://")
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        conn.execute("CREATE TABLE item (id serial PRIMARY KEY, name text NOT NULL)")
        conn.execute("INSERT INTO item (name) VALUES (%s), (%s)", ("a", "b"))
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        rows = conn.execute("SELECT id, name FROM item ORDER BY id").fetchall()
        version = conn.execute("SELECT current_setting('server_version_num')::int").fetchone()
    assert rows == [(1, "a"), (2, "b")]
    assert version is not None and version[0] >= 150000


def _tables(url: str) -> list[str]:
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return [name for (name,) in rows]


_seen_databases: set[str] = set()


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_gets_its_own_empty_database(postgres_url: str, run: int) -> None:
    """Both runs find an empty database, and they are not the same one."""
    assert _tables(postgres_url) == []
    with psycopg.connect(libpq_url(postgres_url)) as conn:
        conn.execute("CREATE TABLE left_behind (x int)")
        name = conn.execute("SELECT current_database()").fetchone()
    assert name is not None and name[0] not in _seen_databases
    _seen_databases.add(name[0])


def test_new_database_is_distinct_and_empty(postgres_url: str, postgres_server: PgServer) -> None:
    other = postgres_server.new_database()
    try:
        assert other != postgres_url
        with psycopg.connect(libpq_url(postgres_url)) as conn:
            conn.execute("CREATE TABLE only_here (x int)")
        assert _tables(postgres_url) == ["only_here"]
        assert _tables(other) == []
    finally:
        postgres_server.drop_database(other.rsplit("/", 1)[1])
