"""Input and output shapes of the documents API. Validation only: no business logic here.

`DocumentOutput` is the one declaration of a document's JSON: the OpenAPI schema reads it,
and `DOCUMENT` (an `OutputShape` of it) is what the selectors read and render for list pages,
offset pages, the detail and the cache, and what the writes answer with. The deleted list's
items are `DeletedDocumentOutput`: the same fields, and when and by whom.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from apps.core.api.fields import StrictCharField
from apps.core.json_rows import OutputShape
from apps.documents.models import DocumentStatus

__all__ = [
    "DELETED_DOCUMENT",
    "DOCUMENT",
    "DeletedDocumentOutput",
    "DocumentCreateInput",
    "DocumentOffsetPageOutput",
    "DocumentOutput",
    "DocumentPageOutput",
    "DocumentUpdateInput",
    "DocumentUpsertInput",
    "UpsertOutput",
]

MAX_TAGS = 20
MAX_UPSERT_ROWS = 1000


class _DocumentFields(serializers.Serializer[Any]):
    title = StrictCharField(max_length=200, trim_whitespace=True)
    body = StrictCharField(allow_blank=True, required=False, max_length=100_000, trim_whitespace=False)
    status = serializers.ChoiceField(choices=DocumentStatus.choices, required=False)
    tags = serializers.ListField(
        child=StrictCharField(max_length=50), max_length=MAX_TAGS, required=False, allow_empty=True
    )


class DocumentCreateInput(_DocumentFields):
    pass


class DocumentUpdateInput(_DocumentFields):
    """Every field optional (PATCH)."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        unknown = set(self.initial_data) - set(self.fields) if isinstance(self.initial_data, dict) else set()
        if unknown:
            raise serializers.ValidationError({name: ["Unknown or read-only field."] for name in sorted(unknown)})
        return attrs


class DocumentUpsertRow(_DocumentFields):
    """One row of a bulk upsert (its own name in the schema)."""


class DocumentUpsertInput(serializers.Serializer[Any]):
    documents = serializers.ListField(child=DocumentUpsertRow(), min_length=1, max_length=MAX_UPSERT_ROWS)


class DocumentOutput(serializers.Serializer[Any]):
    """What the API returns for a document."""

    id = serializers.UUIDField()
    title = serializers.CharField()
    body = serializers.CharField()
    status = serializers.ChoiceField(choices=DocumentStatus.choices)
    tags = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    created_by = serializers.CharField()
    updated_by = serializers.CharField()


class DeletedDocumentOutput(DocumentOutput):
    """A soft-deleted document, as the deleted list (`?deleted=true`) returns it."""

    deleted_at = serializers.DateTimeField()
    deleted_by = serializers.CharField()


DOCUMENT = OutputShape(DocumentOutput)
DELETED_DOCUMENT = OutputShape(DeletedDocumentOutput)
# A list's items: live documents, or (`?deleted=true`) deleted ones; never both in one page.
_LIST_ITEM = PolymorphicProxySerializer(
    component_name="DocumentListItem",
    serializers=[DocumentOutput, DeletedDocumentOutput],
    resource_type_field_name=None,
    many=True,
)


class DocumentPageOutput(serializers.Serializer[Any]):
    """A cursor page (the default)."""

    results = _LIST_ITEM
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    next_cursor = serializers.CharField(allow_null=True)
    previous_cursor = serializers.CharField(allow_null=True)


class DocumentOffsetPageOutput(serializers.Serializer[Any]):
    """An offset page (`?offset=`); `total` only with `?total=true`."""

    results = _LIST_ITEM
    offset = serializers.IntegerField(min_value=0)
    limit = serializers.IntegerField(min_value=1)
    total = serializers.IntegerField(allow_null=True, min_value=0)
    next = serializers.URLField(allow_null=True)


class UpsertOutput(serializers.Serializer[Any]):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
