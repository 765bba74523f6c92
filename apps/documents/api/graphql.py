"""The documents over GraphQL (`/graphql/`): the REST API's selectors, services, ACLs and input validation.

| field | ACL | does |
|---|---|---|
| `documents(first, after, before, filter, ordering, deleted)` | documents.read (1) | `document_list`: a keyset page |
| `document(id)` | documents.{id}.read | `document_detail` (cached) |
| `createDocument(input)` | documents.create | `document_create` |
| `updateDocument(id, input, ifMatch)` | documents.{id}.update | `document_update` |
| `deleteDocument(id, ifMatch)` | documents.{id}.delete | `document_delete` (soft) |
| `restoreDocument(id, ifMatch)` | documents.{id}.restore | `document_restore` |
| `documentEvents` (subscription) | documents.events.read; each event: documents.{id}.read | the `documents` stream |

(1) `deleted: true`: documents.deleted.read. The page is a Relay-style connection (`edges`, `pageInfo`).

Resolvers are as thin as the REST views: they demand the ACL (`info.context.demand`), validate input
with the REST input serializers, and call a selector or a service; they never touch the ORM, so the
audit rows, events and cache invalidation of a write are the REST write's. A list page is the REST
page (the same cached JSON rows and cursors); `pageInfo.endCursor` goes with `after` (next page),
`pageInfo.startCursor` with `before` (previous page), as REST's `next_cursor` / `previous_cursor`.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

import orjson
import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from apps.accent_auth.graphql import GraphQLCaller
from apps.core.api.graphql import Instant, instant
from apps.core.api.preconditions import etag_of, expected_version_of
from apps.core.errors import InvalidInput, NotFound
from apps.core.pagination import MAX_PAGE_SIZE
from apps.documents import acl
from apps.documents.api import serializers
from apps.documents.models import DocumentStatus
from apps.documents.realtime import DOCUMENTS
from apps.documents.selectors import document_detail, document_list
from apps.documents.services import document_create, document_delete, document_restore, document_update
from apps.realtime.graphql_socket import SocketCaller

__all__ = ["Mutation", "Query", "Subscription"]

# The model's choices, by name (REST spells a status by its lowercase value).
DocumentStatusEnum = strawberry.enum(
    cast(type[enum.Enum], enum.Enum("DocumentStatus", {choice.name: choice.value for choice in DocumentStatus})),
    description="A document's status (REST: the lowercase value).",
)


@strawberry.type(name="Document", description="A document: the fields of the REST body, and its ETag.")
class DocumentNode:
    id: strawberry.ID
    title: str
    body: str
    status: DocumentStatusEnum  # type: ignore[valid-type]
    tags: list[str]
    created_at: Instant
    updated_at: Instant
    created_by: str
    updated_by: str
    deleted_at: Instant | None = strawberry.field(description="Only in the deleted list.")
    deleted_by: str | None = strawberry.field(description="Only in the deleted list.")
    etag: str | None = strawberry.field(description="The ETag REST sends for it (ifMatch); not on list items.")

    @classmethod
    def of(cls, row: Mapping[str, Any], *, with_etag: bool = False) -> DocumentNode:
        deleted_at = row.get("deleted_at")
        return cls(
            id=strawberry.ID(str(row["id"])),
            title=row["title"],
            body=row["body"],
            status=DocumentStatusEnum(row["status"]),
            tags=list(row["tags"]),
            created_at=instant(row["created_at"]),
            updated_at=instant(row["updated_at"]),
            created_by=row["created_by"],
            updated_by=row["updated_by"],
            deleted_at=None if deleted_at is None else instant(deleted_at),
            deleted_by=row.get("deleted_by"),
            etag=etag_of(row) if with_etag else None,
        )


@strawberry.type
class DocumentEdge:
    node: DocumentNode


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None = strawberry.field(description="Pass as `before` for the previous page.")
    end_cursor: str | None = strawberry.field(description="Pass as `after` for the next page.")


@strawberry.type
class DocumentConnection:
    edges: list[DocumentEdge]
    page_info: PageInfo


@strawberry.input(description="The REST list's filters (DocumentFilter), by the same names.")
class DocumentFilterInput:
    status: DocumentStatusEnum | None = None  # type: ignore[valid-type]
    tag: str | None = None
    created_after: Instant | None = None
    created_before: Instant | None = None
    q: str | None = None

    def as_query(self) -> dict[str, str]:
        """The filters as REST's query string gives them to the selector, which validates them."""
        query: dict[str, str] = {}
        for name, value in vars(self).items():
            if value is None:
                continue
            query[name] = str(value.value) if isinstance(value, enum.Enum) else str(value)
        return query


