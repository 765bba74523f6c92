"""The examples of docs/admin.md run."""

from __future__ import annotations

import uuid

import pytest
from django.test import RequestFactory

from apps.core.admin import DeletionStateFilter, SoftDeleteModelAdmin
from apps.documents.models import Document
from tests.docs_snippets import python_blocks, run_blocks

pytestmark = pytest.mark.django_db


def test_the_admin_page_examples_run() -> None:
    assert len(python_blocks("admin.md")) == 3
    namespace = run_blocks("admin.md")
    registered = namespace["site"]._registry[Document]
    assert isinstance(registered, SoftDeleteModelAdmin)
    assert DeletionStateFilter in registered.get_list_filter(RequestFactory().get("/"))
    assert namespace["tenants"].ids == {uuid.UUID(namespace["ACME"])}
    assert [str(document) for document in namespace["attachment_form"].base_fields["document"].queryset] == [
        "Acme plan"
    ]
    assert not namespace["duplicate"].is_valid()
