"""Fixtures that start or reach real things: backing services, server processes.

Tests that need a real service take one of the `*_url` fixtures below. In the
embedded run (no service URLs in the environment) such a test is skipped; with
`TEST_REQUIRE_SERVICES=1` (CI's real-service run) a missing service fails the test
instead, and any skip at all fails the session.
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
import subprocess
import sys
import time
import types
from collections.abc import Generator, Iterator
from typing import Any

import pytest
from django.db import connection
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.processes import OwnRedisCluster, TcpProxy

REQUIRE_SERVICES = os.environ.get("TEST_REQUIRE_SERVICES", "").lower() in {"1", "true", "yes"}


def _need(variable: str, what: str) -> str:
    value = os.environ.get(variable, "").strip()
    if value:
        return value
    if REQUIRE_SERVICES:
        pytest.fail(f"{what} is required in this run but {variable} is not set")
    pytest.skip(f"needs {what}: set {variable}")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """URL of the real Redis the suite may use (its test keys are namespaced and removed)."""
    return _need("REDIS_URL", "Redis")


@pytest.fixture(scope="session")
def broker_url() -> str:
    """URL of the real RabbitMQ broker."""
    return _need("CELERY_BROKER_URL", "RabbitMQ")


@pytest.fixture
def broker_proxy(broker_url: str) -> Iterator[TcpProxy]:
    """A TCP proxy to the real RabbitMQ that the test cuts (`stop()`) or black-holes (`stall()`)."""
    from kombu import Connection

    proxy = TcpProxy(("127.0.0.1", Connection(broker_url).port or 5672)).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def postgres(db: None) -> None:
    """Marks a test that proves PostgreSQL-only behaviour (EXPLAIN plans, ON CONFLICT)."""
    if connection.vendor != "postgresql":
        if REQUIRE_SERVICES:
            pytest.fail("PostgreSQL is required in this run but DATABASE_URL does not point at it")
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: SettingsWrapper) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _rate_limits_off(settings: SettingsWrapper) -> None:
    """The suite sends many requests from 127.0.0.1; tests of the limits turn them back on (tests/security)."""
    settings.RATE_LIMIT_ENABLED = False


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not REQUIRE_SERVICES:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    if reporter and skipped:
        reporter.write_line(f"TEST_REQUIRE_SERVICES=1: {len(skipped)} test(s) skipped; every test must run here")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# The `process` marker --------------------------------------------------------------------
# `make test-fast` runs `-m "not process"`. Nobody has to remember the marker: a test is
# marked at collection when its body or one of its fixtures reaches, through functions and
# classes of `tests`, something that starts an OS process (subprocess, multiprocessing,
# Playwright's browser). What that reading cannot see, wrappers of the process-starting
# functions see while the test runs: an unmarked test that starts a process fails and says so.

PROCESS_MARKER = "process"


PROCESS_STARTING_PACKAGES = frozenset({"subprocess", "multiprocessing", "playwright"})


def _starts_a_process(value: object) -> bool:
    module = value.__name__ if isinstance(value, types.ModuleType) else getattr(value, "__module__", None)
    return isinstance(module, str) and module.partition(".")[0] in PROCESS_STARTING_PACKAGES


def _reaches_a_process(value: object, seen: set[int]) -> bool:
    """`value` (a function or class of `tests`) names, at any depth of calls, a process starter."""
    if id(value) in seen:
        return False
    seen.add(id(value))
    value = inspect.unwrap(value) if callable(value) else value  # contextmanager, fixture definitions
    if inspect.isclass(value):
        if not value.__module__.startswith("tests"):
            return False
        return any(_reaches_a_process(member, seen) for member in vars(value).values() if inspect.isfunction(member))
    code = getattr(value, "__code__", None)
    if not isinstance(code, types.CodeType) or not getattr(value, "__module__", "").startswith("tests"):
        return False
    names = set(_names(code))
    if any(name.partition(".")[0] in PROCESS_STARTING_PACKAGES for name in names):  # `import subprocess` inside
        return True
    namespace: dict[str, Any] = getattr(value, "__globals__", {})
    return any(
        _starts_a_process(referenced) or _reaches_a_process(referenced, seen)
        for referenced in (namespace[name] for name in names if name in namespace)
    )


def _names(code: types.CodeType) -> Iterator[str]:
    """The global names a function's code (nested functions and lambdas included) refers to."""
    yield from code.co_names
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _names(constant)


