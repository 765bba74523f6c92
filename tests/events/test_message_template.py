"""The relay's per-batch message template writes exactly the bytes Celery's own builder gives."""

from __future__ import annotations

import uuid

import pytest
from amqp.serialization import decode_properties_basic

from apps.core.context import RequestScope, acting_as, in_tenant, request_scope
from apps.events import publish
from apps.events.relay import _due, _MessageTemplate, task_message
from apps.events.topology import topology
from tests.events.handlers import RECORD


@pytest.mark.django_db
def test_the_template_message_is_byte_for_byte_celerys_protocol_2_message() -> None:
    publish(RECORD, aggregate="a", aggregate_id=1, payload={"n": 1, "text": "ünï"})
    with request_scope(RequestScope(request_id="req-42")), acting_as("user-7"), in_tenant(uuid.uuid4()):
        publish(RECORD, aggregate="a", aggregate_id=2, payload={"nested": {"list": [1, 2.5, None]}})
    rows = _due("default", None, 10)
    assert len(rows) == 2
    template = _MessageTemplate(topology())
    for row in rows:
        fast, reference = template.message(row), task_message(row, topology())
        assert fast == reference  # body, encoded properties (headers included), exchange, routing key
        properties, _ = decode_properties_basic(fast.properties, 0)
        headers = properties["application_headers"]
        assert headers["id"] == headers["root_id"] == properties["correlation_id"] == str(row.id)
        assert headers["event_type"] == RECORD
    context = decode_properties_basic(template.message(rows[1]).properties, 0)[0]["application_headers"]
    assert "req-42" in context.values()
    assert "user-7" in context.values()
