"""Rate limits and the body limit in a real gunicorn, over real sockets.

The rate-limit tests fire requests in parallel from many threads at several worker
processes sharing one Redis: the atomic limiter lets exactly the limit through, and
DRF's own throttle, for comparison, lets more through.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.security.conftest import chunked, gunicorn, raw_post

LIMIT = 25
JSON = {"Content-Type": "application/json"}
REQUESTS = 100


def _parallel_statuses(url: str, count: int, *, threads: int = 24) -> Counter[int]:
    barrier = threading.Barrier(threads)
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)

    with httpx.Client(timeout=20, limits=limits) as client:

        def send(index: int) -> int:
            if index < threads:
                barrier.wait(timeout=10)  # start the first wave together
            return client.get(url).status_code

        with ThreadPoolExecutor(threads) as pool:
            return Counter(pool.map(send, range(count)))


@pytest.fixture(scope="module")
def limited_server(request: pytest.FixtureRequest) -> Iterator[str]:
    redis_url = request.getfixturevalue("redis_url")
    with gunicorn(workers=3, threads=8, REDIS_URL=redis_url, RATE_LIMIT_PER_IP=f"{LIMIT}/minute") as base_url:
        yield base_url


def test_the_per_ip_limit_is_exact_under_parallel_requests_across_workers(limited_server: str) -> None:
    statuses = _parallel_statuses(f"{limited_server}/api/v1/documents/", REQUESTS)
    assert statuses == Counter({401: LIMIT, 429: REQUESTS - LIMIT})
    refused = httpx.get(f"{limited_server}/api/v1/documents/", timeout=30)
    assert refused.status_code == 429
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit-Limit"] == str(LIMIT)
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert refused.headers["RateLimit-Policy"] == f"{LIMIT};w=60"
    assert httpx.get(f"{limited_server}/health/live", timeout=30).status_code == 200, "probes are never limited"


def test_drf_own_throttle_lets_more_than_its_limit_through(redis_url: str) -> None:
    # Same load on DRF's ScopedRateThrottle (25/minute, Redis cache): its cache read and write race.
    # Up to five fresh scopes, so one lucky interleaving cannot make the comparison fail.
    allowed = []
    with gunicorn(workers=3, threads=8, REDIS_URL=redis_url, RATE_LIMIT_ENABLED="false") as base_url:
        for attempt in range(5):
            statuses = _parallel_statuses(f"{base_url}/test/drf-throttled/drf-{attempt}/", REQUESTS)
            allowed.append(statuses[200])
            if statuses[200] > LIMIT:
                break
    assert max(allowed) > LIMIT, f"DRF's throttle stayed exact in every attempt: {allowed}"


@pytest.fixture(scope="module")
def small_body_server() -> Iterator[str]:
    with gunicorn(REQUEST_MAX_BODY_BYTES="2048", RATE_LIMIT_ENABLED="false") as base_url:
        yield base_url


def test_a_chunked_body_over_the_limit_is_refused_with_413(small_body_server: str) -> None:
    body = json.dumps({"title": "x" * 5000}).encode()
    status, headers, payload = raw_post(
        small_body_server, "/test/echo-body/", ["Transfer-Encoding: chunked", "Connection: close"], chunked(body)
    )
    assert status == 413
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(payload)
    assert (problem["status"], problem["code"]) == (413, "request_too_large")
    assert "2048 bytes" in problem["detail"]


def test_a_chunked_body_within_the_limit_reaches_the_view_whole(small_body_server: str) -> None:
    body = json.dumps({"title": "y" * 1500}).encode()
    status, _, payload = raw_post(
        small_body_server, "/test/echo-body/", ["Transfer-Encoding: chunked", "Connection: close"], chunked(body)
    )
    assert status == 200, payload
    assert json.loads(payload) == {"received": len(body)}


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_read(small_body_server: str) -> None:
    response = httpx.post(f"{small_body_server}/api/v1/documents/", content=b"{" + b" " * 4000 + b"}", timeout=30)
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "request_too_large"
    with httpx.stream("POST", f"{small_body_server}/test/echo-body/", content=iter([b"a" * 1000] * 3)) as streamed:
        assert streamed.status_code == 413, "httpx sends an iterator chunked"
    assert httpx.post(f"{small_body_server}/test/echo-body/", content=b"z" * 2048, timeout=30).json() == {
        "received": 2048
    }


MALFORMED_CHUNKS = {
    "size not hex": b"zz\r\n{}\r\n0\r\n\r\n",
    "size larger than the data": b"ff\r\n{}\r\n0\r\n\r\n",
    "no CRLF after the data": b"2\r\n{}XX0\r\n\r\n",
    "negative size": b"-2\r\n{}\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("body", MALFORMED_CHUNKS.values(), ids=MALFORMED_CHUNKS.keys())
def test_a_malformed_chunked_body_is_a_400_problem(small_body_server: str, body: bytes) -> None:
    status, headers, payload = raw_post(
        small_body_server, "/api/test/echo-json/", ["Transfer-Encoding: chunked", "Connection: close"], body
    )
    assert status == 400, payload
    assert headers["content-type"] == "application/problem+json"
    assert json.loads(payload)["code"] == "malformed_request"


def test_json_nested_beyond_the_limit_is_a_400_problem_not_a_recursion_error(small_body_server: str) -> None:
    deep = b"[" * 1000 + b"]" * 1000  # 2 KB: within the body limit
    response = httpx.post(f"{small_body_server}/api/test/echo-json/", content=deep, headers=JSON, timeout=30)
    assert response.status_code == 400, response.text[:300]
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "malformed_request"
    shallow = httpx.post(f"{small_body_server}/api/test/echo-json/", content=b"[[[]]]", headers=JSON, timeout=30)
    assert shallow.json() == {"received": [[[]]]}


def test_a_host_outside_allowed_hosts_is_a_400_problem_on_the_api(small_body_server: str) -> None:
    for path in ("/api/v1/documents/", "/api/v1/nope/", "/api/schema/"):
        response = httpx.get(f"{small_body_server}{path}", headers={"Host": "evil.example"}, timeout=30)
        assert response.status_code == 400, path
        assert response.headers["Content-Type"] == "application/problem+json", path
        assert response.json()["code"] == "disallowed_host"
    assert (
        httpx.get(f"{small_body_server}/admin/login/", headers={"Host": "evil.example"}, timeout=30).status_code == 400
    )
