"""factory-boy factories for the models tests create.

Create with `FolderFactory.create(...)` (or `.build()`, `.create_batch(n)`): factory-boy types those by
the model of `DjangoModelFactory[Folder]`, while the bare call `FolderFactory()` goes through an untyped
metaclass `__call__` that mypy cannot see through.
"""

from __future__ import annotations

import uuid

import factory

from apps.documents.models import Document
from tests.testapp.models import Comment, Folder, Label, Note, Pin, Plain, Retention

TENANT_A = uuid.UUID("aaaaaaaa-0000-4000-8000-000000000001")
TENANT_B = uuid.UUID("bbbbbbbb-0000-4000-8000-000000000002")


class FolderFactory(factory.django.DjangoModelFactory[Folder]):
    class Meta:
        model = Folder

    name = factory.Sequence(lambda n: f"folder-{n}")
    tenant_id = TENANT_A


class NoteFactory(factory.django.DjangoModelFactory[Note]):
    class Meta:
        model = Note

    folder = factory.SubFactory(FolderFactory)
    text = factory.Sequence(lambda n: f"note {n}")


class CommentFactory(factory.django.DjangoModelFactory[Comment]):
    class Meta:
        model = Comment

    note = factory.SubFactory(NoteFactory)
    body = "a comment"


class LabelFactory(factory.django.DjangoModelFactory[Label]):
    class Meta:
        model = Label

    name = factory.Sequence(lambda n: f"label-{n}")


class RetentionFactory(factory.django.DjangoModelFactory[Retention]):
    class Meta:
        model = Retention

    folder = factory.SubFactory(FolderFactory)


class PinFactory(factory.django.DjangoModelFactory[Pin]):
    class Meta:
        model = Pin

    folder = factory.SubFactory(FolderFactory)


class PlainFactory(factory.django.DjangoModelFactory[Plain]):
    class Meta:
        model = Plain

    value = 1


class DocumentFactory(factory.django.DjangoModelFactory[Document]):
    """A live document of TENANT_A; pass `tenant_id=TENANT_B` for the other tenant's."""

    class Meta:
        model = Document

    title = factory.Sequence(lambda n: f"document-{n}")
    body = "a body"
    tags = factory.LazyFunction(list)
    tenant_id = TENANT_A
