# ruff: noqa: E402 - Django must be set up before DRF and the apps are imported
"""Accent-Auth costs: a warm-cache authenticated request vs an anonymous one, and ACL matching.

    REDIS_URL=redis://127.0.0.1:6379/7 .venv/bin/python bench/auth_bench.py [--requests 2000]

Starts the stand-in Accent-Auth in-process, logs in once, warms the token cache, then
times N requests through Django's full stack (middleware, DRF, problem handler) to a
view protected by `HasRequiredAcl` and to the same view open to anonymous callers.
Redis round trips are counted by wrapping redis-py's connection send. Then times
`AccessCheck.matches_required_access` for a 50-pattern token. Prints ratios against
the baselines measured in the same run.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import time
import timeit
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

import httpx
import redis.connection
from django.test import Client, override_settings
from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accent_auth.acl import AccessCheck
from apps.accent_auth.permissions import HasRequiredAcl
from devtools.accent_auth_standin import StandInAccentAuth

ROUND_TRIPS = {"count": 0}
_send = redis.connection.AbstractConnection.send_packed_command


def _counting_send(self: Any, command: Any, check_health: bool = True) -> None:
    ROUND_TRIPS["count"] += 1
    _send(self, command, check_health)  # type: ignore[no-untyped-call]


redis.connection.AbstractConnection.send_packed_command = _counting_send  # type: ignore[method-assign]


class Protected(APIView):
    permission_classes = [HasRequiredAcl]
    required_acl = "documents.{pk}.read"

    def get(self, request: Request, pk: str) -> Response:
        return Response({"pk": pk})


class Anonymous(APIView):
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get(self, request: Request, pk: str) -> Response:
        return Response({"pk": pk})


class BenchUrls:
    urlpatterns = [path("p/<str:pk>/", Protected.as_view()), path("a/<str:pk>/", Anonymous.as_view())]


def time_requests(client: Client, url: str, n: int, headers: dict[str, str]) -> tuple[float, float]:
    """(µs per request, Redis round trips per request)."""
    for _ in range(50):  # warm-up
        assert client.get(url, headers=headers).status_code == 200
    ROUND_TRIPS["count"] = 0
    start = time.perf_counter()
    for _ in range(n):
        client.get(url, headers=headers)
    elapsed = time.perf_counter() - start
    return elapsed / n * 1e6, ROUND_TRIPS["count"] / n


def fifty_pattern_acl() -> list[str]:
    acl = [f"service{i}.resources.*.read" for i in range(20)]
    acl += [f"service{i}.resources.#" for i in range(20, 35)]
    acl += [f"users.me.service{i}.*" for i in range(35, 42)]
    acl += [f"!service{i}.resources.secret.*" for i in range(42, 46)]
    acl += ["documents.*.read", "documents.*.update", "sessions.my_session.delete", "!documents.0.update"]
    assert len(acl) == 50
    return acl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--checks", type=int, default=200_000)
    args = parser.parse_args()

    standin = StandInAccentAuth().start()
    try:
        with override_settings(
            ACCENT_AUTH_URL=standin.url, ROOT_URLCONF=BenchUrls, ALLOWED_HOSTS=["testserver"], DEBUG=False
        ):
            token = httpx.post(f"{standin.url}/token", auth=("alice", "alice")).json()["data"]["token"]
            client = Client()
            auth_us, auth_rt = time_requests(client, "/p/42/", args.requests, {"X-Auth-Token": token})
            anon_us, anon_rt = time_requests(client, "/a/42/", args.requests, {})
            validations = standin.calls("GET /token")
    finally:
        standin.stop()

    print(f"cache backend: {django.conf.settings.CACHES['default']['BACKEND']}")
    print(f"Accent-Auth validations over {2 * args.requests + 100} requests: {validations}")
    print()
    print("| request | µs/request | ratio | Redis round trips/request |")
    print("|---|---:|---:|---:|")
    print(f"| anonymous (baseline) | {anon_us:.0f} | 1.00 | {anon_rt:.2f} |")
    print(f"| token, warm cache, ACL checked | {auth_us:.0f} | {auth_us / anon_us:.2f} | {auth_rt:.2f} |")

    acl = fifty_pattern_acl()
    user = "00000000-0000-4000-9000-00000000000a"
    start = time.perf_counter()
    AccessCheck(user, "s", [*acl, "x.cold"]).matches_required_access("x")
    compile_us = (time.perf_counter() - start) * 1e6
    check = AccessCheck(user, "s", acl)
    cases = {
        "granted by the last positive pattern": "documents.42.update",
        "granted via `#`": "service30.resources.a.b.c",
        "granted via `me`": f"users.{user}.service40.read",
        "refused by a negative pattern": "service43.resources.secret.x",
        "refused: no pattern matches": "billing.invoices.7.read",
    }
    baseline = timeit.timeit(lambda: None, number=args.checks) / args.checks * 1e6
    print()
    print(f"ACL of {len(acl)} patterns; first compile {compile_us:.0f} µs (then cached per token)")
    print("| check | µs/check | ratio to an empty call |")
    print("|---|---:|---:|")
    for name, required in cases.items():
        per = (
            timeit.timeit(functools.partial(check.matches_required_access, required), number=args.checks) / args.checks
        )
        print(f"| {name} | {per * 1e6:.2f} | {per * 1e6 / baseline:.1f} |")
    print(f"| (empty call, baseline) | {baseline:.2f} | 1.0 |")


if __name__ == "__main__":
    main()
