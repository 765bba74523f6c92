"""Append rows to a model's table with PostgreSQL's `COPY FROM STDIN`, in the caller's transaction.

Django's `bulk_create` prepares and quotes every value client-side (on PostgreSQL it sends
them as `UNNEST` arrays): for the append-only tables written in bulk (the audit log, the
events outbox) that is most of the write. COPY streams the same rows in one statement. It
writes exactly the values given, column by column: no field defaults, no `pre_save`, no
signals; the caller passes every column. PostgreSQL only (`copies(using)` says whether the
database can); elsewhere callers keep `bulk_create`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connections, models

__all__ = ["copies", "copy_rows"]


def copies(using: str) -> bool:
    """Whether `copy_rows` can write to the database `using` (PostgreSQL through psycopg)."""
    return connections[using].vendor == "postgresql"


def copy_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[object]], *, using: str
) -> None:
    """Stream `rows` (one value per name of `fields`, as the database stores it) into `model`'s table.

    A value is written by psycopg's adapter for its Python type: a `str` into a `jsonb`
    column is taken as JSON text, a `Jsonb` wrapper is encoded by its dumps.
    """
    from psycopg import sql  # noqa: PLC0415 - PostgreSQL only

    meta = model._meta
    columns = [sql.Identifier(str(getattr(meta.get_field(name), "column", name))) for name in fields]
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(meta.db_table), sql.SQL(", ").join(columns))
    connection = connections[using]
    # The psycopg cursor (for COPY) raises psycopg's errors: Django's, as from any query, from here.
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)
