"""A hostile hard delete: the server re-checks that every selected row is deleted, or deletes nothing at all."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.admin.models import DELETION, LogEntry
from django.urls import reverse

from apps.core.context import acting_as
from apps.core.models import AuditAction, AuditEvent
from apps.documents.models import Attachment, Document
from tests.admin.conftest import (
    GLOBEX,
    HARD_DELETE,
    VIEW_AND_DELETE,
    client_for,
    create_document,
    create_staff,
    rival_transaction,
)

CHANGELIST = "admin:documents_document_changelist"
REFUSED = "Nothing was deleted permanently"


def _soft_delete(*documents: Document) -> None:
    with acting_as("admin:someone"):
        for document in documents:
            document.delete()


def _purge(client: Any, ids: list[str], *, confirm: bool, state: str = "deleted", **extra: str) -> Any:
    data: dict[str, Any] = {"action": "hard_delete_selected", "_selected_action": ids, **extra}
    if confirm:
        data["post"] = "yes"
    return client.post(f"{reverse(CHANGELIST)}?state={state}", data, follow=True)


def _nothing_purged(*documents: Document) -> None:
    assert Document.all_objects.filter(pk__in=[d.pk for d in documents]).count() == len(documents)
    assert Attachment.all_objects.filter(document__in=documents).count() == 2 * len(documents)
    assert not LogEntry.objects.filter(action_flag=DELETION).exists()
    assert not AuditEvent.objects.filter(action=AuditAction.HARD_DELETE).exists()


@pytest.fixture
def purger() -> Any:
    return client_for(create_staff("ann", perms=VIEW_AND_DELETE + HARD_DELETE))


@pytest.mark.django_db
@pytest.mark.parametrize("state", ["deleted", "alive", "all"])
@pytest.mark.parametrize("confirm", [True, False], ids=["confirmed", "confirmation-page"])
def test_a_crafted_selection_with_a_live_row_purges_nothing_and_says_why(
    purger: Any, state: str, confirm: bool
) -> None:
    alive, gone = create_document("Alive"), create_document("Gone")
    _soft_delete(gone)

    response = _purge(purger, [str(gone.pk), str(alive.pk)], confirm=confirm, state=state)
    page = response.content.decode()
    assert response.status_code == 200
    assert f"{REFUSED}: 1 of the 2 selected documents is not deleted" in page
    assert "Yes, delete them permanently" not in page  # no confirmation page for a refused selection
    _nothing_purged(alive, gone)


@pytest.mark.django_db
def test_selecting_every_row_of_the_live_list_purges_nothing(purger: Any) -> None:
    alive, gone = create_document("Alive"), create_document("Gone")
    _soft_delete(gone)
    for spelling in ("1", "true", "on"):  # "all N rows": the posted ids are only the page's first ones
        response = _purge(purger, [str(gone.pk)], confirm=True, state="all", select_across=spelling)
        assert REFUSED in response.content.decode()
    _purge(purger, [], confirm=True, state="all", select_across="yes")  # Django runs no action without ids
    _nothing_purged(alive, gone)


@pytest.mark.django_db
def test_a_selected_id_of_another_tenant_or_of_no_row_purges_nothing(purger: Any) -> None:
    own, foreign = create_document("Own"), create_document("Foreign", tenant=GLOBEX)
    _soft_delete(own, foreign)
    missing = "00000000-0000-7000-8000-000000000000"
    for stranger in (str(foreign.pk), missing):
        response = _purge(purger, [str(own.pk), stranger], confirm=True)
        assert f"{REFUSED}: 1 of the 2 selected documents is not deleted or does not exist" in response.content.decode()
    response = _purge(purger, [str(own.pk), str(foreign.pk), missing], confirm=True)
    assert f"{REFUSED}: 2 of the 3 selected documents are not deleted or do not exist" in response.content.decode()
    _nothing_purged(own, foreign)


@pytest.mark.django_db
def test_the_object_page_refuses_to_purge_a_live_row(purger: Any) -> None:
    alive = create_document("Alive")
    url = reverse("admin:documents_document_hard_delete", args=[alive.pk])
    for response in (purger.get(url, follow=True), purger.post(url, {"post": "yes"}, follow=True)):
        assert "Yes, delete them permanently" not in response.content.decode()
        assert f"{REFUSED}: 1 of the 1 selected documents is not deleted" in response.content.decode()
    _nothing_purged(alive)


@pytest.mark.django_db
def test_the_hard_delete_permission_is_still_required() -> None:
    client = client_for(create_staff("bob", perms=VIEW_AND_DELETE))
    gone = create_document("Gone")
    _soft_delete(gone)
    _purge(client, [str(gone.pk)], confirm=True)
    _nothing_purged(gone)


@pytest.mark.django_db(transaction=True)
def test_a_row_restored_while_the_purge_waits_for_it_is_not_purged(postgres: None) -> None:
    """A restore commits between the purge's check and its DELETE: the purge must see it and refuse."""
    purger = client_for(create_staff("ann", perms=VIEW_AND_DELETE + HARD_DELETE))
    gone = create_document("Gone")
    _soft_delete(gone)
    hold = Document.all_objects.select_for_update().filter(pk=gone.pk).get
    with rival_transaction("admin:rival", hold=hold, then=Document.all_objects.filter(pk=gone.pk).restore):
        response = _purge(purger, [str(gone.pk)], confirm=True)
    assert REFUSED in response.content.decode()
    assert Document.objects.filter(pk=gone.pk).exists()
    assert Attachment.objects.filter(document=gone).count() == 2
