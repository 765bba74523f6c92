"""Event fan-out to open WebSockets: commit → frame latency at 1 and at N sockets, and memory per idle socket.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379/12 \\
    CELERY_BROKER_URL=amqp://guest:guest@127.0.0.1:5672// .venv/bin/python bench/realtime_bench.py
    ... bench/realtime_bench.py --sockets 20 --events 3      # toy size

The whole production path, each part a real process: this process writes documents through the
service (`document_create` in a transaction: the outbox row, the on-commit relay to RabbitMQ), a
Celery worker handles each event (`apps.realtime.fanout.fan_out` → Redis pub/sub), one uvicorn
process holds the sockets and writes the frames, and this process's asyncio clients read them.
Its own database, queues, cache and channel prefixes; the stand-in Accent-Auth.

Cases, in one run:
- baseline: one subscribed socket, the same writes (the pipeline's own cost);
- N subscribed sockets (default 1,000), the same writes: every socket receives every event;
- the channel-layer leg alone at N sockets: `group_send` from this process → frame (no outbox, no worker).
Latency is measured per (event, socket) from the commit (or the send) to the client reading the
frame; clients and server share this 2-core machine with PostgreSQL, Redis, RabbitMQ and the worker.
"""

# ruff: noqa: PLC0415 - Django and the apps are imported after the environment is set

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.own_database import bench_django  # noqa: E402 - after the path is set

ACME = uuid.UUID("00000000-0000-4000-8000-00000000000a")  # alice's tenant in the stand-in


