"""The security middleware in the request cycle: 413, per-IP 429, RateLimit headers, trusted proxies, headers."""

from __future__ import annotations

from typing import Any

from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from apps.security.middleware import PERMISSIONS_POLICY

URL = "/api/v1/documents/"


def test_the_per_ip_limit_answers_429_problems_with_retry_after_and_ratelimit_headers(
    client: Client, limits: SettingsWrapper
) -> None:
    limits.RATE_LIMIT_PER_IP = "2/minute"
    first = client.get(URL)
    assert first.status_code == 401
    assert (first["RateLimit-Limit"], first["RateLimit-Remaining"], first["RateLimit-Reset"]) == ("2", "1", "0")
    assert first["RateLimit-Policy"] == "2;w=60"
    client.get(URL)
    refused = client.get(URL)
    assert refused.status_code == 429
    assert refused["Content-Type"] == "application/problem+json"
    body = refused.json()
    assert (body["status"], body["code"], body["title"]) == (429, "rate_limited", "Too many requests")
    assert body["request_id"] == refused["X-Request-ID"]
    assert refused["Retry-After"] == "60"
    assert refused["RateLimit-Remaining"] == "0"
    assert client.get("/health/live").status_code == 200, "probes are exempt"
    assert "RateLimit-Limit" not in client.get("/health/live")


def test_limits_off_means_no_headers_and_no_counting(client: Client, limits: SettingsWrapper) -> None:
    limits.RATE_LIMIT_PER_IP = "1/minute"
    limits.RATE_LIMIT_ENABLED = False
    responses = [client.get(URL) for _ in range(3)]
    assert [r.status_code for r in responses] == [401, 401, 401]
    assert "RateLimit-Limit" not in responses[0]


def test_x_forwarded_for_is_believed_only_from_trusted_proxies(client: Client, limits: SettingsWrapper) -> None:
    limits.RATE_LIMIT_PER_IP = "1/minute"
    # Untrusted peer: a forged header does not buy a fresh allowance.
    assert client.get(URL, HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 401
    assert client.get(URL, HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 429
    # Behind a trusted proxy: the client is the right-most untrusted hop, whatever it prepended.
    limits.TRUSTED_PROXIES = ["10.0.0.0/8"]
    proxied: dict[str, Any] = {"REMOTE_ADDR": "10.1.2.3"}
    assert client.get(URL, HTTP_X_FORWARDED_FOR="1.1.1.1, 198.51.100.7", **proxied).status_code == 401
    assert client.get(URL, HTTP_X_FORWARDED_FOR="2.2.2.2, 198.51.100.7", **proxied).status_code == 429
    assert client.get(URL, HTTP_X_FORWARDED_FOR="198.51.100.8, 10.9.9.9", **proxied).status_code == 401


def test_a_declared_body_over_the_limit_gets_413_before_parsing(client: Client, settings: SettingsWrapper) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    response = client.post(URL, "[" + "1," * 1000 + "1]", content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "request_too_large"
    assert response["Connection"] == "close"
    assert client.post(URL, "{}", content_type="application/json").status_code == 401, "small bodies go on"


def test_security_headers_on_api_and_admin(client: Client) -> None:
    for path in (URL, "/admin/login/", "/health/live"):
        response = client.get(path)
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["X-Frame-Options"] == "DENY"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response["Permissions-Policy"] == PERMISSIONS_POLICY
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_cors_is_closed_by_default_and_opens_to_configured_origins(client: Client, settings: SettingsWrapper) -> None:
    preflight: dict[str, Any] = {"HTTP_ORIGIN": "https://app.example.com", "HTTP_ACCESS_CONTROL_REQUEST_METHOD": "GET"}
    closed = client.options(URL, **preflight)
    assert "Access-Control-Allow-Origin" not in closed
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.com"]
    opened = client.options(URL, HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-auth-token", **preflight)
    assert opened.status_code == 200
    assert opened["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert "x-auth-token" in opened["Access-Control-Allow-Headers"]
    other = client.get(URL, HTTP_ORIGIN="https://evil.example.net")
    assert "Access-Control-Allow-Origin" not in other
