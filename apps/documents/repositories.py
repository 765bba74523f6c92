"""Data access for documents: the core repository with the fields it searches and orders by."""

from __future__ import annotations

from apps.core.repository import BaseRepository
from apps.documents.models import Document

__all__ = ["ORDERING_FIELDS", "DocumentRepository"]

ORDERING_FIELDS = ("created_at", "updated_at", "title")


class DocumentRepository(BaseRepository[Document]):
    model = Document
    search_fields = ("title", "body")
    default_ordering = ("-created_at",)
