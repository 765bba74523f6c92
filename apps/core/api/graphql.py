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

import contextlib
import datetime
import functools
from collections.abc import Iterator
from typing import Any, NewType, cast

import orjson
import strawberry
import structlog
from django.conf import settings
from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSyntaxError,
    is_leaf_type,
    parse,
)
from graphql.pyutils import Path, Undefined
from strawberry.extensions import (
    DisableIntrospection,
    MaxAliasesLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.resolvers import is_default_resolver
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError

from apps.core.api.problems import problem_of
from apps.core.api.renderers import render_json

__all__ = [
    "INTERNAL_ERROR",
    "Instant",
    "LeafReadingExecutionContext",
    "ParsedQueries",
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


class ParsedQueries(SchemaExtension):
    """Each query text is parsed once (LRU, bounded), and the same document then hits `ValidationCache` at once.

    strawberry's `ParserCache`, except for a query that does not parse: that one is left to
    strawberry's own parse, which reports it as a GraphQL error with its problem code (the syntax
    error of `ParserCache` escapes the extensions). Parsing the list page's query costs about as much
    as serving the page from the cache, and a freshly parsed document costs `ValidationCache` a deep
    comparison with the one it holds.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.graphql_document is None:
            with contextlib.suppress(GraphQLError):
                context.graphql_document = _parsed(context.query, tuple(sorted(context.parse_options.items())))
        yield


@functools.lru_cache(maxsize=256)
def _parsed(query: str, options: tuple[tuple[str, Any], ...]) -> DocumentNode:
    return parse(query, **dict(options))


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


# A selection the fast path completes itself: (response name, attribute, nullable, is a list, items
# nullable, what a value is: a leaf type to serialize it, or the plan of an object's own selections).
_Plan = tuple["_Selection", ...]
_Selection = tuple[str, str, bool, bool, bool, "GraphQLLeafType | _Plan"]
_UNREAD = object()


class LeafReadingExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Completes a tree of plain attributes in one recursive loop instead of graphql-core's walk.

    A list page is ≈100 objects and ≈500 fields (edges, nodes, a document's title, status,
    tags...), all of them attributes with strawberry's default resolver. For each, graphql-core
    builds a path and a resolve info, calls the resolver and walks `complete_value`. When every
    selection on an object is such an attribute — a scalar or enum, a list of them, or an object
    (or list of objects) whose own selections are, recursively — this reads them (`getattr`, what
    strawberry's default resolver does) and serializes the leaves (`coerce_output_value`, what
    `complete_leaf_value` calls) itself. Anything else — a resolver, arguments, a directive, an
    interface or union, a type with `is_type_of`, a schema extension that wraps resolvers — makes the
    object take the standard path, and so does an object one of whose values is not plainly valid
    (null where the type forbids it, not a list, a coercion error): nothing but attribute reads has
    run, and the standard path raises the error it always would. A response is the same with or
    without this class (tests/core/test_graphql_leaves.py).
    """

    def _plan(self, parent_type: GraphQLObjectType, grouped_field_set: Any) -> _Plan | None:
        """The object's selections, or None when one is not a plain attribute; made once per selection set."""
        plans: dict[int, tuple[object, _Plan | None]] = self.__dict__.setdefault("_plans", {})  # shared by copies
        if (found := plans.get(id(grouped_field_set))) is not None and found[0] is grouped_field_set:
            return found[1]
        selections = [self._selection(parent_type, name, details) for name, details in grouped_field_set.items()]
        plan = None if None in selections else tuple(cast(list[_Selection], selections))
        plans[id(grouped_field_set)] = (grouped_field_set, plan)  # kept alive, so its id is not reused
        return plan

    def _selection(self, parent_type: GraphQLObjectType, response_name: str, details: Any) -> _Selection | None:
        node = details[0].node
        field_def = self.schema.get_field(parent_type, node.name.value)
        wrapped = self.middleware_manager is not None and bool(self.middleware_manager.middlewares)
        if field_def is None or field_def.args or node.arguments or node.directives or wrapped:
            return None  # `wrapped`: an extension's `resolve` must see every field
        definition = (field_def.extensions or {}).get("strawberry-definition")
        if (
            definition is None
            or field_def.resolve is None
            or not is_default_resolver(field_def.resolve)
            or not definition.is_basic_field
            or definition.default_resolver is not getattr
            or not definition.python_name
        ):
            return None
        type_, nullable = _nullable(field_def.type)
        is_list = isinstance(type_, GraphQLList)
        item, items_nullable = _nullable(type_.of_type) if isinstance(type_, GraphQLList) else (type_, True)
        if is_leaf_type(item):
            return response_name, definition.python_name, nullable, is_list, items_nullable, item
        if not isinstance(item, GraphQLObjectType) or item.is_type_of is not None:
            return None
        grouped_field_set, defer_usages, _ = self.collect_subfields(item, details)
        plan = None if defer_usages else self._plan(item, grouped_field_set)
        return (
            None if plan is None else (response_name, definition.python_name, nullable, is_list, items_nullable, plan)
        )

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: Any,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, grouped_field_set)
        if plan is not None:
            try:
                completed = _complete_object(source_value, plan)
            except Exception:  # whatever failed, the standard path fails the same way and reports it
                completed = _UNREAD
            if completed is not _UNREAD:
                return completed
        return super().execute_fields(parent_type, source_value, path, grouped_field_set, position_context)


def _nullable(type_: Any) -> tuple[Any, bool]:
    return (type_.of_type, False) if isinstance(type_, GraphQLNonNull) else (type_, True)


def _complete_object(source: Any, plan: _Plan) -> Any:
    """The object's response, or `_UNREAD` when one value must go through the standard path."""
    results: dict[str, Any] = {}
    for response_name, attribute, nullable, is_list, items_nullable, of in plan:
        value = getattr(source, attribute)
        if value is None:
            if not nullable:
                return _UNREAD
            results[response_name] = None
            continue
        if not is_list:
            completed = _complete(value, of)
        elif not isinstance(value, list | tuple):
            return _UNREAD
        else:
            completed = items = []
            for item in value:
                if (done := None if item is None and items_nullable else _complete(item, of)) is _UNREAD:
                    return _UNREAD
                items.append(done)
        if completed is _UNREAD:
            return _UNREAD
        results[response_name] = completed
    return results


def _complete(value: Any, of: GraphQLLeafType | _Plan) -> Any:
    if value is None or isinstance(value, Exception):
        return _UNREAD
    if isinstance(of, tuple):
        return _complete_object(value, of)
    coerced = of.coerce_output_value(value)
    return _UNREAD if coerced is None or coerced is Undefined else coerced
