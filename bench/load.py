"""Load: a cached, authenticated document detail read through the full stack vs a bare DRF view.

Both under one gunicorn (the security tests' URL set: `/test/bare-document/` is a DRF
view with no authentication, throttles or middleware work of its own, returning the
same JSON). Middleware runs for both; the ratio is what authentication (cached token),
ACL, tenancy, rate limits and the cache read cost on top. Only 127.0.0.1 is loaded.

    .venv/bin/python bench/load.py [--seconds 10] [--threads 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devtools.accent_auth_standin import StandInAccentAuth
from tests.processes import clean_env, manage
from tests.security.conftest import gunicorn


def measure(url: str, headers: dict[str, str], seconds: float, threads: int) -> float:
    done = [0] * threads
    errors = [0] * threads
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        with httpx.Client(headers=headers, timeout=10) as client:
            while time.monotonic() < stop:
                if client.get(url).status_code == 200:
                    done[index] += 1
                else:
                    errors[index] += 1

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if sum(errors):
        raise SystemExit(f"{sum(errors)} non-200 answers from {url}")
    return sum(done) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    database = f"sqlite:///{tempfile.mkdtemp()}/load.sqlite3"
    assert manage("migrate", "--noinput", env=clean_env(DATABASE_URL=database)).returncode == 0
    auth = StandInAccentAuth().start()
    try:
        token = httpx.post(f"{auth.url}/token", auth=("root", "root"), json={"expiration": 3600}).json()["data"]
        headers = {"X-Auth-Token": token["token"], "Accent-Tenant": "00000000-0000-4000-8000-00000000000a"}
        variables = {"DATABASE_URL": database, "ACCENT_AUTH_URL": auth.url, "RATE_LIMIT_PER_IP": "off"}
        # The actor limit is counted on every read, set high enough never to refuse the load.
        variables["RATE_LIMIT_PER_ACTOR"] = "100000000/hour"
        with gunicorn(workers=args.workers, threads=4, **variables) as base:
            document = httpx.post(f"{base}/api/v1/documents/", json={"title": "Load"}, headers=headers).json()
            detail = f"{base}/api/v1/documents/{document['id']}/"
            httpx.get(detail, headers=headers)  # warm the cache
            bare = f"{base}/test/bare-document/"
            full_rps = measure(detail, headers, args.seconds, args.threads)
            bare_rps = measure(bare, {}, args.seconds, args.threads)
    finally:
        auth.stop()
    print(f"{'case':<40} {'req/s':>10}")
    print(f"{'bare DRF view, same JSON':<40} {bare_rps:>10.0f}")
    print(f"{'documents detail, full stack, cached':<40} {full_rps:>10.0f}")
    print(f"ratio full/bare: {full_rps / bare_rps:.2f} (target >= 0.70)")


if __name__ == "__main__":
    main()
