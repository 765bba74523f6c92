"""Outbox and relay throughput (events/s), and commit -> handler latency, on real PostgreSQL and RabbitMQ.

    .venv/bin/python bench/events_bench.py                   # 5 000 events per case
    .venv/bin/python bench/events_bench.py --events 50       # toy size (the smoke test)
    .venv/bin/python bench/events_bench.py --cases latency   # only commit -> handler latency

Creates its own database (`bench_events_<random>`, dropped at the end) and its own
queues (`bench-events-<random>`, deleted at the end). The throughput cases consume
nothing: they are what the relay pushes into RabbitMQ with publisher confirms and rows
marked sent, beside the same message body published by kombu, confirmed one by one
(the baseline) and unconfirmed (the ceiling). The latency case runs the real pipeline:
`manage.py events_relay` (woken by NOTIFY) and a `celery worker` process whose handler
records, per event, the time from the publishing commit, at a paced 500 events/s; each
latency is split at the row's `sent_at` (the relay's part, then the broker's and worker's).
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing.queues import Queue as ProcessQueue
from multiprocessing.synchronize import Event as ProcessEvent
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

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


def write_outbox_many(count: int, per_call: int = 1000) -> float:
    from django.db import transaction

    from apps.events import publish_many

    def write() -> None:
        for start in range(0, count, per_call):
            items = [(n, {"n": n, "title": "x" * 64}) for n in range(start, min(count, start + per_call))]
            with transaction.atomic():
                publish_many("bench.happened", aggregate="bench", items=items)

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


def _subprocess_env(suffix: str, latency_file: str) -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    parts = urlsplit(os.environ["DATABASE_URL"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DATABASE_URL=urlunsplit(parts._replace(path="/" + str(connection.settings_dict["NAME"]))),
        DJANGO_SETTINGS_MODULE="project.settings",
        CELERY_BROKER_URL=str(settings.CELERY_BROKER_URL),
        EVENTS_QUEUE=str(settings.EVENTS_QUEUE),
        EVENTS_DEAD_LETTER_EXCHANGE=str(settings.EVENTS_DEAD_LETTER_EXCHANGE),
        EVENTS_DEAD_LETTER_QUEUE=str(settings.EVENTS_DEAD_LETTER_QUEUE),
        CELERY_TASK_DEFAULT_QUEUE=f"bench-tasks-{suffix}",
        EVENTS_RELAY_ON_COMMIT="false",
        EVENTS_BENCH_LATENCY_FILE=latency_file,
        PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "bench")]),
        LOG_LEVEL="WARNING",
    )
    return env


@contextmanager
def running(command: list[str], env: dict[str, str], ready: str | None = None) -> Iterator[subprocess.Popen[str]]:
    """A process of the pipeline; waits for `ready` in its output (at most 60 s), stops it at the end."""
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = threading.Event()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if os.environ.get("EVENTS_BENCH_DEBUG"):
                sys.stderr.write(f"[{command[2]}] {line}")
            if ready is not None and ready in line:
                seen.set()

    threading.Thread(target=pump, daemon=True).start()
    try:
        if ready is not None and not seen.wait(60):
            raise RuntimeError(f"{command[:4]} did not print {ready!r} within 60 s")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _worker_command(env: dict[str, str], suffix: str, pool: str, concurrency: int, prefetch: int) -> list[str]:
    """The `celery worker` of the events queue, loading the bench's handler."""
    worker = [sys.executable, "-m", "celery", "-A", "project", "worker", "-P", pool, "-c", str(concurrency)]
    worker += ["-Q", env["EVENTS_QUEUE"]]
    worker += ["--prefetch-multiplier", str(prefetch)]
    worker += ["--include", "events_bench_handlers", "-l", "INFO", "--without-gossip", "--without-mingle"]
    worker += ["--without-heartbeat", "-n", f"bench-{suffix}@%h"]
    return worker


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its children (a prefork pool's), from Linux's /proc."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    total = 0.0
    for process in [pid, *map(int, children)]:
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime
    return total


def _lines(path: Path) -> int:
    return path.read_text().count("\n") if path.exists() else 0


class Drain(NamedTuple):
    handled: int
    per_second: float
    cpu_ms: float  # the worker's CPU per event


def worker_drain(count: int, suffix: str, pool: str, concurrency: int, prefetch: int) -> Drain:
    """`count` events queued with no worker running, then a worker started: how fast it drains them, at what CPU.

    Timed from the first handled event (the worker's start-up is not counted) to the last.
    """
    from django.db import transaction

    from apps.events import publish
    from apps.events.relay import relay_outbox

    for start in range(0, count, 500):
        with transaction.atomic():
            for n in range(start, min(count, start + 500)):
                publish("bench.latency", aggregate="bench", aggregate_id=n, payload={"warmup": 0, "committed_at": 0.0})
    assert relay_outbox(batch_size=1000).sent == count
    with tempfile.TemporaryDirectory() as directory:
        latency_file = Path(directory) / "latency.txt"
        env = _subprocess_env(suffix, str(latency_file))
        with running(_worker_command(env, suffix, pool, concurrency, prefetch), env, ready="ready.") as worker:
            deadline = time.monotonic() + 120
            while (first := _lines(latency_file)) == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
            began, cpu_before = time.perf_counter(), _cpu_seconds(worker.pid)
            while (last := _lines(latency_file)) < count and time.monotonic() < deadline:
                time.sleep(0.05)
            elapsed, cpu = time.perf_counter() - began, _cpu_seconds(worker.pid) - cpu_before
    handled = last - first
    return Drain(last, handled / elapsed if elapsed else 0.0, 1000 * cpu / handled if handled else 0.0)


class Latency(NamedTuple):
    """One event of the latency case, in seconds from its publishing commit."""

    handled: float  # to its handler in the worker
    sent: float  # to the relay's `sent_at` (woken, claimed, published, confirmed; marked just after)


def commit_to_handler_latency(
    count: int,
    rate: float,
    suffix: str,
    pool: str = "threads",
    concurrency: int = 8,
    prefetch: int = 1,
) -> list[Latency]:
    """Each event's latency, `count` events paced at `rate`/s.

    Those handled within 60 s of the last commit (all of them when the worker keeps up).
    """
    from django.db import transaction

    from apps.events import publish
    from apps.events.models import OutboxEvent

    warmup = min(100, count)
    with tempfile.TemporaryDirectory() as directory:
        latency_file = str(Path(directory) / "latency.txt")
        env = _subprocess_env(suffix, latency_file)
        worker = _worker_command(env, suffix, pool, concurrency, prefetch)
        relay_loop = [sys.executable, "manage.py", "events_relay"]
        with running(relay_loop, env), running(worker, env, ready="ready."):
            time.sleep(1.0)  # the relay is listening
            started = time.perf_counter()
            for n in range(warmup + count):
                due = started + n / rate
                if (pause := due - time.perf_counter()) > 0:
                    time.sleep(pause)
                with transaction.atomic():
                    payload = {"warmup": int(n < warmup), "committed_at": time.time()}
                    publish("bench.latency", aggregate="bench", aggregate_id=n, payload=payload)
            published_at = time.monotonic()
            lines: list[str] = []
            while time.monotonic() < published_at + 60:  # a worker slower than the rate drains its backlog
                lines = Path(latency_file).read_text().splitlines() if Path(latency_file).exists() else []
                if len(lines) >= warmup + count:
                    break
                time.sleep(0.2)
    handled = {
        event_id: (float(seconds), float(at))
        for flag, seconds, at, event_id in (line.split() for line in lines)
        if flag == "0"
    }
    sent_at = {
        str(pk): sent.timestamp()
        for pk, sent in OutboxEvent.objects.filter(sent_at__isnull=False).values_list("id", "sent_at")
        if sent is not None
    }
    return [Latency(seconds, seconds - (at - sent_at[event_id])) for event_id, (seconds, at) in handled.items()]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def relay(batch_size: int) -> tuple[float, int]:
    from apps.events.relay import relay_outbox

    sent = 0

    def run() -> None:
        nonlocal sent
        sent = relay_outbox(batch_size=batch_size).sent

    return timed(run), sent


def _relay_in_child(batch_size: int, start: ProcessEvent, sent: ProcessQueue[int]) -> None:
    from apps.events.relay import relay_outbox

    start.wait()
    sent.put(relay_outbox(batch_size=batch_size).sent)


def relays_in_parallel(batch_size: int, relays: int) -> tuple[float, int]:
    """`relays` relay processes draining the same outbox at once (SKIP LOCKED shares the rows out)."""
    import multiprocessing

    from django.db import connections

    connections.close_all()  # each child opens its own
    context = multiprocessing.get_context("fork")
    start, sent = context.Event(), context.Queue()  # the children's: fork() hands them down
    children = [context.Process(target=_relay_in_child, args=(batch_size, start, sent)) for _ in range(relays)]
    for child in children:
        child.start()
    time.sleep(0.5)  # every child is waiting on the start event
    began = time.perf_counter()
    start.set()
    total = sum(sent.get(timeout=120) for _ in children)
    elapsed = time.perf_counter() - began
    for child in children:
        child.join()
    return elapsed, total


def reset_outbox() -> None:
    from django.utils import timezone

    from apps.events.models import OutboxEvent, OutboxStatus

    OutboxEvent.objects.update(status=OutboxStatus.PENDING, sent_at=None, attempts=0, available_at=timezone.now())


def reset_outbox_table() -> None:
    from apps.events.models import OutboxEvent

    OutboxEvent.objects.all().delete()


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
    parser.add_argument(
        "--cases",
        choices=("all", "throughput", "drain", "latency"),
        default="all",
        help="which part to run (default: all)",
    )
    parser.add_argument("--rate", type=float, default=500.0, help="events/s of the latency case")
    parser.add_argument("--pool", default="threads", help="the latency case's worker pool (solo, threads, prefork)")
    parser.add_argument("--concurrency", type=int, default=8, help="the latency case's worker concurrency")
    parser.add_argument("--prefetch", type=int, default=1, help="the latency case's worker prefetch multiplier")
    parser.add_argument(
        "--latency-events", type=int, default=2500, help="events of the latency case (at most --events)"
    )
    args = parser.parse_args()
    suffix = uuid.uuid4().hex[:8]
    setup(args.database_url, args.broker_url, suffix)

    from django.db import connection

    assert connection.vendor == "postgresql", "the relay is measured on PostgreSQL (SKIP LOCKED)"
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        if args.cases in ("all", "throughput"):
            throughput(args.events)
        worker = f"{args.pool} pool, concurrency {args.concurrency}, prefetch {args.prefetch}"
        if args.cases in ("all", "drain"):
            wanted = min(args.events, args.latency_events)
            drain = worker_drain(wanted, suffix, args.pool, args.concurrency, args.prefetch)
            reset_outbox_table()
            print_drain(drain, wanted, args.rate, worker)
        if args.cases in ("all", "latency"):
            wanted = min(args.events, args.latency_events)
            latencies = commit_to_handler_latency(wanted, args.rate, suffix, args.pool, args.concurrency, args.prefetch)
            print_latency(latencies, wanted, args.rate, worker)
    finally:
        delete_declared()
        connection.creation.destroy_test_db(connection.settings_dict["NAME"], verbosity=0)


def throughput(count: int) -> None:
    write = write_outbox(count)
    rows: list[tuple[str, float]] = [("outbox write: publish() in transactions of 100", count / write)]
    reset_outbox_table()
    write_many = write_outbox_many(count)
    rows.append(("outbox write: publish_many() of 1000 per transaction", count / write_many))
    raw_confirmed = count / raw_publish(count, confirm=True)
    raw_unconfirmed = count / raw_publish(count, confirm=False)
    purge_queue()
    for batch_size in (50, 200, 1000, 2000):
        reset_outbox()
        elapsed, sent = relay(batch_size)
        assert sent == count, f"relay sent {sent} of {count}"
        rows.append((f"relay, batch {batch_size} (confirmed publish, rows marked sent)", count / elapsed))
        purge_queue()
    for batch_size in (1000, 2000):
        reset_outbox()
        elapsed, sent = relays_in_parallel(batch_size, 2)
        assert sent == count, f"two relays sent {sent} of {count}"
        rows.append((f"2 relays in parallel (processes), batch {batch_size} each", count / elapsed))
        purge_queue()
    reset_outbox_table()
    print(f"{count} events per case, PostgreSQL + RabbitMQ on this machine")
    print(f"{'case':<62} {'events/s':>10} {'ratio':>7} {'x unconf.':>9}")
    print(f"{'baseline: kombu publish, confirmed':<62} {raw_confirmed:>10.0f} {1.0:>7.2f} {'':>9}")
    ceiling = raw_unconfirmed / raw_confirmed
    print(f"{'kombu publish, unconfirmed':<62} {raw_unconfirmed:>10.0f} {ceiling:>7.2f} {1.0:>9.2f}")
    for name, rate in rows:
        print(f"{name:<62} {rate:>10.0f} {rate / raw_confirmed:>7.2f} {rate / raw_unconfirmed:>9.2f}")
    print()


def print_drain(drain: Drain, wanted: int, rate: float, worker: str) -> None:
    print(f"worker drain: {wanted} events queued, then the worker started ({worker})")
    print(f"{'handled':<10} {drain.handled:>8} of {wanted} within 120 s")
    print(f"{'events/s':<10} {drain.per_second:>8.0f}")
    cores = drain.cpu_ms * rate / 1000
    print(f"{'CPU/event':<10} {drain.cpu_ms:>8.2f} ms   (at {rate:g} events/s the worker alone uses {cores:.2f} cores)")
    print()


def print_latency(latencies: list[Latency], wanted: int, rate: float, worker: str) -> None:
    print(f"commit -> worker handler latency at {rate:g} events/s, real worker ({worker})")
    print(f"{'handled':<10} {len(latencies):>8} of {wanted} within 60 s of the last commit")
    if not latencies:
        return
    handled = [latency.handled for latency in latencies]
    sent = [latency.sent for latency in latencies]
    after = [latency.handled - latency.sent for latency in latencies]
    print(
        f"{'ms':<10} {'handled':>8}    {'sent':>8}    {'after':>8}   "
        "(commit -> handler, -> relay's sent_at, sent_at -> handler)"
    )
    for name, share in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0)):
        figures = "    ".join(f"{percentile(values, share) * 1000:>8.1f}" for values in (handled, sent, after))
        print(f"{name:<10} {figures}")
    print(f"{'mean':<10} {statistics.fmean(handled) * 1000:>8.1f} ms")


if __name__ == "__main__":
    main()
