"""The test servers of tests/servers.py: a PostgreSQL server answers, Java runs.

Skipped, with the reason, where PostgreSQL or Java cannot be had; under CI=true
(.ci/run installs both) a missing one fails instead."""

from __future__ import annotations

import pytest

from tests.servers import java_available, need, postgres_url


def test_postgres_round_trip():
    url, reason = postgres_url()
    need(url, reason)
    psycopg = pytest.importorskip(
        "psycopg", reason="psycopg is not installed (pip install 'psycopg[binary]')")
    with psycopg.connect(url, connect_timeout=10) as conn:
        # A temporary table: private to this connection, so parallel runs sharing one
        # server (RETENTION_TEST_POSTGRES) do not collide, and gone when it closes.
        conn.execute("CREATE TEMPORARY TABLE amounts (customer text, amount integer)")
        with conn.cursor() as cur:
            cur.executemany("INSERT INTO amounts VALUES (%s, %s)",
                            [("a", 17), ("b", 25), ("c", 58)])
        (count, total), = conn.execute("SELECT count(*), sum(amount) FROM amounts").fetchall()
    assert (count, total) == (3, 100)  # 17 + 25 + 58


def test_java_for_spark():
    ok, reason = java_available()
    need(ok, reason)
    assert reason.startswith("Java ")
