"""`LeafReadingExecutionContext` answers exactly what graphql-core's standard execution answers.

The same strawberry types are served by two schemas, one with the leaf-reading context and one
without; every query below must give equal data and equal errors (message, path, location). And
`ParsedQueries` parses a query text once.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import strawberry
from graphql import GraphQLResolveInfo
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types import ExecutionResult

from apps.core.api.graphql import LeafReadingExecutionContext, ParsedQueries, _parsed


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Never(BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


@strawberry.type
class Item:
    id: strawberry.ID
    name: str
    colour: Colour
    tags: list[str]
    maybe: str | None
    loose_tags: list[str | None] | None
    count: int
    hidden: str = strawberry.field(permission_classes=[Never], default="secret")

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times


@strawberry.type
class Page:
    items: list[Item]
    total: int
    best: Item | None


def _item(**changes: Any) -> Item:
    values: dict[str, Any] = {
        "id": strawberry.ID("1"),
        "name": "one",
        "colour": Colour.RED,
        "tags": ["a", "b"],
        "maybe": None,
        "loose_tags": ["x", None],
        "count": 3,
    }
    values.update(changes)
    return Item(**values)


@dataclass
class Source:
    """What the resolver serves; a test replaces it with broken rows."""

    items: list[Item] = field(default_factory=lambda: [_item(), _item(id=strawberry.ID("2"), name="two", maybe="m")])
    best: Item | None = None


SOURCE = Source()


@strawberry.type
class Query:
    @strawberry.field
    def page(self) -> Page:
        return Page(items=SOURCE.items, total=len(SOURCE.items), best=SOURCE.best)

    @strawberry.field
    async def later(self) -> Item:
        return SOURCE.items[0]


class CountingResolves(SchemaExtension):
    calls = 0

    def resolve(
        self, _next: Callable[..., Any], root: Any, info: GraphQLResolveInfo[Any], *args: Any, **kwargs: Any
    ) -> Any:
        CountingResolves.calls += 1
        return _next(root, info, *args, **kwargs)


class CountingLeafReading(LeafReadingExecutionContext):
    """Counts the fields graphql-core's standard path executes, by parent type."""

    standard: dict[str, int] = {}  # reset by each test that reads it

    def execute_field(self, parent_type: Any, *args: Any, **kwargs: Any) -> Any:
        CountingLeafReading.standard[parent_type.name] = CountingLeafReading.standard.get(parent_type.name, 0) + 1
        return super().execute_field(parent_type, *args, **kwargs)


standard = strawberry.Schema(query=Query, execution_context_class=StrawberryGraphQLCoreExecutionContext)
leaf_reading = strawberry.Schema(query=Query, execution_context_class=CountingLeafReading)


def _shape(result: ExecutionResult) -> tuple[Any, list[tuple[str, Any, Any]]]:
    errors = [(error.message, error.path, error.locations) for error in result.errors or []]
    return result.data, sorted(errors, key=repr)


@pytest.fixture(autouse=True)
def _fresh_source() -> Any:
    SOURCE.items, SOURCE.best = Source().items, None
    CountingLeafReading.standard = {}
    yield
    SOURCE.items, SOURCE.best = Source().items, None


QUERIES = {
    "all leaves": "{ page { total items { id name colour tags maybe looseTags count } } }",
    "aliases and a repeated field": "{ page { items { a: name b: name name id n: count } } }",
    "typename": "{ page { __typename items { __typename id } } }",
    "fragments": "fragment F on Item { name tags } { page { items { ...F ... on Item { colour } id } } }",
    "skip and include": "{ page { items { id name @skip(if: true) colour @include(if: false) tags } } }",
    "a resolver beside leaves": "{ page { items { id shout(times: 2) name } } }",
    "a permission beside leaves": "{ page { items { id hidden name } } }",
    "an async field": "{ later { id name tags } }",
    "a null object": "{ page { best { id name } items { id } } }",
}


@pytest.mark.parametrize("query", QUERIES.values(), ids=QUERIES.keys())
def test_answers_equal_the_standard_execution(query: str) -> None:
    if "later" in query:
        import asyncio

        assert _shape(asyncio.run(leaf_reading.execute(query))) == _shape(asyncio.run(standard.execute(query)))
        return
    expected = standard.execute_sync(query)
    assert _shape(leaf_reading.execute_sync(query)) == _shape(expected)


BROKEN_ROWS = {
    "null for a non-null leaf": {"name": None},
    "null inside a non-null list": {"tags": ["a", None]},
    "not a list": {"tags": "ab"},
    "a value the enum does not have": {"colour": "green"},
    "a value the scalar refuses": {"count": "three"},
    "an exception as the value": {"name": ValueError("broken")},
}


@pytest.mark.parametrize("changes", BROKEN_ROWS.values(), ids=BROKEN_ROWS.keys())
@pytest.mark.parametrize("where", ["in a list", "in a nullable object"])
def test_an_invalid_value_gets_the_standard_error_and_null_propagation(changes: dict[str, Any], where: str) -> None:
    broken = _item(id=strawberry.ID("2"), **changes)
    if where == "in a list":
        SOURCE.items = [_item(), broken]
    else:
        SOURCE.best = broken
    query = "{ page { total items { id name colour tags maybe looseTags count } best { name tags colour count } } }"
    expected = standard.execute_sync(query)
    assert expected.errors, "the broken row must be an error in the standard execution"
    assert _shape(leaf_reading.execute_sync(query)) == _shape(expected)


def test_plain_leaf_objects_skip_the_per_field_machinery() -> None:
    """Why the class exists: the items' fields are not executed one by one (if strawberry stops marking
    its default resolvers, this fails and the list page falls back to the slow path unnoticed)."""
    assert not leaf_reading.execute_sync(QUERIES["all leaves"]).errors
    assert CountingLeafReading.standard == {"Query": 1}, "the page and its items are read in one loop"

    CountingLeafReading.standard = {}
    assert not leaf_reading.execute_sync(QUERIES["a resolver beside leaves"]).errors
    assert CountingLeafReading.standard == {"Query": 1, "Page": 1, "Item": 6}, "a resolver: the standard path"


def test_an_extension_that_wraps_resolvers_still_sees_every_field() -> None:
    wrapped = strawberry.Schema(
        query=Query, execution_context_class=LeafReadingExecutionContext, extensions=[CountingResolves]
    )
    CountingResolves.calls = 0
    result = wrapped.execute_sync("{ page { items { id name } } }")
    assert not result.errors
    assert CountingResolves.calls == 1 + 1 + 2 * 2  # page, items, and each item's two fields


parsing = strawberry.Schema(query=Query, extensions=[ParsedQueries])


def test_a_query_text_is_parsed_once_and_a_broken_one_reported_as_usual() -> None:
    query = "{ page { total } } # parsed once"
    before = _parsed.cache_info()
    assert parsing.execute_sync(query).data == {"page": {"total": 2}}
    assert parsing.execute_sync(query).data == {"page": {"total": 2}}
    after = _parsed.cache_info()
    assert (after.misses - before.misses, after.hits - before.hits) == (1, 1)

    broken = parsing.execute_sync("{ page { total }")
    assert broken.data is None
    assert broken.errors
    assert "Syntax Error" in broken.errors[0].message
    assert _parsed.cache_info().currsize == after.currsize, "a query that does not parse is not kept"
