"""GraphQL's side of the API rules: errors as REST's problems, limits from settings, datetimes as REST renders them.

A feature's GraphQL schema is built with `ProblemSchema` (project/graphql.py does it once):

- `ProblemErrors`: every error of a response carries `extensions.code` and `extensions.status`,
  the same code and status REST answers for the same exception (`problems.problem_of`, the one
  mapping), and `extensions.errors` when REST's problem has `errors`. A query the parser or the
  validation refuses (syntax, unknown field, depth, aliases, tokens, introspection) is
  `malformed_request` / `invalid` (400). An exception no problem maps (a bug) is masked:
  `internal_error`, its message hidden, its traceback logged once (`ProblemSchema.process_errors`).
- `SettingsLimits`: the depth, alias and token limits and introspection, read from settings on
  every operation (GRAPHQL_MAX_DEPTH, GRAPHQL_MAX_ALIASES, GRAPHQL_MAX_TOKENS,
  GRAPHQL_INTROSPECTION), with strawberry's own limiters doing the counting. The rules are made
  once per combination of settings, so strawberry's `ValidationCache` (keyed by the rules) still hits.
- `Instant` (GraphQL `DateTime`, `INSTANT_SCALAR` in the schema's `scalar_map`): an instant as the
  REST body spells it (`render_json`: UTC, `Z`).
  A list page's rows already hold that text, so it is passed through, never parsed and rendered
  again; as an input it is handed on as given, for the REST filter to validate (one rule).
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterator
from typing import Any, NewType

import orjson
import strawberry
import structlog
from django.conf import settings
from graphql import ASTValidationRule, GraphQLError, GraphQLSyntaxError
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

from apps.core.api.problems import problem_of
from apps.core.api.renderers import render_json

__all__ = [
    "INTERNAL_ERROR",
    "Instant",
    "ProblemErrors",
    "ProblemSchema",
    "SettingsLimits",
    "instant",
    "problem_extensions",
    "request_refusal",
]

logger = structlog.get_logger(__name__)
INTERNAL_ERROR = "An unexpected error occurred; it has been logged."


def _given_text(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError("A DateTime is an ISO 8601 string.")
    return value


Instant = NewType("Instant", str)
INSTANT_SCALAR = strawberry.scalar(
    name="DateTime",
    description="An ISO 8601 instant; answers are in UTC with `Z`, as the REST API renders them.",
    serialize=str,
    parse_value=_given_text,
)


def instant(value: datetime.datetime | str) -> Instant:
    """A datetime as the REST body renders it; text (a rendered row's) as it is."""
    if isinstance(value, str):
        return Instant(value)
    return Instant(orjson.loads(render_json(value)))


def problem_extensions(error: GraphQLError, *, streamed: bool = False) -> tuple[str, dict[str, Any]]:
    """The message and `extensions` of `error` as REST's problem for the same cause.

    `streamed`: the error ended a subscription's stream, raised by its source (its resolver's iterator),
    which graphql-core reports without a path; otherwise an error without one was refused before execution.
    """
    original = error.original_error
    if original is None or (error.path is None and not streamed):  # the parser, validation, variables
        code = "malformed_request" if isinstance(error, GraphQLSyntaxError) else "invalid"
        return error.message, {"code": code, "status": 400}
    mapped = problem_of(original)
    if mapped is None:
        if streamed and error.path is None:  # ProblemSchema.process_errors logs those with a path
            logger.error("graphql_unexpected_error", path=None, exc_info=original)
        return INTERNAL_ERROR, {"code": "internal_error", "status": 500}
    body, _headers = mapped
    return str(body["detail"]), _extensions_of(body)


def _extensions_of(problem: dict[str, Any]) -> dict[str, Any]:
    extensions: dict[str, Any] = {"code": problem["code"], "status": problem["status"]}
    if problem.get("errors"):
        extensions["errors"] = problem["errors"]
    if problem.get("request_id"):
        extensions["request_id"] = problem["request_id"]
    return extensions


def request_refusal(exc: Exception) -> tuple[dict[str, Any], int, dict[str, str]]:
    """A whole request refused before any operation ran (rate limited): its body, HTTP status and headers.

    The body is a GraphQL request error, `{"errors": [...]}` without `data` (nothing was executed), whose
    one error carries REST's problem for `exc` in `extensions`, as every other error does; the status and
    headers (`Retry-After`) are REST's for the same refusal. Only for exceptions a problem maps.
    """
    mapped = problem_of(exc)
    if mapped is None:
        raise ValueError(f"{type(exc).__name__} maps to no problem") from exc
    body, headers = mapped
    return {"errors": [{"message": str(body["detail"]), "extensions": _extensions_of(body)}]}, body["status"], headers


class ProblemErrors(SchemaExtension):
    """Rewrites the errors of an answer (HTTP) and of each result a subscription streams (graphql-transport-ws).

    A rewritten error keeps its original error, so rewriting it again (a stream's last result is also the
    operation's) gives the same error.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        _rewrite_errors(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        _rewrite_errors(result, streamed=not isinstance(result, PreExecutionError))
        yield


def _rewrite_errors(result: object, *, streamed: bool = False) -> None:
    errors = getattr(result, "errors", None)
    if result is None or not errors:
        return
    rewritten = []
    for error in errors:
        message, extensions = problem_extensions(error, streamed=streamed)
        rewritten.append(
            GraphQLError(
                message,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                original_error=error.original_error,
                extensions={**(error.extensions or {}), **extensions},
            )
        )
    result.errors = rewritten  # type: ignore[attr-defined]


class SettingsLimits(SchemaExtension):
    """Strawberry's limiters with this operation's settings (a setting changed at run time, as tests do, applies)."""

    def on_operation(self) -> Iterator[None]:
        rules = _limit_rules(settings.GRAPHQL_MAX_DEPTH, settings.GRAPHQL_MAX_ALIASES, settings.GRAPHQL_INTROSPECTION)
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, *rules)
        context.parse_options["max_tokens"] = settings.GRAPHQL_MAX_TOKENS  # what MaxTokensLimiter sets
        yield


@functools.lru_cache(maxsize=16)
def _limit_rules(max_depth: int, max_aliases: int, introspection: bool) -> tuple[type[ASTValidationRule], ...]:
    limiters = [QueryDepthLimiter(max_depth=max_depth), MaxAliasesLimiter(max_alias_count=max_aliases)]
    if not introspection:
        limiters.append(DisableIntrospection())
    return tuple(rule for limiter in limiters for rule in limiter.validation_rules)


class ProblemSchema(strawberry.Schema):
    """A schema whose errors are REST's problems; only the unexpected ones are logged (with their traceback)."""

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        for error in errors:
            original = error.original_error
            if original is not None and error.path is not None and problem_of(original) is None:
                logger.error("graphql_unexpected_error", path=error.path, exc_info=original)
