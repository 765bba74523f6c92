"""`outside_request_transactions`: a view that must answer while the database is down.

Under `ATOMIC_REQUESTS` Django opens a transaction on every database before the view
runs, so a database outage turns even a view that never queries into a 500. Probes and
metrics must answer exactly then: liveness `200` (or Kubernetes restarts every pod),
readiness its own `503`, a scrape its series.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from django.db import connections, transaction

__all__ = ["outside_request_transactions"]

View = TypeVar("View", bound=Callable[..., object])


def outside_request_transactions(view: View) -> View:
    """Exempt `view` from `ATOMIC_REQUESTS` on every configured database, not only the default one."""
    for alias in connections:
        view = transaction.non_atomic_requests(using=alias)(view)
    return view
