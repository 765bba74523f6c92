"""Keep secrets out of logs: a structlog processor that masks them wherever they appear.

- Values under sensitive keys (`password`, `token`, `authorization`, `cookie`,
  `secret`, `api_key`, ...), at any depth of dicts and lists, become `[REDACTED]`.
- Inside any string (the message, a rendered traceback, a header dump) a bearer
  token, an `X-Auth-Token` / `Authorization` / `Cookie` header value, a
  `password=` style pair, and the credentials of a URL are masked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from typing import Any

__all__ = ["REDACTED", "is_sensitive_key", "redact_secrets", "redact_text"]

REDACTED = "[REDACTED]"

_SENSITIVE_KEY = re.compile(
    r"pass(word|wd)?$|passphrase|secret|token|authori[sz]ation|cookie|api[-_]?key|credential|private[-_]?key|sessionid",
    re.IGNORECASE,
)
_TEXT_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: Bearer abc / Basic abc
    (re.compile(r"\b(Bearer)\s+[A-Za-z0-9\-._~+/=]+", re.IGNORECASE), rf"\1 {REDACTED}"),
    (re.compile(r"\b(Basic)\s+[A-Za-z0-9+/=]{8,}", re.IGNORECASE), rf"\1 {REDACTED}"),
    # X-Auth-Token: abc, Cookie: a=b; c=d, Authorization=abc, "password": "abc", password=abc
    (
        re.compile(
            r"""(?P<key>["']?(?:x-auth-token|authorization|cookie|set-cookie|password|passwd|secret|"""
            r"""api[-_]?key|access[-_]?token|refresh[-_]?token|token)["']?\s*[:=]\s*)"""
            r"""(?P<value>"[^"]*"|'[^']*'|[^\s,;&}]+(?:;\s*[^\s,;&}=]+=[^\s,;&}]+)*)""",
            re.IGNORECASE,
        ),
        rf"\g<key>{REDACTED}",
    ),
    # scheme://user:password@host
    (re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]*:[^/@\s]*@", re.IGNORECASE), r"\g<scheme>***@"),
)


def is_sensitive_key(key: object) -> bool:
    return isinstance(key, str) and _SENSITIVE_KEY.search(key) is not None


def redact_text(text: str) -> str:
    for pattern, replacement in _TEXT_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _redact(value: Any, depth: int = 0) -> Any:
    if depth > 8:  # structures logged are shallow; a cycle or a monster must not hang logging
        return value
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: REDACTED if is_sensitive_key(k) else _redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redact(item, depth + 1) for item in value)
    return value


def redact_secrets(logger: object, method_name: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: run it after exceptions are rendered and before the renderer."""
    for key, value in list(event_dict.items()):
        if key.startswith("_"):
            continue  # structlog's own bookkeeping (_record, _from_structlog)
        event_dict[key] = REDACTED if is_sensitive_key(key) else _redact(value)
    return event_dict
