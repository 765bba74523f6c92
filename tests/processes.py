"""Start real processes of the service (manage.py commands, gunicorn) for tests."""

from __future__ import annotations

import collections
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import redis

ROOT = Path(__file__).resolve().parent.parent
SERVICE_VARIABLES = (
    "DATABASE_URL",
    "DATABASE_DIRECT_URL",
    "DATABASE_TRANSACTION_POOLING",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "ACCENT_AUTH_URL",
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**overrides: str) -> dict[str, str]:
    """The test process's environment without service URLs, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES and not k.startswith("DJANGO_")}
    env.update(overrides)
    return env


def manage(*args: str, env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=dict(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def copy_checkout(target: Path) -> Path:
    """The checkout's files as git sees them (tracked and untracked, not ignored) under `target`, with this .venv.

    For a test that changes the service's own files (a generated app, a `.env`): the copy imports
    its own code when run with `cwd=` the copy, and reuses this checkout's installed dependencies.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the worktree is listed too
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(ROOT / ".venv")
    return target


@contextmanager
def process_group(command: list[str], *, env: Mapping[str, str], cwd: Path = ROOT) -> Iterator[subprocess.Popen[str]]:
    """`command` as the leader of its own process group (e.g. `make run`: make, the dev server and the
    stand-in), output piped as text; the whole group stopped at the end (SIGTERM, then SIGKILL)."""
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield process
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@contextmanager
def running_server(
    command: list[str],
    *,
    port: int,
    env: Mapping[str, str],
    ready_path: str,
    cwd: Path = ROOT,
    startup_timeout: float = 90,
) -> Iterator[str]:
    """Run `command` in `cwd` (the checkout) until the block ends; yields its base URL once `ready_path` answers.

    `startup_timeout` bounds only a server that never answers: `make run` migrates a fresh
    database first, which on a loaded CI machine took longer than 30 s.

    Its output is read all along (the last lines are kept for the error of a server that
    exits): a server writing to a pipe nobody reads blocks once the pipe is full, mid-request.
    """
    process = subprocess.Popen(
        command, env=dict(env), cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output: collections.deque[str] = collections.deque(maxlen=500)
    reader = threading.Thread(target=lambda: output.extend(process.stdout or ()), daemon=True)
    reader.start()
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                reader.join(timeout=5)
                raise RuntimeError(f"server exited with {process.returncode}:\n{''.join(output)}")
            try:
                httpx.get(base_url + ready_path, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base_url
    finally:
        stop_process(process, timeout=10)


def stop_process(process: subprocess.Popen[Any], *, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for_log_event(lines: queue.Queue[str], event: str, marker: str, timeout: float = 60) -> dict[str, Any]:
    """The first JSON log line of `lines` (a worker's output) with this `event` and `marker`."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        seen.append(line)
        if line.startswith("{"):
            parsed = json.loads(line)
            if parsed.get("event") == event and parsed.get("marker") == marker:
                return dict(parsed)
    raise AssertionError(f"no {event!r} line within {timeout}s; the process said:\n{''.join(seen[-40:])}")


class TcpProxy:
    """A TCP forwarder on its own port: stopping it is a dependency outage as the service sees one.

    The shared services are never stopped; the service under test is pointed at the proxy,
    and `stop()` refuses new connections and cuts the open ones, `stall()` makes it a black
    hole (nothing is forwarded any more, new connections are accepted and never answered),
    `start()` brings it back (cutting the connections that lost bytes while stalled).
    """

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._stalled = False

    def url(self, url: str) -> str:
        """`url` (the target's) with its host and port replaced by this proxy's."""
        parts = urlsplit(url)
        credentials = parts.netloc.rpartition("@")[0]
        netloc = f"{credentials}@127.0.0.1:{self.port}" if credentials else f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=netloc))

    def stall(self) -> None:
        if self._listener is None:
            self.start()
        self._stalled = True  # open connections stay open, their bytes are dropped from now on

    def start(self) -> TcpProxy:
        if self._listener is not None:  # stalled: answer again
            self._stalled = False
            self._cut_open()
            return self
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._listener is not None:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the other thread
            self._listener.close()
            self._listener = None
        self._stalled = False
        self._cut_open()

    def _cut_open(self) -> None:
        with self._lock:
            for connection in self._open:
                with suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # stopped
            if self._stalled:
                with self._lock:
                    self._open.add(client)  # held open, never answered
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            for end in (client, upstream):  # forwarded as it comes: no Nagle delay on small frames
                end.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._open.update({client, upstream})
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                if not self._stalled:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with suppress(OSError):
                    end.close()


class WorkerOutput(queue.Queue[str]):
    """A worker's output lines as they come, and its process (a test may kill it)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        super().__init__()
        self.process = process


@contextmanager
def celery_worker(
    *, queue_name: str, include: str, env: Mapping[str, str], name: str | None = None
) -> Iterator[WorkerOutput]:
    """A real `celery -A project worker` (solo pool: one process) on `queue_name`; yields its output lines."""
    command = [sys.executable, "-m", "celery", "-A", "project", "worker", "-P", "solo", "-Q", queue_name]
    command += ["--include", include, "-l", "INFO", "--without-gossip", "--without-mingle"]
    if name:
        command += ["--without-heartbeat", "-n", name]
    process = subprocess.Popen(
        command, cwd=ROOT, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines = WorkerOutput(process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    try:
        yield lines
    finally:
        stop_process(process)


@contextmanager
def server_database(directory: Path, name: str) -> Iterator[str]:
    """The URL of a fresh, empty database for a server process under test; dropped afterwards.

    PostgreSQL beside the test database when the run has one (`DATABASE_URL`), else a SQLite
    file in `directory`. The caller migrates it (`manage("migrate", ...)`).
    """
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield f"sqlite:///{directory / f'{name}.sqlite3'}"
        return
    database = f"{os.environ.get('DATABASE_TEST_NAME', 'test')}_{name}_{uuid.uuid4().hex[:6]}"
    base, _, _ = url.rpartition("/")
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    try:
        yield f"{base}/{database}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


class OwnRedisCluster:
    """A private Redis Cluster (three masters, no replicas) on free loopback ports, its files in `directory`."""

    def __init__(self, directory: Path, masters: int = 3) -> None:
        self.directory = directory
        self.ports = [_free_cluster_port() for _ in range(masters)]
        self.url = "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)
        self._processes: list[subprocess.Popen[bytes]] = []

    def start(self) -> None:
        for port in self.ports:
            command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"]
            command += ["--cluster-config-file", str(self.directory / f"nodes-{port}.conf")]
            command += ["--dir", str(self.directory)]
            command += ["--save", "", "--appendonly", "no", "--daemonize", "no"]
            self._processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for port in self.ports:
            _wait_for_ping(port)
        nodes = [f"127.0.0.1:{port}" for port in self.ports]
        subprocess.run(
            ["redis-cli", "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            infos = [redis.Redis(port=port).cluster("info") for port in self.ports]
            if all(info.get("cluster_state") == "ok" for info in infos):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the cluster on {self.ports} did not reach cluster_state:ok")

    def stop(self) -> None:
        for process in self._processes:
            process.terminate()
        for process in self._processes:
            process.wait(timeout=10)
        self._processes = []


def _free_cluster_port() -> int:
    """A free port whose cluster bus port (+10000) is free and valid too."""
    while True:
        port = free_port()
        if port + 10000 > 65535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def _wait_for_ping(port: int) -> None:
    # A server still starting on a loaded machine may accept and answer late: TimeoutError is not a
    # ConnectionError in redis-py, and both mean "not yet".
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with redis.Redis(port=port, socket_timeout=5, socket_connect_timeout=5) as client:
                client.ping()
            return
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"redis-server did not answer on {port}")