@strawberry.input(description="REST's DocumentCreateInput (POST), validated by it.")
class DocumentCreateInput:
    title: str
    body: str | None = strawberry.UNSET
    status: DocumentStatusEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    tags: list[str] | None = strawberry.UNSET


@strawberry.input(description="REST's DocumentUpdateInput (PATCH): only the fields given change.")
class DocumentUpdateInput:
    title: str | None = strawberry.UNSET
    body: str | None = strawberry.UNSET
    status: DocumentStatusEnum | None = strawberry.UNSET  # type: ignore[valid-type]
    tags: list[str] | None = strawberry.UNSET


def _payload(given: DocumentCreateInput | DocumentUpdateInput) -> dict[str, Any]:
    """The fields the caller gave, as REST's JSON body would carry them (null stays null: the serializer refuses it)."""
    payload = {name: value for name, value in vars(given).items() if value is not strawberry.UNSET}
    if isinstance(payload.get("status"), enum.Enum):
        payload["status"] = payload["status"].value
    return payload


def _document_id(raw: strawberry.ID) -> uuid.UUID:
    """A document id in its one spelling (REST's `<uuid:pk>`); not a UUID: no such document (REST's 404).

    Canonical before the ACL is filled in: `documents.{id}.read` must name the id as a token's
    patterns (negative ones included) name it.
    """
    try:
        return uuid.UUID(str(raw))
    except ValueError:
        raise NotFound(f"No document with id {raw}.") from None


def _caller(info: Info[GraphQLCaller, None]) -> GraphQLCaller:
    return info.context


def documents(
    info: Info[GraphQLCaller, None],
    *,
    first: int = 50,
    after: str | None = None,
    before: str | None = None,
    filter: DocumentFilterInput | None = None,
    ordering: str | None = None,
    deleted: bool = False,
) -> DocumentConnection:
    _caller(info).demand(acl.LIST_DELETED if deleted else acl.LIST)
    if not 1 <= first <= MAX_PAGE_SIZE:
        raise InvalidInput(
            f"first must be a whole number from 1 to {MAX_PAGE_SIZE}.", errors={"first": [f"Got {first!r}."]}
        )
    if after is not None and before is not None:
        raise InvalidInput("Give after or before, not both.", errors={"before": ["Not with after."]})
    page = document_list(
        filters=filter.as_query() if filter else {},
        ordering=ordering or None,
        cursor=after or before or None,
        limit=first,
        deleted=deleted,
    )
    return DocumentConnection(
        edges=[DocumentEdge(node=DocumentNode.of(row)) for row in orjson.loads(page.results)],
        page_info=PageInfo(
            has_next_page=page.next_cursor is not None,
            has_previous_page=page.previous_cursor is not None,
            start_cursor=page.previous_cursor,
            end_cursor=page.next_cursor,
        ),
    )


def document(info: Info[GraphQLCaller, None], id: strawberry.ID) -> DocumentNode:
    document_id = _document_id(id)
    _caller(info).demand(acl.READ, pk=document_id)
    return DocumentNode.of(document_detail(document_id), with_etag=True)


def create_document(info: Info[GraphQLCaller, None], input: DocumentCreateInput) -> DocumentNode:
    _caller(info).demand(acl.CREATE)
    payload = serializers.DocumentCreateInput(data=_payload(input))
    payload.is_valid(raise_exception=True)
    created = document_create(**payload.validated_data)
    return DocumentNode.of(serializers.DOCUMENT.of(created), with_etag=True)


