"""The queues Celery declares: every work queue dead-letters, named by this process's settings."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.processes import ROOT, clean_env

SCRIPT = """
import json, django
django.setup()
from project.celery import app
from apps.events.topology import topology
routed = app.amqp.router.route({}, "apps.events.deliver")["queue"]
print(json.dumps({
    "queues": {q.name: [q.exchange.name, q.exchange.type, q.routing_key, q.durable, q.queue_arguments]
               for q in app.conf.task_queues},
    "routed": [routed.name, routed.queue_arguments],
    "topology": [topology().events_queue.name, topology().events_queue.queue_arguments],
}))
"""


def test_celery_declares_the_task_and_event_queues_dead_lettering_to_the_configured_exchange() -> None:
    """Loaded when Celery first reads its configuration (settings import no app code to build them)."""
    env = clean_env(
        DJANGO_SETTINGS_MODULE="project.settings",
        CELERY_TASK_DEFAULT_QUEUE="t-work",
        EVENTS_QUEUE="t-events",
        EVENTS_DEAD_LETTER_EXCHANGE="t-dlx",
        EVENTS_DEAD_LETTER_QUEUE="t-dlq",
    )
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    declared = json.loads(result.stdout.splitlines()[-1])
    dead_lettering = {"x-dead-letter-exchange": "t-dlx", "x-dead-letter-routing-key": "t-dlq"}
    assert declared["queues"] == {
        "t-work": ["t-work", "direct", "t-work", True, dead_lettering],
        "t-events": ["t-events", "direct", "t-events", True, dead_lettering],
    }
    # The deliver task goes to the events queue Celery declared, the one the relay declares too.
    assert declared["routed"] == ["t-events", dead_lettering]
    assert declared["topology"] == ["t-events", dead_lettering]
