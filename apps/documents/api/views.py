"""The documents API, v1: thin views that validate input, call a service or selector, render output.

| method and path | ACL | does |
|---|---|---|
| GET /api/v1/documents/ | documents.read | cursor page (or `?offset=` page), filters, `?ordering=` |
| GET /api/v1/documents/?deleted=true | documents.deleted.read | the same, of the tenant's deleted documents |
| POST /api/v1/documents/ | documents.create | `document_create` |
| GET /api/v1/documents/{pk}/ | documents.{pk}.read | `document_detail` (cached) |
| PATCH /api/v1/documents/{pk}/ | documents.{pk}.update | `document_update` |
| DELETE /api/v1/documents/{pk}/ | documents.{pk}.delete | `document_delete` (soft) |
| POST /api/v1/documents/{pk}/restore/ | documents.{pk}.restore | `document_restore` |
| POST /api/v1/documents/bulk-upsert/ | documents.upsert | `document_bulk_upsert` |

Single-document responses carry the ETag of their body's row version; PATCH, DELETE and
restore honour If-Match (`apps.core.api.preconditions`, docs/api.md).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, PolymorphicProxySerializer, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accent_auth.permissions import HasRequiredAcl
from apps.core.api.preconditions import conditional_read, expected_version, with_etag
from apps.core.api.schema import problem_responses
from apps.core.errors import InvalidInput
from apps.core.pagination import MAX_PAGE_SIZE
from apps.documents import acl
from apps.documents.api.serializers import (
    DOCUMENT,
    DocumentCreateInput,
    DocumentOffsetPageOutput,
    DocumentOutput,
    DocumentPageOutput,
    DocumentUpdateInput,
    DocumentUpsertInput,
    UpsertOutput,
)
from apps.documents.filters import DocumentFilter
from apps.documents.repositories import ORDERING_FIELDS
from apps.documents.selectors import document_detail, document_list, document_offset_page
from apps.documents.services import (
    document_bulk_upsert,
    document_create,
    document_delete,
    document_restore,
    document_update,
)

__all__ = ["DocumentBulkUpsertApi", "DocumentCollectionApi", "DocumentDetailApi", "DocumentRestoreApi"]

MAX_OFFSET = 1_000_000_000
# The list's filters are not here: `ApiAutoSchema` documents the view's `filterset_class`.
LIST_PARAMETERS = [
    OpenApiParameter("cursor", OpenApiTypes.STR, description="Opaque cursor from next_cursor / previous_cursor."),
    OpenApiParameter(
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
        description=f"Page size, 1 to {MAX_PAGE_SIZE} (default 50).",
    ),
    OpenApiParameter(
        "offset",
        {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET},
        description="Offset pagination instead of cursors: the answer is an offset page.",
    ),
    OpenApiParameter("total", OpenApiTypes.BOOL, description="With offset: include the total count."),
    OpenApiParameter(
        "ordering", OpenApiTypes.STR, description=f"One of {', '.join(ORDERING_FIELDS)}, '-' for descending."
    ),
    OpenApiParameter(
        "deleted", OpenApiTypes.BOOL, description="true: the deleted documents (ACL documents.deleted.read)."
    ),
]
# Optimistic concurrency (SPEC wave 2): an ETag on each single-resource answer, If-Match on writes to one.
ETAG_HEADER = OpenApiParameter(
    "ETag",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    response=[200, 201],
    description="The document's version (strong; send it back in If-Match).",
)
IF_MATCH_HEADER = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Apply only if the document's ETag is still this one (else 412).",
)
LOCATION_HEADER = OpenApiParameter(
    "Location", OpenApiTypes.URI, OpenApiParameter.HEADER, response=[201], description="The new document's URL."
)
DOCUMENT_PAGE = PolymorphicProxySerializer(
    component_name="DocumentPage",
    serializers=[DocumentPageOutput, DocumentOffsetPageOutput],
    resource_type_field_name=None,
)


def _int_param(request: Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if not minimum <= value <= maximum:
        raise InvalidInput(
            f"{name} must be a whole number from {minimum} to {maximum}.", errors={name: [f"Got {raw!r}."]}
        )
    return value


def _page_url(request: Request, **changes: str) -> str:
    params = {key: value for key, value in request.query_params.items() if key not in {"cursor", "offset"}}
    params.update(changes)
    return request.build_absolute_uri(f"{request.path}?{urlencode(params)}")


def _document_response(document: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A single document as written: its body and the ETag of that body's row version."""
    body = DOCUMENT.of(document)
    return with_etag(Response(body, status=status, headers=headers), body)


_TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no", ""})


def _lists_deleted(request: Request) -> bool:
    """`?deleted=true`: the tenant's deleted documents (restore candidates) instead of the live ones."""
    raw = request.query_params.get("deleted", "").strip().lower()
    if raw not in _TRUE | _FALSE:
        raise InvalidInput("deleted must be true or false.", errors={"deleted": [f"Got {raw!r}."]})
    return raw in _TRUE


