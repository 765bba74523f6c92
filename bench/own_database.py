"""Where a benchmark runs: a PostgreSQL database of its own (created, migrated, dropped), or a temporary SQLite file.

    with bench_django("upsert"):
        print(format_table(run(...)))

`DATABASE_URL` names the server; the bench never touches the databases already on it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

__all__ = ["bench_django"]


def _admin(server_url: str, statement: str) -> None:
    import psycopg  # noqa: PLC0415 - only benches on PostgreSQL need it

    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(statement)  # our own, fixed identifiers


@contextmanager
def bench_django(
    name: str,
    *,
    settings_module: str = "project.settings",
    allow_sqlite: bool = False,
    keep: tuple[str, ...] = (),
) -> Iterator[str]:
    """Set Django up on the bench's own migrated database; yields the database vendor.

    Service URLs other than those in `keep` are dropped: what is measured should not
    involve a cache or a broker unless the bench says so.
    """
    server_url = os.environ.get("DATABASE_URL", "").strip()
    own_url = ""
    if server_url.startswith("postgres"):
        own_url = urlunsplit(urlsplit(server_url)._replace(path=f"/bench_{name}_{os.getpid()}"))
        _admin(server_url, f'CREATE DATABASE "{urlsplit(own_url).path[1:]}"')
        os.environ["DATABASE_URL"] = own_url
    elif allow_sqlite:
        os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix=f'{name}-bench-')}/db.sqlite3"
    else:
        raise SystemExit("set DATABASE_URL=postgres://... (the server; the bench creates and drops its own database)")
    for variable in ("REDIS_URL", "CELERY_BROKER_URL"):
        if variable not in keep:
            os.environ.pop(variable, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = settings_module
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    try:
        import django  # noqa: PLC0415 - after DJANGO_SETTINGS_MODULE is set

        django.setup()
        from django.core.management import call_command  # noqa: PLC0415
        from django.db import connection  # noqa: PLC0415

        call_command("migrate", verbosity=0)
        yield connection.vendor
        connection.close()
    finally:
        if own_url:
            _admin(server_url, f'DROP DATABASE IF EXISTS "{urlsplit(own_url).path[1:]}" WITH (FORCE)')
