"""Server processes for the security tests: gunicorn on a free port with tests/security/urls.py."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from tests.processes import clean_env, free_port, running_server


@contextmanager
def gunicorn(*, workers: int = 1, threads: int = 4, **variables: str) -> Iterator[str]:
    """gunicorn (gthread) serving the test URLs; `variables` are its environment (service URLs...).

    Each server gets its own cache key prefix, so its rate-limit keys are its own on a shared Redis.
    """
    env = clean_env(
        DJANGO_SETTINGS_MODULE="tests.security.server_settings",
        CACHE_KEY_PREFIX=f"test-security-{uuid.uuid4().hex[:8]}",
        LOG_LEVEL="WARNING",
        **variables,
    )
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "project.wsgi:application",
        "-b", f"127.0.0.1:{port}", "-w", str(workers), "--threads", str(threads), "-k", "gthread",
    ]  # fmt: skip
    with running_server(command, port=port, env=env, ready_path="/health/live") as base_url:
        yield base_url
