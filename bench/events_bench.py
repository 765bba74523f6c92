"""Relay throughput (events/s) on real PostgreSQL and RabbitMQ, against raw kombu publishing in the same run.

    .venv/bin/python bench/events_bench.py                   # 5 000 events per case
    .venv/bin/python bench/events_bench.py --events 50       # toy size (the smoke test)

Creates its own database (`bench_events_<random>`, dropped at the end) and its own
queues (`bench-events-<random>`, deleted at the end); nothing is consumed: the figures
are what the relay can push into RabbitMQ with publisher confirms, one row at a time,
against the same messages published by kombu directly (the ceiling).
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def setup(database_url: str, broker_url: str, suffix: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ["DATABASE_TEST_NAME"] = f"bench_events_{suffix}"
    os.environ["CELERY_BROKER_URL"] = broker_url
    os.environ["EVENTS_QUEUE"] = f"bench-events-{suffix}"
    os.environ["EVENTS_DEAD_LETTER_EXCHANGE"] = f"bench-dlx-{suffix}"
    os.environ["EVENTS_DEAD_LETTER_QUEUE"] = f"bench-dlq-{suffix}"
    os.environ["EVENTS_RELAY_ON_COMMIT"] = "false"  # the relay is measured on its own
    os.environ["DJANGO_SETTINGS_MODULE"] = "project.settings"
    os.environ.setdefault("LOG_LEVEL", "ERROR")
    import django

    django.setup()


def timed(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def write_outbox(count: int, per_transaction: int = 100) -> float:
    from django.db import transaction

    from apps.events import publish

    def write() -> None:
        for start in range(0, count, per_transaction):
            with transaction.atomic():
                for n in range(start, min(count, start + per_transaction)):
                    publish("bench.happened", aggregate="bench", aggregate_id=n, payload={"n": n, "title": "x" * 64})

    return timed(write)


def raw_publish(count: int, *, confirm: bool) -> float:
    """The same message body, published by kombu straight to the queue: the broker's ceiling."""
    from django.conf import settings
    from kombu import Connection

    from apps.events.models import OutboxEvent
    from apps.events.topology import topology

    body = OutboxEvent.objects.first().to_event().to_message()  # type: ignore[union-attr]
    plan = topology()
    options = {"confirm_publish": confirm}
    with Connection(settings.CELERY_BROKER_URL, transport_options=options) as connection:
        producer = connection.Producer(serializer="json")
        for queue in plan.declarations:
            queue(connection.default_channel).declare()

        def publish_all() -> None:
            for _ in range(count):
                producer.publish(
                    [[body], {}, {}], exchange=plan.events_queue.exchange, routing_key=plan.events_queue.routing_key
                )

        return timed(publish_all)


def relay(batch_size: int) -> tuple[float, int]:
    from apps.events.relay import relay_outbox

    sent = 0

    def run() -> None:
        nonlocal sent
        sent = relay_outbox(batch_size=batch_size).sent

    return timed(run), sent


def reset_outbox() -> None:
    from django.utils import timezone

    from apps.events.models import OutboxEvent, OutboxStatus

    OutboxEvent.objects.update(status=OutboxStatus.PENDING, sent_at=None, attempts=0, available_at=timezone.now())


def purge_queue() -> None:
    from django.conf import settings
    from kombu import Connection

    from tests.broker_channel import amqp_channel

    with Connection(settings.CELERY_BROKER_URL) as connection:
        amqp_channel(connection.default_channel).queue_purge(settings.EVENTS_QUEUE)  # this run's own queue


def delete_declared() -> None:
    from django.conf import settings
    from kombu import Connection

    from tests.broker_channel import amqp_channel

    with Connection(settings.CELERY_BROKER_URL) as connection:
        channel = amqp_channel(connection.channel())
        channel.queue_delete(settings.EVENTS_QUEUE)
        channel.queue_delete(settings.EVENTS_DEAD_LETTER_QUEUE)
        channel.exchange_delete(settings.EVENTS_QUEUE)
        channel.exchange_delete(settings.EVENTS_DEAD_LETTER_EXCHANGE)
        channel.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    )
    parser.add_argument(
        "--broker-url", default=os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    )
    args = parser.parse_args()
    setup(args.database_url, args.broker_url, uuid.uuid4().hex[:8])

    from django.db import connection

    assert connection.vendor == "postgresql", "the relay is measured on PostgreSQL (SKIP LOCKED)"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        count = args.events
        write = write_outbox(count)
        rows: list[tuple[str, float]] = [("outbox write: publish() in transactions of 100", count / write)]
        raw_confirmed = count / raw_publish(count, confirm=True)
        raw_unconfirmed = count / raw_publish(count, confirm=False)
        purge_queue()
        for batch_size in (50, 200, 1000):
            reset_outbox()
            elapsed, sent = relay(batch_size)
            assert sent == count, f"relay sent {sent} of {count}"
            rows.append((f"relay, batch {batch_size} (confirmed publish, rows marked sent)", count / elapsed))
            purge_queue()
        print(f"{count} events per case, PostgreSQL + RabbitMQ on this machine")
        print(f"{'case':<62} {'events/s':>10} {'ratio':>7}")
        print(f"{'baseline: kombu publish, confirmed':<62} {raw_confirmed:>10.0f} {1.0:>7.2f}")
        print(f"{'kombu publish, unconfirmed':<62} {raw_unconfirmed:>10.0f} {raw_unconfirmed / raw_confirmed:>7.2f}")
        for name, rate in rows:
            print(f"{name:<62} {rate:>10.0f} {rate / raw_confirmed:>7.2f}")
    finally:
        delete_declared()
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