def _fixture_function(item: pytest.Item, name: str) -> object:
    """The function of fixture `name` as `item` sees it: in its module, else the nearest conftest."""
    module = getattr(item, "module", None)
    packages = module.__name__.split(".")[:-1] if module is not None else []
    candidates = [module] + [
        sys.modules.get(".".join([*packages[:depth], "conftest"])) for depth in range(len(packages), 0, -1)
    ]
    for candidate in candidates:
        found = getattr(candidate, name, None)
        if found is not None:
            return found
    return None


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        seen: set[int] = set()
        own = [getattr(item, "function", None)]
        fixtures = [_fixture_function(item, name) for name in getattr(item, "fixturenames", ())]
        if any(_reaches_a_process(value, seen) for value in [*own, *fixtures] if value is not None):
            item.add_marker(PROCESS_MARKER)


_running: list[pytest.Item] = []  # the test being run, while it is
_started_unmarked: list[str] = []  # what it started although it is not marked


def _noting_starts(start: Any, event: str) -> Any:
    """`start` (a way to start an OS process), noting each call made by a test that is not marked `process`."""

    @functools.wraps(start)
    def starting(*arguments: Any, **keywords: Any) -> Any:
        if _running and _running[0].get_closest_marker(PROCESS_MARKER) is None:
            command = arguments[1] if event == "subprocess.Popen" and len(arguments) > 1 else keywords.get("args", "")
            _started_unmarked.append(f"{event} {command}".strip())
        return start(*arguments, **keywords)

    return starting


# Wrapped rather than watched by an audit hook: CPython 3.11 runs a Python audit hook inside
# `sys.settrace`, and a thread switch there makes another thread's `settrace` (coverage starts
# every thread with one) fail with "Cannot install a trace function while another trace
# function is being installed": the thread dies before its target runs (a broken Barrier in CI).
subprocess.Popen.__init__ = _noting_starts(subprocess.Popen.__init__, "subprocess.Popen")  # type: ignore[method-assign]
os.fork = _noting_starts(os.fork, "os.fork")
os.posix_spawn = _noting_starts(os.posix_spawn, "os.posix_spawn")
os.posix_spawnp = _noting_starts(os.posix_spawnp, "os.posix_spawnp")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _running[:] = [item]
    _started_unmarked.clear()
    try:
        return (yield)
    finally:
        _running.clear()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        _started_unmarked and report.when in {"call", "teardown"} and report.passed
    ):  # setup's starts are judged with the call
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} started an OS process but is not marked `process`, so `make test-fast` would run it: "
            f"add @pytest.mark.process (tests/conftest.py marks what it can see by itself). Started: "
            f"{'; '.join(_started_unmarked[:3])}"
        )
        _started_unmarked.clear()
    return report


class OwnRedisServer:
    """A private `redis-server` on a free port that a test may stop and start (never the shared one)."""

    def __init__(self) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import socket

        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not listen on {self.port}")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None