def update_document(
    info: Info[GraphQLCaller, None], id: strawberry.ID, input: DocumentUpdateInput, if_match: str | None = None
) -> DocumentNode:
    document_id = _document_id(id)
    _caller(info).demand(acl.UPDATE, pk=document_id)
    expected = expected_version_of(if_match)
    payload = serializers.DocumentUpdateInput(data=_payload(input), partial=True)
    payload.is_valid(raise_exception=True)
    updated = document_update(document_id=document_id, changes=payload.validated_data, expected_version=expected)
    return DocumentNode.of(serializers.DOCUMENT.of(updated), with_etag=True)


def delete_document(info: Info[GraphQLCaller, None], id: strawberry.ID, if_match: str | None = None) -> strawberry.ID:
    document_id = _document_id(id)
    _caller(info).demand(acl.DELETE, pk=document_id)
    document_delete(document_id=document_id, expected_version=expected_version_of(if_match))
    return strawberry.ID(str(document_id))


def restore_document(info: Info[GraphQLCaller, None], id: strawberry.ID, if_match: str | None = None) -> DocumentNode:
    document_id = _document_id(id)
    _caller(info).demand(acl.RESTORE, pk=document_id)
    restored = document_restore(document_id=document_id, expected_version=expected_version_of(if_match))
    return DocumentNode.of(serializers.DOCUMENT.of(restored), with_etag=True)


@strawberry.type
class Query:
    documents: DocumentConnection = strawberry.field(
        resolver=documents, description="One keyset page of the tenant's documents (deleted: its deleted ones)."
    )
    document: DocumentNode = strawberry.field(resolver=document, description="One document of the tenant.")


@strawberry.type
class Mutation:
    create_document: DocumentNode = strawberry.mutation(
        resolver=create_document, description="document_create, as POST /api/v1/documents/."
    )
    update_document: DocumentNode = strawberry.mutation(
        resolver=update_document,
        description="document_update, as PATCH /api/v1/documents/{id}/ (ifMatch: its If-Match).",
    )
    delete_document: strawberry.ID = strawberry.mutation(
        resolver=delete_document,
        description="document_delete (soft), as DELETE /api/v1/documents/{id}/; answers the id.",
    )
    restore_document: DocumentNode = strawberry.mutation(
        resolver=restore_document, description="document_restore, as POST /api/v1/documents/{id}/restore/."
    )


@strawberry.type(name="DocumentEvent", description="A document event, as the events socket's `event` frame carries it.")
class DocumentEventNode:
    id: strawberry.ID
    type: str = strawberry.field(description="document.created, document.updated, document.deleted...")
    version: int
    occurred_at: Instant
    document_id: strawberry.ID
    payload: JSON
    actor: str | None
    request_id: str | None

    @classmethod
    def of(cls, event: Mapping[str, Any]) -> DocumentEventNode:
        return cls(
            id=strawberry.ID(str(event["id"])),
            type=str(event["type"]),
            version=int(event["version"]),
            occurred_at=instant(datetime.datetime.fromisoformat(str(event["occurred_at"]))),
            document_id=strawberry.ID(str(event["aggregate_id"])),
            payload=event["payload"],
            actor=event.get("actor"),
            request_id=event.get("request_id"),
        )


async def document_events(info: Info[SocketCaller, None]) -> AsyncIterator[DocumentEventNode]:
    # Not a generator itself: the ACL is demanded when the client subscribes (an `error`), not at the first event.
    events = info.context.listen(DOCUMENTS)
    return _nodes(events)


async def _nodes(events: AsyncIterator[Mapping[str, Any]]) -> AsyncIterator[DocumentEventNode]:
    async for event in events:
        yield DocumentEventNode.of(event)


@strawberry.type
class Subscription:
    document_events: AsyncIterator[DocumentEventNode] = strawberry.subscription(
        resolver=document_events,
        description="The tenant's document events this token may read (documents.{id}.read), as they happen.",
    )