class DocumentCollectionApi(APIView):
    permission_classes = [HasRequiredAcl]
    # The list's filters: the selector validates them, `ApiAutoSchema` documents them.
    filterset_class = DocumentFilter

    @property
    def required_acl(self) -> dict[str, str]:
        try:
            listing = acl.LIST_DELETED if _lists_deleted(self.request) else acl.LIST
        except InvalidInput:
            listing = acl.LIST  # the view answers the 400 once the caller may list at all
        return {"GET": listing, "POST": acl.CREATE}

    @extend_schema(parameters=LIST_PARAMETERS, responses={200: DOCUMENT_PAGE}, operation_id="documents_list")
    def get(self, request: Request) -> Response:
        limit = _int_param(request, "limit", default=50, minimum=1, maximum=MAX_PAGE_SIZE)
        deleted = _lists_deleted(request)
        query = request.query_params
        filters = {name: query[name] for name in DocumentFilter.base_filters if name in query}
        ordering = query.get("ordering") or None
        if "offset" in query:
            offset = _int_param(request, "offset", default=0, minimum=0, maximum=MAX_OFFSET)
            with_total = query.get("total", "").strip().lower() in _TRUE
            offset_page = document_offset_page(
                filters=filters, ordering=ordering, offset=offset, limit=limit, with_total=with_total, deleted=deleted
            )
            return Response(
                {
                    "results": orjson.Fragment(offset_page.results),  # pre-rendered JSON, spliced in by the renderer
                    "offset": offset_page.offset,
                    "limit": offset_page.limit,
                    "total": offset_page.total,
                    "next": _page_url(request, offset=str(offset + limit)) if offset_page.has_next else None,
                }
            )
        page = document_list(
            filters=filters, ordering=ordering, cursor=query.get("cursor") or None, limit=limit, deleted=deleted
        )
        next_cursor, previous_cursor = page.next_cursor, page.previous_cursor
        return Response(
            {
                "results": orjson.Fragment(page.results),
                "next": _page_url(request, cursor=next_cursor) if next_cursor else None,
                "previous": _page_url(request, cursor=previous_cursor) if previous_cursor else None,
                "next_cursor": next_cursor,
                "previous_cursor": previous_cursor,
            }
        )

    @extend_schema(
        request=DocumentCreateInput,
        parameters=[ETAG_HEADER, LOCATION_HEADER],
        responses={201: DocumentOutput, **problem_responses(409)},
        operation_id="documents_create",
    )
    def post(self, request: Request) -> Response:
        payload = DocumentCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        document = document_create(**payload.validated_data)
        location = request.build_absolute_uri(f"{request.path}{document.pk}/")
        return _document_response(document, status=201, headers={"Location": location})


class DocumentDetailApi(APIView):
    permission_classes = [HasRequiredAcl]
    required_acl = {"GET": acl.READ, "PATCH": acl.UPDATE, "DELETE": acl.DELETE}

    @extend_schema(parameters=[ETAG_HEADER], responses={200: DocumentOutput}, operation_id="documents_retrieve")
    def get(self, request: Request, pk: str) -> Response:
        return conditional_read(request, document_detail(pk))

    @extend_schema(
        request=DocumentUpdateInput,
        parameters=[ETAG_HEADER, IF_MATCH_HEADER],
        responses={200: DocumentOutput, **problem_responses(409, 412, 428)},
        operation_id="documents_partial_update",
    )
    def patch(self, request: Request, pk: str) -> Response:
        expected = expected_version(request)
        payload = DocumentUpdateInput(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        document = document_update(document_id=pk, changes=payload.validated_data, expected_version=expected)
        return _document_response(document)

    @extend_schema(
        parameters=[IF_MATCH_HEADER],
        responses={204: None, **problem_responses(412, 428)},
        operation_id="documents_destroy",
    )
    def delete(self, request: Request, pk: str) -> Response:
        document_delete(document_id=pk, expected_version=expected_version(request))
        return Response(status=204)


class DocumentRestoreApi(APIView):
    permission_classes = [HasRequiredAcl]
    required_acl = {"POST": acl.RESTORE}

    @extend_schema(
        request=None,
        parameters=[ETAG_HEADER, IF_MATCH_HEADER],
        responses={200: DocumentOutput, **problem_responses(409, 412, 428)},
        operation_id="documents_restore",
    )
    def post(self, request: Request, pk: str) -> Response:
        return _document_response(document_restore(document_id=pk, expected_version=expected_version(request)))


class DocumentBulkUpsertApi(APIView):
    permission_classes = [HasRequiredAcl]
    required_acl = {"POST": acl.UPSERT}

    @extend_schema(
        request=DocumentUpsertInput,
        responses={200: UpsertOutput, **problem_responses(409)},
        operation_id="documents_bulk_upsert",
    )
    def post(self, request: Request) -> Response:
        payload = DocumentUpsertInput(data=request.data)
        payload.is_valid(raise_exception=True)
        result = document_bulk_upsert(rows=payload.validated_data["documents"])
        return Response({"created": result.created, "updated": result.updated})