@pytest.fixture
def own_redis_server() -> Iterator[OwnRedisServer]:
    """A running private Redis (needs the `redis-server` binary) that the test can stop."""
    if shutil.which("redis-server") is None:
        if REQUIRE_SERVICES:
            pytest.fail("redis-server is required in this run")
        pytest.skip("needs the redis-server binary")
    server = OwnRedisServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def accent_auth_standin() -> Iterator[Any]:
    """The stand-in Accent-Auth (devtools.accent_auth_standin), served over real HTTP on a free port."""
    from devtools.accent_auth_standin import StandInAccentAuth

    server = StandInAccentAuth().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def accent_auth(accent_auth_standin: Any, settings: SettingsWrapper) -> Iterator[Any]:
    """Point ACCENT_AUTH_URL at the stand-in (healthy, counters at zero) for one test.

    `accent_auth.login("alice", expiration=60)` returns a fresh token over HTTP; what the
    tokens left in the cache is dropped afterwards (the suite may share a Redis).
    """
    import httpx

    from apps.accent_auth import token_cache

    issued: list[str] = []

    def login(username: str, *, expiration: int = 300) -> str:
        response = httpx.post(
            f"{accent_auth_standin.url}/token", auth=(username, username), json={"expiration": expiration}
        )
        response.raise_for_status()
        token = str(response.json()["data"]["token"])
        issued.append(token)
        return token

    accent_auth_standin.reset()
    settings.ACCENT_AUTH_URL = accent_auth_standin.url
    accent_auth_standin.login = login
    try:
        yield accent_auth_standin
    finally:
        accent_auth_standin.reset()
        for token in issued:
            token_cache.forget_token(token)


class StandbyUnavailable(RuntimeError):
    """The primary refused to be base-backed up (no replication access): nothing was started."""