@dataclass(frozen=True)
class Case:
    name: str
    latencies: list[float]  # seconds, one per (event, socket)
    expected: int  # (event, socket) pairs that should have arrived

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _server_env(standin_url: str) -> dict[str, str]:
    from django.conf import settings
    from django.db import connection

    parts = urlsplit(os.environ["DATABASE_URL"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}
    env.update(
        DATABASE_URL=urlunsplit(parts._replace(path="/" + str(connection.settings_dict["NAME"]))),
        DJANGO_SETTINGS_MODULE="project.settings",
        ACCENT_AUTH_URL=standin_url,
        CELERY_BROKER_URL=str(settings.CELERY_BROKER_URL),
        LOG_LEVEL="WARNING",
    )
    return env


@contextmanager
def process(command: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    from tests.processes import stop_process

    child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield child
    finally:
        stop_process(child)


def wait_for_http(url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


class Clients:
    """N subscribed sockets; every event frame's arrival time, by aggregate id."""

    def __init__(self) -> None:
        self.sockets: list[Any] = []
        self.readers: list[asyncio.Task[None]] = []
        self.arrivals: dict[str, list[float]] = {}

    async def open(self, url: str, token: str, count: int) -> None:
        import orjson
        from websockets.asyncio.client import connect

        async def one() -> None:
            socket = await connect(url, additional_headers={"X-Auth-Token": token}, open_timeout=60)
            assert orjson.loads(await socket.recv())["type"] == "authenticated"
            await socket.send(orjson.dumps({"type": "subscribe", "stream": "documents"}).decode())
            assert orjson.loads(await socket.recv())["type"] == "subscribed"
            self.sockets.append(socket)
            self.readers.append(asyncio.create_task(self._read(socket)))

        for start in range(0, count, 50):
            await asyncio.gather(*(one() for _ in range(min(50, count - start))))

    async def _read(self, socket: Any) -> None:
        import orjson

        async for text in socket:
            arrived = time.time()
            frame = orjson.loads(text)
            if frame.get("type") == "event":
                self.arrivals.setdefault(frame["event"]["aggregate_id"], []).append(arrived)

    async def close(self) -> None:
        for task in self.readers:
            task.cancel()
        await asyncio.gather(*(socket.close() for socket in self.sockets), return_exceptions=True)
        self.sockets, self.readers = [], []


def write_document(title: str) -> tuple[str, float]:
    """One document through the service; (its id, the commit time)."""
    from apps.core.context import acting_as, in_tenant
    from apps.documents.services import document_create

    with in_tenant(ACME), acting_as("bench"):
        document = document_create(title=title)
    return str(document.pk), time.time()


def send_direct(_: int) -> tuple[str, float]:
    """The channel-layer leg alone: what the worker's fan_out sends, from here; (aggregate id, send time)."""
    from datetime import UTC, datetime

    from apps.core.uuid7 import uuid7
    from apps.events.event import Event
    from apps.realtime import fanout

    aggregate_id = str(uuid7())
    event = Event(uuid7(), "document.created", 1, datetime.now(UTC), "document", aggregate_id, {}, "bench", ACME)
    sent = time.time()
    fanout._send(fanout._messages(event))
    return aggregate_id, sent


async def measure(
    clients: Clients, name: str, events: int, interval: float, sockets: int, *, direct: bool = False
) -> Case:
    from django.db import connections

    def write(n: int) -> tuple[str, float]:
        try:
            return send_direct(n) if direct else write_document(f"bench {uuid.uuid4()}")
        finally:
            connections.close_all()

    sent: dict[str, float] = {}
    for n in range(events):
        aggregate_id, at = await asyncio.to_thread(write, n)
        sent[aggregate_id] = at
        await asyncio.sleep(interval)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and sum(len(clients.arrivals.get(key, ())) for key in sent) < events * sockets:
        await asyncio.sleep(0.1)
    latencies = [arrived - sent[key] for key in sent for arrived in clients.arrivals.get(key, ())]
    return Case(name, latencies, events * sockets)


async def scenario(url: str, token: str, server_pid: int, args: argparse.Namespace) -> tuple[list[Case], float]:
    cases: list[Case] = []
    one = Clients()
    await one.open(url, token, 1)
    await measure(one, "warm-up", 3, args.interval, 1)
    one.arrivals.clear()
    cases.append(
        await measure(
            one, "1 socket, write → commit → relay → worker → frame (baseline)", args.events, args.interval, 1
        )
    )
    await one.close()
    await asyncio.sleep(1)
    before = rss_bytes(server_pid)
    many = Clients()
    await many.open(url, token, args.sockets)
    await asyncio.sleep(2)
    per_socket = (rss_bytes(server_pid) - before) / args.sockets
    name = f"{args.sockets:,} sockets, write → commit → relay → worker → frame"
    cases.append(await measure(many, name, args.events, args.interval, args.sockets))
    many.arrivals.clear()
    name = f"{args.sockets:,} sockets, channel layer only: group_send → frame"
    cases.append(await measure(many, name, args.events, args.interval, args.sockets, direct=True))
    await many.close()
    return cases, per_socket


def format_table(cases: list[Case], per_socket: float) -> str:
    baseline = cases[0].quantile(0.99)
    lines = [
        "| case | frames received | p50 ms | p99 ms | max ms | p99 / baseline p99 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case in cases:
        lines.append(
            f"| {case.name} | {len(case.latencies):,} of {case.expected:,} | {case.quantile(0.5) * 1e3:.1f} "
            f"| {case.quantile(0.99) * 1e3:.1f} | {max(case.latencies, default=float('nan')) * 1e3:.1f} "
            f"| {case.quantile(0.99) / baseline:.2f} |"
        )
    lines.append("")
    lines.append(f"memory per idle subscribed socket (uvicorn RSS growth / sockets): {per_socket / 1024:.1f} KiB")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sockets", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20, help="writes per case")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between writes")
    args = parser.parse_args(argv)
    if not (os.environ.get("REDIS_URL") and os.environ.get("CELERY_BROKER_URL")):
        raise SystemExit("set REDIS_URL and CELERY_BROKER_URL: the fan-out crosses processes")
    suffix = uuid.uuid4().hex[:8]
    names = {  # this run's own queues and exchanges on the broker (delete_declared removes them)
        "EVENTS_QUEUE": f"bench-rt-events-{suffix}",
        "EVENTS_DEAD_LETTER_EXCHANGE": f"bench-rt-dlx-{suffix}",
        "EVENTS_DEAD_LETTER_QUEUE": f"bench-rt-dlq-{suffix}",
        "CELERY_TASK_DEFAULT_QUEUE": f"bench-rt-tasks-{suffix}",
    }
    os.environ.update(
        names,
        CACHE_KEY_PREFIX=f"bench-rt-{suffix}",
        CHANNEL_LAYER_PREFIX=f"bench-rt-{suffix}:ws",
        RATE_LIMIT_ENABLED="false",
    )
    with bench_django("realtime", keep=("REDIS_URL", "CELERY_BROKER_URL")):
        import httpx

        from bench.events_bench import delete_declared  # this run's queues, named in its settings
        from devtools.accent_auth_standin import StandInAccentAuth

        standin = StandInAccentAuth().start()
        try:
            env = _server_env(standin.url)
            port = _free_port()
            server = [sys.executable, "-m", "uvicorn", "project.asgi:application", "--port", str(port)]
            server += ["--host", "127.0.0.1", "--no-access-log", "--log-level", "warning"]
            worker = [sys.executable, "-m", "celery", "-A", "project", "worker", "-P", "threads", "-c", "4"]
            worker += ["-Q", env["EVENTS_QUEUE"], "-l", "WARNING", "--without-gossip", "--without-mingle"]
            with process(worker, env), process(server, env) as uvicorn:
                wait_for_http(f"http://127.0.0.1:{port}/health/live")
                time.sleep(3)  # the worker is consuming
                token = httpx.post(f"{standin.url}/token", auth=("alice", "alice"), json={"expiration": 3600})
                url = f"ws://127.0.0.1:{port}/ws/v1/events/"
                cases, per_socket = asyncio.run(scenario(url, token.json()["data"]["token"], uvicorn.pid, args))
        finally:
            standin.stop()
            delete_declared()
    load = os.getloadavg()[0]
    print(f"{args.events} writes per case, one every {args.interval} s; {os.cpu_count()} cores, load {load:.1f}")
    print(format_table(cases, per_socket))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
