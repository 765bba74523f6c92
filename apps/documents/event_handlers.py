"""What the documents events do when a worker receives them: drop the cache entries they made stale.

The service already invalidates in its own process; these handlers run in the Celery
worker against the shared Redis, so every process of every deployment stops serving
the stale entry (and a web process whose local invalidation failed is covered too).
"""

from __future__ import annotations

from apps.documents.selectors import DETAIL_TAG, LIST_TAG, document_tag
from apps.events import Event, invalidate_tags_on


def _document_and_lists(event: Event) -> list[str]:
    return [document_tag(event.aggregate_id), LIST_TAG]


for _event_type in ("document.created", "document.updated", "document.deleted", "document.restored"):
    invalidate_tags_on(_event_type, _document_and_lists)

invalidate_tags_on("documents.bulk_upserted", lambda event: [LIST_TAG, DETAIL_TAG])
