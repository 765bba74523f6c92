"""Reads of documents, cached with tags and scoped by tenant.

Tags: a detail entry carries `document:<id>` and `documents:details` (`DETAIL_TAG`); every
list or offset page carries `documents:lists` (`LIST_TAG`).

Selectors return plain data in the API's one output shape (`DOCUMENT`, `DELETED_DOCUMENT`,
declared by the output serializers), never model instances: they are what the cache stores,
and they keep the API's N+1-free shape in one place. A list page's rows come as one JSON array
in bytes (`JsonPage`, `JsonOffsetPage`): one value to cache instead of 50 dicts, the same bytes
on every database.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from apps.caching import cached
from apps.core.errors import InvalidInput, NotFound
from apps.core.json_rows import JsonOffsetPage, JsonPage, OutputShape, paginate_cursor_json, paginate_offset_json
from apps.core.pagination import Ordering
from apps.documents.api.serializers import DELETED_DOCUMENT, DOCUMENT
from apps.documents.filters import DocumentFilter
from apps.documents.models import Document
from apps.documents.repositories import ORDERING_FIELDS, DocumentRepository

__all__ = [
    "DETAIL_TAG",
    "LIST_TAG",
    "document_detail",
    "document_list",
    "document_offset_page",
    "document_tag",
    "document_tags",
]

DELETED_ORDERING_FIELDS = (*ORDERING_FIELDS, "deleted_at")
# Tags: every list page carries LIST_TAG; a detail entry carries its own tag and DETAIL_TAG.
LIST_TAG = "documents:lists"
DETAIL_TAG = "documents:details"


def document_tag(document_id: uuid.UUID | str) -> str:
    return f"document:{document_id}"


def document_tags(document_id: uuid.UUID | str) -> list[str]:
    """The tags of one cached detail read."""
    return [document_tag(document_id), DETAIL_TAG]


def _document_id(raw: uuid.UUID | str) -> uuid.UUID:
    try:
        return raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
    except ValueError:
        raise NotFound(f"No document with id {raw}.") from None


@cached(key_prefix="document", ttl=300, tags=document_tags)
def document_detail(document_id: uuid.UUID | str) -> dict[str, Any]:
    queryset = DocumentRepository().queryset().filter(pk=_document_id(document_id))
    raw = DOCUMENT.values(queryset).first()
    if raw is None:
        raise NotFound(f"No document with id {document_id}.")
    return DOCUMENT.row(queryset, raw)


def _visible(*, deleted: bool) -> QuerySet[Document]:
    """Live documents of the caller's tenant, or (`deleted`) its soft-deleted ones: the restore candidates."""
    repository = DocumentRepository()
    return repository.deleted_queryset() if deleted else repository.queryset()


def _filtered(queryset: QuerySet[Document], filters: Mapping[str, Any]) -> QuerySet[Document]:
    if not filters:  # no filter form to build and validate for nothing (docs/benchmarks.md)
        return queryset
    filterset = DocumentFilter(dict(filters), queryset=queryset)
    if not filterset.is_valid():
        raise InvalidInput.from_form_errors("The filters are invalid; see errors.", filterset.errors)
    filtered: QuerySet[Document] = filterset.qs
    return filtered


def _shape(*, deleted: bool) -> OutputShape:
    """A list item: a deleted document also says when and by whom it was deleted."""
    return DELETED_DOCUMENT if deleted else DOCUMENT


def _ordering(raw: str | None, *, deleted: bool) -> Ordering:
    if deleted:
        return Ordering.parse(raw or "-deleted_at", allowed=DELETED_ORDERING_FIELDS)
    return Ordering.parse(raw or "-created_at", allowed=ORDERING_FIELDS)


# "documents-page": entries hold a JsonPage of the output serializer's shape; the entries of
# older shapes ("documents", "documents-json") are simply never read. Deletes and restores
# invalidate LIST_TAG, so cached pages of deleted documents stay true as well.
@cached(key_prefix="documents-page", ttl=60, tags=lambda **_: [LIST_TAG])
def document_list(
    *,
    filters: Mapping[str, str],
    ordering: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
    deleted: bool = False,
) -> JsonPage:
    """One cursor page: `results` a JSON array of `DOCUMENT` (or `DELETED_DOCUMENT`) objects, and the cursors.

    `deleted`: the tenant's soft-deleted documents instead of its live ones (default order `-deleted_at`).
    """
    queryset = _filtered(_visible(deleted=deleted), filters)
    try:
        return paginate_cursor_json(
            queryset,
            shape=_shape(deleted=deleted),
            ordering=_ordering(ordering, deleted=deleted),
            cursor=cursor,
            limit=limit,
        )
    except ValidationError as error:
        raise InvalidInput("The cursor is invalid.", errors={"cursor": error.messages}) from None


@cached(key_prefix="documents-offset-page", ttl=60, tags=lambda **_: [LIST_TAG])
def document_offset_page(
    *,
    filters: Mapping[str, str],
    ordering: str | None = None,
    offset: int = 0,
    limit: int = 50,
    with_total: bool = False,
    deleted: bool = False,
) -> JsonOffsetPage:
    """One offset page, filtered, ordered, rendered and cached as `document_list`'s pages are."""
    queryset = _filtered(_visible(deleted=deleted), filters)
    ordered = queryset.order_by(*_ordering(ordering, deleted=deleted).with_pk())
    return paginate_offset_json(
        ordered, shape=_shape(deleted=deleted), offset=offset, limit=limit, with_total=with_total
    )
