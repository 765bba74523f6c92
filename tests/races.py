"""Real races on PostgreSQL, made deterministic: a winner holds its write open until the losers wait on its locks.

    results = race(lambda: document_delete(document_id=pk), [lambda: api.delete(url), lambda: api.delete(url)])

Code that checks a row's state before locking it reads the row as it was before the winner
commits and acts on that; code that locks first queues behind the winner and reads what it
wrote. The test thread watches `pg_stat_activity` until every loser waits on a lock, so the
losers really overlap the winner (no sleeps that guess).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction

__all__ = ["at_once", "race", "sessions_waiting_on_locks", "wait_until_a_backend_waits_for_a_lock"]


def sessions_waiting_on_locks() -> int:
    """Backends of the test database blocked on a lock now.

    `pg_stat_clear_snapshot()` first: inside a transaction PostgreSQL answers `pg_stat_activity`
    from the snapshot its first read took, and a poll that began before the other session
    blocked would never see it block (a poll that runs in a transaction: behind PgBouncer, or
    the rival of tests/admin).
    """
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def wait_until_a_backend_waits_for_a_lock(timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not sessions_waiting_on_locks():
        if time.monotonic() > deadline:
            raise AssertionError(f"no backend waited for a lock within {timeout}s")
        time.sleep(0.005)


def race(winner: Callable[[], None], losers: list[Callable[[], Any]], *, timeout: float = 20) -> list[Any]:
    """Run `winner` in a transaction held open until each of `losers` (one thread each) waits on a lock; commit.

    Returns what the losers returned, in completion order; an exception in any thread fails the test.
    Each thread closes its own database connection. Needs `transactional_db` and PostgreSQL.
    """
    held, committed = threading.Event(), threading.Event()
    results: list[Any] = []
    errors: list[BaseException] = []

    def hold() -> None:
        try:
            with transaction.atomic():
                winner()
                held.set()
                committed.wait(timeout=timeout)
        except BaseException as error:  # reported by the test thread
            errors.append(error)
            held.set()
        finally:
            connection.close()

    def lose(call: Callable[[], Any]) -> None:
        try:
            results.append(call())
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(timeout=timeout)
    threads = [threading.Thread(target=lose, args=(call,)) for call in losers]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    while sessions_waiting_on_locks() < len(losers) and time.monotonic() < deadline and not errors:
        time.sleep(0.02)
    committed.set()
    for thread in [holder, *threads]:
        thread.join(timeout=timeout + 10)
    assert not errors, errors
    return results


def at_once(client: Callable[[int], None], count: int, *, timeout: float = 120) -> list[BaseException]:
    """Run `client(0)` ... `client(count - 1)` each in its own thread; what they raised."""
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            client(number)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors
