"""A 50-item GraphQL list query vs the REST list page it mirrors, in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/12 \\
        .venv/bin/python bench/graphql_bench.py
    DATABASE_URL=... .venv/bin/python bench/graphql_bench.py --documents 120 --requests 10     # toy size

Its own database (`bench_graphql_<pid>`, as bench/api_bench.py: SQLite in a temporary file without
`DATABASE_URL`), `--documents` documents seeded in the acme tenant, the stand-in Accent-Auth. Both
sides are measured in-process with Django's test `Client`, through the full middleware stack, the
same token (cache warmed before timing), ACL, tenant scoping and selector, on the same 50 rows:
- baseline: REST `GET /api/v1/documents/` (50 rows), list cache cold (the `documents:lists` tag is
  invalidated before every request, outside the timer): selector, query and cache fill;
- GraphQL `documents(first: 50)` asking for every field REST returns, list cache cold;
- the two again, served from the list cache.
Each figure is the median of `--requests` timed requests after a warm-up, the cases interleaved
request by request so that a burst of load on the machine hits all of them alike.
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.api_bench import PAGE_SIZE, seed_documents  # noqa: E402 - after the path is set
from bench.own_database import bench_django  # noqa: E402

REST_URL = f"/api/v1/documents/?limit={PAGE_SIZE}"
QUERY = (
    f"{{ documents(first: {PAGE_SIZE}) {{ edges {{ node {{ id title body status tags createdAt updatedAt "
    "createdBy updatedBy } } pageInfo { hasNextPage endCursor } } }"
)


@dataclass(frozen=True)
class Case:
    name: str
    seconds: float  # median per request
    queries: int  # SQL statements per request


@dataclass(frozen=True)
class _Setup:
    name: str
    send: Callable[[], Any]  # one request; returns the ids it served
    before_each: Callable[[], None]


def _timed(setup: _Setup) -> tuple[float, list[str]]:
    setup.before_each()
    started = time.perf_counter()
    ids = setup.send()
    return time.perf_counter() - started, ids


def _measure(setups: list[_Setup], requests: int) -> list[Case]:
    from django.db import connection

    for _ in range(max(3, requests // 10)):  # warm-up: imports, plans, connections
        for setup in setups:
            _timed(setup)
    counts, pages = [], []
    for setup in setups:
        statements: list[str] = []

        def count(execute: Callable[..., Any], sql: str, *args: Any, log: list[str] = statements) -> Any:
            log.append(sql)
            return execute(sql, *args)

        with connection.execute_wrapper(count):
            pages.append(_timed(setup)[1])
        counts.append(len(statements))
    assert len(pages[0]) == PAGE_SIZE, pages[0]
    assert all(page == pages[0] for page in pages), "every case must serve the same rows in the same order"
    timings: list[list[float]] = [[] for _ in setups]
    for _ in range(requests):
        for position, setup in enumerate(setups):
            timings[position].append(_timed(setup)[0])
    return [Case(s.name, statistics.median(t), c) for s, t, c in zip(setups, timings, counts, strict=True)]


def run(*, documents: int, requests: int) -> list[Case]:
    """Seed and measure on the configured (migrated) database, starting and stopping the stand-in."""
    import httpx
    from django.test import Client, override_settings

    from apps.accent_auth import token_cache
    from apps.caching import invalidate_tags
    from apps.documents.selectors import LIST_TAG
    from devtools.accent_auth_standin import StandInAccentAuth

    seed_documents(documents)
    standin = StandInAccentAuth().start()
    token = ""
    try:
        with override_settings(
            ACCENT_AUTH_URL=standin.url, ALLOWED_HOSTS=["testserver"], DEBUG=False, RATE_LIMIT_ENABLED=False
        ):
            response = httpx.post(f"{standin.url}/token", auth=("alice", "alice"), json={"expiration": 3600})
            token = str(response.json()["data"]["token"])
            client, headers = Client(), {"X-Auth-Token": token}

            def rest() -> list[str]:
                answer = client.get(REST_URL, headers=headers)
                assert answer.status_code == 200, answer.content
                return [row["id"] for row in answer.json()["results"]]

            def graphql() -> list[str]:
                answer = client.post("/graphql/", {"query": QUERY}, content_type="application/json", headers=headers)
                body = answer.json()
                assert answer.status_code == 200, body
                assert "errors" not in body, body
                return [edge["node"]["id"] for edge in body["data"]["documents"]["edges"]]

            def drop_list_cache() -> None:
                invalidate_tags([LIST_TAG])

            def nothing() -> None:
                return None

            setups = [
                _Setup("REST `GET /api/v1/documents/`, list cache cold (baseline)", rest, drop_list_cache),
                _Setup("GraphQL `documents(first: 50)`, every REST field, list cache cold", graphql, drop_list_cache),
                _Setup("REST, served from the list cache", rest, nothing),
                _Setup("GraphQL, served from the list cache", graphql, nothing),
            ]
            cases = _measure(setups, requests)
            assert standin.calls("GET /token") <= 2, "the token cache was not warm"
    finally:
        standin.stop()
        if token:
            token_cache.forget_token(token)
        invalidate_tags([LIST_TAG])
    return cases


def format_table(cases: list[Case], *, documents: int, requests: int, backends: str) -> str:
    """Each GraphQL case as a ratio of the REST case served the same way (cold to cold, cached to cached)."""
    lines = [
        f"{documents:,} documents, {PAGE_SIZE}-item first page, median of {requests:,} requests each; "
        f"in-process Django test Client, full middleware stack, Accent-Auth token (warm cache); {backends}",
        "",
        "| case | µs/request | SQL statements | ratio to REST, served alike |",
        "|---|---:|---:|---:|",
    ]
    for position, case in enumerate(cases):
        rest = cases[position - position % 2]
        lines.append(
            f"| {case.name} | {case.seconds * 1e6:,.0f} | {case.queries} | {case.seconds / rest.seconds:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--documents", type=int, default=1_000, help="documents seeded in the tenant")
    parser.add_argument("--requests", type=int, default=300, help="timed requests per case (median printed)")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", "No directory at")  # static files are not served here
    with bench_django("graphql", allow_sqlite=True, keep=("REDIS_URL",)) as vendor:
        from django.conf import settings

        cases = run(documents=args.documents, requests=args.requests)
        backends = f"{vendor}, cache {settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}"
        print(format_table(cases, documents=args.documents, requests=args.requests, backends=backends))


if __name__ == "__main__":
    main()
