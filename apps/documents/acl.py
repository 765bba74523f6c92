"""The ACLs of documents, named once: every entry point that checks them (REST views, real-time stream) uses these.

A template's `{pk}` is the document's id (`fill_required_acl`).
"""

from __future__ import annotations

__all__ = ["CREATE", "DELETE", "EVENTS", "LIST", "LIST_DELETED", "READ", "RESTORE", "UPDATE", "UPSERT"]

LIST = "documents.read"
# Listing deleted documents is its own right: whoever may read documents may not see what was removed.
LIST_DELETED = "documents.deleted.read"
# Subscribing to the documents' events (/ws/v1/events/); each event also needs READ of its document.
EVENTS = "documents.events.read"
CREATE = "documents.create"
UPSERT = "documents.upsert"
READ = "documents.{pk}.read"
UPDATE = "documents.{pk}.update"
DELETE = "documents.{pk}.delete"
RESTORE = "documents.{pk}.restore"
