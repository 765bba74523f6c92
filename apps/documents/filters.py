"""Query-string filters for the document list (django-filter): the one declaration of them.

The selector validates a request's filters with `DocumentFilter`, the view passes it the
query parameters this class names, and the OpenAPI schema lists them from it (`help_text`
is each parameter's description).
"""

from __future__ import annotations

import datetime
from typing import Any

import django_filters
from django import forms
from django.db import connection
from django.db.models import QuerySet
from django_filters.fields import IsoDateTimeField

from apps.documents.models import Document, DocumentStatus
from apps.documents.repositories import DocumentRepository

__all__ = ["DocumentFilter"]


class _UtcDateTimeField(IsoDateTimeField):  # type: ignore[misc]  # django-filter ships no types
    """An ISO 8601 datetime that also exists in UTC (0001-01-01T00:00+01:00 does not), given to the query in UTC.

    In UTC because PostgreSQL takes offsets up to ±15:59 only, and Python up to ±23:59:
    `+20:00` is a valid instant that PostgreSQL would refuse to parse (a 500).
    """

    def clean(self, value: Any) -> Any:
        cleaned = super().clean(value)
        if cleaned is None:
            return None
        try:
            return cleaned.astimezone(datetime.UTC)
        except OverflowError:
            raise forms.ValidationError("This date and time is out of range.") from None


class _UtcDateTimeFilter(django_filters.IsoDateTimeFilter):  # type: ignore[misc]
    field_class = _UtcDateTimeField


class DocumentFilter(django_filters.FilterSet):  # type: ignore[misc]  # django-filter ships no types
    status = django_filters.ChoiceFilter(choices=DocumentStatus.choices, help_text="Documents in this status.")
    tag = django_filters.CharFilter(method="filter_tag", max_length=50, help_text="Documents with this tag.")
    created_after = _UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after; ISO 8601, must exist in UTC."
    )
    created_before = _UtcDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before; ISO 8601, must exist in UTC."
    )
    q = django_filters.CharFilter(
        method="filter_search", max_length=200, help_text="Full-text search in title and body."
    )

    class Meta:
        model = Document
        fields = ["status"]

    def filter_tag(self, queryset: QuerySet[Document], name: str, value: str) -> QuerySet[Document]:
        if connection.vendor == "postgresql":
            return queryset.filter(tags__contains=[value])
        # SQLite has no JSON containment: match the quoted element in the stored JSON text.
        return queryset.filter(tags__icontains=f'"{value}"')

    def filter_search(self, queryset: QuerySet[Document], name: str, value: str) -> QuerySet[Document]:
        return DocumentRepository().search(value, queryset)
