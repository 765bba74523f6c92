"""HTTP conditional requests over row versions (`apps.core.versioning`): ETag out, If-Match / If-None-Match in.

    expected = expected_version(request)  # None, or what If-Match allows; 428 when required and missing
    document = document_update(document_id=pk, changes=..., expected_version=expected)
    return with_etag(Response(body), body)  # reads: conditional_read(request, body), 304 on If-None-Match

The ETag is strong (`"…"`, no `W/`): RFC 9110 lets `If-Match` match only strong tags, and a
row version names exactly one JSON body (the same fields, rendered the same way).
`API_REQUIRE_IF_MATCH = True` makes writes without `If-Match` a 428 problem, so no client can
overwrite what it has not seen.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.http import parse_etags, quote_etag
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import PreconditionRequired
from apps.core.versioning import ExpectedVersion, row_version

__all__ = ["conditional_read", "etag_of", "expected_version", "expected_version_of", "with_etag"]


def _body_version(body: Mapping[str, Any]) -> str:
    """The row version of a rendered resource (its `id` and `updated_at`): what its ETag names."""
    updated_at: datetime.datetime = body["updated_at"]
    return row_version(body["id"], updated_at)


def etag_of(body: Mapping[str, Any]) -> str:
    """The strong ETag of a rendered resource (GraphQL's `etag` field is this header's value)."""
    return quote_etag(_body_version(body))


def with_etag(response: Response, body: Mapping[str, Any]) -> Response:
    response["ETag"] = etag_of(body)
    return response


def expected_version(request: Request) -> ExpectedVersion | None:
    """What the request's `If-Match` lets a write proceed on; `None` when it sends none (unless required)."""
    return expected_version_of(request.headers.get("If-Match"))


def expected_version_of(header: str | None) -> ExpectedVersion | None:
    """What an If-Match value (a header, GraphQL's `ifMatch`) lets a write proceed on; 428 when required and absent."""
    if header is None:
        if settings.API_REQUIRE_IF_MATCH:
            raise PreconditionRequired(
                "This write needs an If-Match header with the ETag of the version you read "
                '(or "*"): read the resource first (GET) to get it.'
            )
        return None
    return ExpectedVersion.from_if_match(header)


def conditional_read(request: Request, body: Mapping[str, Any]) -> Response:
    """`body` with its ETag, or an empty 304 when `If-None-Match` names that version (weak comparison)."""
    response = Response(body)
    header = request.headers.get("If-None-Match")
    if header:
        current = etag_of(body)
        tags = parse_etags(header)
        if "*" in tags or any(tag.removeprefix("W/") == current for tag in tags):
            response = Response(status=304)
    return with_etag(response, body)
