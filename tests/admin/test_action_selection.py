"""An admin action posted with a malformed id (`_selected_action=not-a-uuid`) changes nothing: no server error."""

from __future__ import annotations

import pytest
from django.urls import reverse

from apps.core.context import acting_as
from apps.documents.models import Document
from tests.admin.conftest import HARD_DELETE, RESTORE, VIEW_AND_DELETE, client_for, create_document, create_staff

pytestmark = pytest.mark.django_db

INVALID = "Nothing was changed: the selection holds an invalid {} id."


@pytest.mark.parametrize("action", ["delete_selected", "restore_selected", "hard_delete_selected"])
@pytest.mark.parametrize("confirm", [True, False], ids=["confirmed", "confirmation-page"])
def test_a_document_action_with_a_malformed_id_changes_nothing(action: str, confirm: bool) -> None:
    client = client_for(create_staff("ann", perms=VIEW_AND_DELETE + RESTORE + HARD_DELETE))
    alive, gone = create_document("Alive"), create_document("Gone")
    with acting_as("admin:someone"):
        gone.delete()
    data = {"action": action, "_selected_action": [str(alive.pk), str(gone.pk), "not-a-uuid"]}
    response = client.post(
        reverse("admin:documents_document_changelist") + "?state=all", data | ({"post": "yes"} if confirm else {})
    )
    assert response.status_code == 302
    assert INVALID.format("document") in client.get(response["Location"]).content.decode()
    assert Document.objects.filter(pk=alive.pk).exists()
    assert Document.deleted_objects.filter(pk=gone.pk).exists()


def test_the_outbox_replay_with_a_malformed_id_changes_nothing() -> None:
    client = client_for(create_staff("root", superuser=True))
    url = reverse("admin:events_outboxevent_changelist")
    response = client.post(url, {"action": "replay_dead", "_selected_action": ["not-a-uuid"]}, follow=True)
    assert response.status_code == 200
    assert INVALID.format("outbox event") in response.content.decode()