class StreamingStandby:
    """A real PostgreSQL hot standby of the test run's primary, in a temporary directory.

    Made by `pg_basebackup` from the primary's host and port (so the primary must accept a
    replication connection from this host: a `replication` line in its `pg_hba.conf`), started
    with `postgres -D <dir> -c hot_standby=on` on a free port, as the `postgres` user when the
    suite runs as root (PostgreSQL refuses to run as root). Streaming, no replication slot: a
    slot left behind by a killed run would make the primary keep its WAL forever.
    """

    def __init__(self, *, host: str, port: int, user: str, bin_dir: str) -> None:
        import socket
        import tempfile

        self.primary: dict[str, str] = {"host": host, "port": str(port), "user": user}
        self.bin_dir = bin_dir
        self.directory = tempfile.mkdtemp(prefix="standby-")
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self._process: subprocess.Popen[bytes] | None = None
        self._as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_postgres:
            shutil.chown(self.directory, "postgres", "postgres")
        os.chmod(self.directory, 0o700)

    def create(self) -> None:
        backup = subprocess.run(
            [*self._as_postgres, f"{self.bin_dir}/pg_basebackup", "-h", self.primary["host"], "-p",
             self.primary["port"], "-U", self.primary["user"], "-D", self.directory,
             "-X", "stream", "-R", "-c", "fast"],
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        if backup.returncode != 0:
            needed = (
                f"pg_basebackup from {self.primary['host']}:{self.primary['port']} failed: {backup.stderr.strip()}. "
                "The primary must accept replication connections from this host, e.g. the pg_hba.conf line "
                f"`host replication {self.primary['user']} 127.0.0.1/32 trust` (then SELECT pg_reload_conf())"
            )
            raise StandbyUnavailable(needed)
        # The primary's own configuration may live outside its data directory (Debian: /etc/postgresql):
        # the standby gets a minimal one of its own; -R wrote primary_conninfo and standby.signal.
        with open(f"{self.directory}/postgresql.conf", "w") as conf:
            conf.write("hot_standby = on\nfsync = off\nlisten_addresses = '127.0.0.1'\n")
        with open(f"{self.directory}/pg_hba.conf", "w") as hba:
            hba.write(f"host all {self.primary['user']} 127.0.0.1/32 trust\n")
        if self._as_postgres:
            for name in ("postgresql.conf", "pg_hba.conf"):
                shutil.chown(f"{self.directory}/{name}", "postgres", "postgres")

    def start(self) -> None:
        command = [*self._as_postgres, f"{self.bin_dir}/postgres", "-D", self.directory, "-p", str(self.port)]
        command += ["-c", "hot_standby=on", "-c", f"unix_socket_directories={self.directory}"]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the standby exited with status {self._process.returncode}")
            try:
                self.query("SELECT 1")
                return
            except Exception:  # refused, or "the database system is starting up"
                time.sleep(0.1)
        raise RuntimeError(f"the standby did not accept connections on port {self.port} within 60 s")

    def stop(self) -> None:
        if self._process is None:
            return
        subprocess.run(
            [*self._as_postgres, f"{self.bin_dir}/pg_ctl", "stop", "-D", self.directory, "-m", "fast", "-w"],
            capture_output=True, timeout=60, check=False,
        )  # fmt: skip
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    @property
    def running(self) -> bool:
        return self._process is not None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def query(self, sql: str, *, dbname: str = "postgres") -> Any:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.primary["user"],
            dbname=dbname,
            connect_timeout=2,
            autocommit=True,
        ) as conn:
            row = conn.execute(sql).fetchone()
            return row[0] if row else None

    def catch_up(self, timeout: float = 60) -> None:
        """Wait until the standby has replayed everything the primary had written when this was called."""
        import psycopg

        primary = self.primary
        with psycopg.connect(
            host=primary["host"], port=primary["port"], user=primary["user"], dbname="postgres", autocommit=True
        ) as conn:
            row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
        assert row is not None
        target = row[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.query(f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"):
                return
            time.sleep(0.05)
        raise RuntimeError(f"the standby did not replay up to {target} within {timeout} s")


def _postgresql_bin_dir() -> str | None:
    import glob

    found = [d for d in sorted(glob.glob("/usr/lib/postgresql/*/bin")) if os.path.exists(f"{d}/pg_basebackup")]
    return found[-1] if found else None


# Module scope: its teardown (pg_ctl stop) then runs with the module's last test, which uses it and is
# marked `process`; a session fixture's would run after whatever test happens to be last.
@pytest.fixture(scope="module")
def streaming_standby(django_db_setup: None, django_db_blocker: Any) -> Iterator[StreamingStandby]:
    """A running hot standby of the test database's server (its test database included); removed at the end."""
    from django.db import connections

    # The server itself: replication does not pass through PgBouncer (DATABASE_DIRECT_URL, docs/scaling.md).
    primary = connections["direct" if "direct" in connections.settings else "default"].settings_dict
    if primary["ENGINE"] != "django_prometheus.db.backends.postgresql":
        if REQUIRE_SERVICES:
            pytest.fail("a read replica needs PostgreSQL, but DATABASE_URL does not point at it")
        pytest.skip("needs PostgreSQL: set DATABASE_URL=postgres://...")
    bin_dir = _postgresql_bin_dir()
    if bin_dir is None:
        if REQUIRE_SERVICES:
            pytest.fail("the PostgreSQL server binaries (pg_basebackup, postgres) are required in this run")
        pytest.skip("needs the PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    standby = StreamingStandby(
        host=primary["HOST"] or "127.0.0.1", port=int(primary["PORT"] or 5432), user=primary["USER"], bin_dir=bin_dir
    )
    try:
        try:
            standby.create()
        except StandbyUnavailable as exc:
            if REQUIRE_SERVICES:
                pytest.fail(str(exc))
            pytest.skip(str(exc))
        standby.start()
        standby.catch_up()
        yield standby
    finally:
        standby.remove()


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnRedisCluster]:
    """A running private Redis Cluster (three masters) for the session, stopped and removed at the end.

    Its `url` is a `REDIS_URL` (`redis+cluster://127.0.0.1:P1,...`). Needs `redis-server` and `redis-cli`.
    """
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        if REQUIRE_SERVICES:
            pytest.fail("redis-server and redis-cli are required in this run")
        pytest.skip("needs the redis-server and redis-cli binaries")
    directory = tmp_path_factory.mktemp("redis-cluster")
    cluster = OwnRedisCluster(directory)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
