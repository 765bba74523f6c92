"""Admin test helpers: documents with attachments, staff users with permissions and tenant groups."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connections, transaction
from django.test import Client

from apps.core.admin import TENANT_GROUP_PREFIX
from apps.core.context import acting_as
from apps.documents.models import Attachment, Document
from tests.races import wait_until_a_backend_waits_for_a_lock

ACME = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
GLOBEX = uuid.UUID("00000000-0000-4000-8000-0000000000b2")
PASSWORD = "correct horse battery staple"

MakeDocument = Callable[..., Document]
MakeStaff = Callable[..., User]


def create_document(title: str, *, tenant: uuid.UUID = ACME, attachments: int = 2) -> Document:
    with acting_as("script:seed"):
        document = Document.objects.create(title=title, body=f"Body of {title}", tenant_id=tenant)
        Attachment.objects.bulk_create(
            Attachment(document=document, filename=f"{title}-{n}.pdf", size_bytes=1000 + n) for n in range(attachments)
        )
    return document


def create_staff(
    username: str,
    *,
    perms: Iterable[str] = (),
    tenants: Iterable[uuid.UUID | str] = (ACME,),
    superuser: bool = False,
) -> User:
    """A staff user holding `perms` (`"documents.restore_document"`) and `tenant:<uuid>` groups."""
    if superuser:
        return User.objects.create_superuser(username, f"{username}@example.com", PASSWORD)
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    for tenant in tenants:
        group, _ = Group.objects.get_or_create(name=f"{TENANT_GROUP_PREFIX}{tenant}")
        user.groups.add(group)
    return user


VIEW_AND_DELETE = [
    "documents.view_document",
    "documents.change_document",
    "documents.delete_document",
    "documents.view_attachment",
    "documents.change_attachment",
    "documents.delete_attachment",
]
RESTORE = ["documents.restore_document", "documents.restore_attachment"]
HARD_DELETE = ["documents.hard_delete_document", "documents.hard_delete_attachment"]


@pytest.fixture
def make_document() -> MakeDocument:
    return create_document


@pytest.fixture
def make_staff() -> MakeStaff:
    return create_staff


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@contextmanager
def rival_transaction(
    actor: str, hold: Callable[[], object], then: Callable[[], object] = lambda: None
) -> Iterator[None]:
    """A rival's transaction on another thread (PostgreSQL): it runs `hold`, waits until the
    body of the `with` blocks on the rival's locks, runs `then` and commits.

    The body runs between the rival's reads and its commit, for real, without sleeps.
    """
    holding = threading.Event()
    failures: list[BaseException] = []

    def rival() -> None:
        try:
            with transaction.atomic(), acting_as(actor):
                hold()
                holding.set()
                wait_until_a_backend_waits_for_a_lock()
                then()
        except BaseException as error:  # re-raised in the test thread
            failures.append(error)
            holding.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=rival)
    thread.start()
    assert holding.wait(10), "the rival never took its locks"
    try:
        yield
    finally:
        thread.join(10)
    if failures:
        raise failures[0]
