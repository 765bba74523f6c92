"""Tokens, passwords, cookies and Authorization never reach the rendered log line."""

from __future__ import annotations

import logging

import pytest
import structlog

from apps.observability.redaction import REDACTED, redact_secrets, redact_text
from tests.observability.conftest import LogLines

SECRETS = ["hunter2", "tok-0123456789", "abc.def-ghi", "sess-42", "s3cret"]


def test_sensitive_keys_are_masked_at_any_depth() -> None:
    event = redact_secrets(
        None,
        "info",
        {
            "event": "login",
            "password": "hunter2",
            "X-Auth-Token": "tok-0123456789",
            "request": {"headers": {"Authorization": "Bearer abc.def-ghi", "Accept": "json"}},
            "cookies": [{"sessionid": "sess-42"}],
            "api_key": "s3cret",
            "user": "bob",
        },
    )
    assert event["password"] == REDACTED
    assert event["X-Auth-Token"] == REDACTED
    assert event["request"] == {"headers": {"Authorization": REDACTED, "Accept": "json"}}
    assert event["cookies"] == REDACTED
    assert event["api_key"] == REDACTED
    assert event["user"] == "bob"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", "Authorization: [REDACTED] [REDACTED]"),
        ("calling with Bearer abc.def-ghi now", "calling with Bearer [REDACTED] now"),
        ("X-Auth-Token: tok-0123456789", "X-Auth-Token: [REDACTED]"),
        ("Cookie: sessionid=sess-42; csrftoken=abc", "Cookie: [REDACTED]"),
        ("POST body password=hunter2&user=bob", "POST body password=[REDACTED]&user=bob"),
        ('{"password": "hunter2", "user": "bob"}', '{"password": [REDACTED], "user": "bob"}'),
        ("redis://:s3cret@cache:6379/0", "redis://***@cache:6379/0"),
        ("amqp://guest:s3cret@mq:5672//", "amqp://***@mq:5672//"),
        ("Basic dXNlcjpzM2NyZXQ=", "Basic [REDACTED]"),
        ("the token expired at noon", "the token expired at noon"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_secrets_inside_text_are_masked(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_no_secret_survives_rendering_whoever_logs_it(log_lines: LogLines) -> None:
    structlog.get_logger("test").info(
        "user logged in with password=hunter2", token="tok-0123456789", headers={"Cookie": "sessionid=sess-42"}
    )
    logging.getLogger("library").warning(
        "request failed: Authorization: Bearer abc.def-ghi to %s", "amqp://u:s3cret@mq//"
    )
    try:
        raise ValueError("connecting to redis://:s3cret@cache:6379 failed")
    except ValueError:
        structlog.get_logger("test").exception("with_traceback")
    rendered = str(log_lines())
    assert len(log_lines()) == 3
    for secret in SECRETS:
        assert secret not in rendered, secret
