"""What probes and log lines cost: ratios against baselines measured in the same run.

    .venv/bin/python bench/observability_bench.py [--probes 2000] [--lines 20000]

- Probes (Django test client, full middleware stack, embedded SQLite/local memory):
  `/health/live` is the baseline; `/health/ready` answered from the result cache, and
  with the cache off (every check runs).
- Concurrency: three checks of 50 ms each, run by the runner vs one after another.
- A log line rendered as JSON: plain structlog vs ours (request context + redaction).
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
for name in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"):
    os.environ.pop(name, None)
os.environ["DATABASE_URL"] = f"sqlite:///{tempfile.mkdtemp(prefix='obs-bench-')}/db.sqlite3"

import django  # noqa: E402

django.setup()

import structlog  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import setup_test_environment  # noqa: E402

from apps.core.context import RequestScope, acting_as, request_scope  # noqa: E402
from apps.health.runner import CheckSpec, evaluate, reset_result_cache  # noqa: E402
from apps.observability.logging import structlog_formatter  # noqa: E402


def per_call(function: Callable[[], object], repeat: int) -> float:
    function()
    started = time.perf_counter()
    for _ in range(repeat):
        function()
    return (time.perf_counter() - started) / repeat * 1e6


def probes(repeat: int) -> list[tuple[str, float]]:
    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    client = Client()
    live = per_call(lambda: client.get("/health/live"), repeat)
    settings.HEALTH_CACHE_SECONDS = 60
    reset_result_cache()
    cached = per_call(lambda: client.get("/health/ready"), repeat)
    settings.HEALTH_CACHE_SECONDS = 0
    uncached = per_call(lambda: client.get("/health/ready"), max(repeat // 10, 10))
    return [("/health/live (baseline)", live), ("/health/ready, cached", cached), ("/health/ready, uncached", uncached)]


class Sleeps:
    def run(self) -> None:
        time.sleep(0.05)


def concurrency() -> list[tuple[str, float]]:
    specs = [CheckSpec(f"c{i}", Sleeps(), timeout=1) for i in range(3)]
    sequential = per_call(lambda: [spec.check.run() for spec in specs], 5)
    concurrent = per_call(lambda: evaluate(specs, cache_seconds=0), 5)
    return [("3 x 50 ms checks, one after another (baseline)", sequential), ("3 x 50 ms checks, runner", concurrent)]


def log_lines(repeat: int) -> list[tuple[str, float]]:
    root = logging.getLogger()
    root.handlers.clear()
    root.setLevel(logging.INFO)
    results = []
    plain = logging.StreamHandler(io.StringIO())
    plain.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
            foreign_pre_chain=[structlog.stdlib.add_log_level, structlog.processors.TimeStamper(fmt="iso")],
        )
    )
    ours = logging.StreamHandler(io.StringIO())
    ours.setFormatter(structlog_formatter(json=True))
    log = structlog.get_logger("bench")
    for label, handler in (("JSON line, plain structlog (baseline)", plain), ("JSON line, context + redaction", ours)):
        root.handlers[:] = [handler]
        with request_scope(RequestScope(request_id="bench")), acting_as("admin:bench"):
            results.append((label, per_call(lambda: log.info("event", user="bob", invoice=17), repeat)))
    return results


def table(rows: list[tuple[str, float]]) -> None:
    baseline = rows[0][1]
    for label, micros in rows:
        print(f"| {label} | {micros:,.0f} | {micros / baseline:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--probes", type=int, default=2000)
    parser.add_argument("--lines", type=int, default=20000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    print("| case | µs/call | ratio |\n|---|---:|---:|")
    table(probes(args.probes))
    table(concurrency())
    table(log_lines(args.lines))


if __name__ == "__main__":
    main()
