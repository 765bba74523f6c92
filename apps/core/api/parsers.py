"""`JSONParser`: the API's only body parser, strict where DRF's (stdlib `json`) is lenient.

orjson refuses what `json.loads` lets through: `NaN`/`Infinity` (not JSON; they
render back as invalid JSON), numbers that overflow a double, lone surrogate escapes
(`"\\ud800"`, not Unicode; the database driver fails on them), invalid UTF-8. It also
never recurses in Python, so a deep document is no `RecursionError` (a 500); the
nesting is then capped at `API_JSON_MAX_DEPTH` (default 32), because serializers,
validators and the audit diff walk what the parser returns. An object that names one
key twice is refused too: parsers disagree on which value counts (orjson and `json`
keep the last, others the first), so a proxy or a log could see another body than the
service does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

import orjson
from django.conf import settings
from rest_framework.exceptions import ParseError, UnsupportedMediaType
from rest_framework.parsers import BaseParser

__all__ = ["DEFAULT_MAX_DEPTH", "JSONParser", "json_depth_exceeds"]

DEFAULT_MAX_DEPTH = 32


def json_depth_exceeds(data: Any, limit: int) -> bool:
    """Whether arrays and objects in `data` nest more than `limit` levels (a scalar is level 0)."""
    pending: list[tuple[Any, int]] = [(data, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth + 1 > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


class JSONParser(BaseParser):
    media_type = "application/json"

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        # DRF picks this parser for any type that *matches* application/json, `*/*` and
        # `application/*` included: a body must say it is JSON to be read as JSON.
        if media_type is not None and media_type.partition(";")[0].strip().lower() != self.media_type:
            raise UnsupportedMediaType(media_type)
        body = stream.read()
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise ParseError(f"The body is not valid JSON: {error}.") from None
        limit: int = getattr(settings, "API_JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH)
        if json_depth_exceeds(data, limit):
            raise ParseError(f"The JSON body nests arrays and objects deeper than {limit} levels.")
        _refuse_duplicate_keys(body)
        return data


def _checked_pairs(pairs: list[tuple[str, Any]]) -> None:
    """`json`'s object hook: nothing is built (orjson already did), each object's keys are only checked."""
    keys = {key for key, _ in pairs}
    if len(keys) != len(pairs):
        twice = sorted({key for key, _ in pairs if sum(1 for other, _ in pairs if other == key) > 1})
        raise ParseError(f"The JSON body names a key more than once in one object: {', '.join(map(repr, twice))}.")


def _refuse_duplicate_keys(body: bytes) -> None:
    """`ParseError` when an object of `body` (valid JSON, nested at most the depth limit) repeats a key.

    orjson cannot report it, so the body is scanned again by `json` (C-accelerated) with a
    pairs hook; it is shallow here, so `json`'s recursion is bounded.
    """
    json.loads(body, object_pairs_hook=_checked_pairs)
