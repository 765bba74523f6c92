"""What a change of a document means outside its table: its domain event, and the cached reads it makes stale.

Declared once; `apps.core` runs it on every write path (services, admin, scripts, bulk and
set-based writes), in the change's transaction. Attachments declare nothing: no cached read
or event shows them.
"""

from __future__ import annotations

from apps.core.audit import AuditRecord
from apps.core.models import AuditAction
from apps.core.side_effects import RowEvent, SideEffects, declare
from apps.documents.models import Document
from apps.documents.selectors import DETAIL_TAG, LIST_TAG, document_tag

__all__ = ["DOCUMENT_EFFECTS"]


def _created(row: AuditRecord) -> dict[str, object]:
    return {"title": row.new("title"), "status": row.new("status")}


def _updated(row: AuditRecord) -> dict[str, object]:
    return {"fields": sorted(row.changes)}


def _deleted(row: AuditRecord) -> dict[str, object]:
    return {"delete_batch": row.new("delete_batch")}


DOCUMENT_EFFECTS = SideEffects(
    aggregate="document",
    events={
        AuditAction.CREATE: RowEvent("document.created", _created),
        AuditAction.UPDATE: RowEvent("document.updated", _updated),
        AuditAction.SOFT_DELETE: RowEvent("document.deleted", _deleted),
        AuditAction.RESTORE: RowEvent("document.restored"),
    },
    upserted="documents.bulk_upserted",
    row_tags=lambda pk: [document_tag(pk)],
    tags=[LIST_TAG],  # any change can move a document into or out of any list page
    all_rows_tags=[DETAIL_TAG],
)

declare(Document, DOCUMENT_EFFECTS)
