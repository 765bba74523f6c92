"""The development launcher behind `make run`, `make worker` and `make beat`: `.env` first, then one clear line.

    python scripts/dev.py run [--host H] [--port P] [--standin-port S] [--no-standin]
    python scripts/dev.py worker      # refuses to start without a real broker (exit 2)
    python scripts/dev.py beat        # the same

Each reads `.env` (beside manage.py) into the environment first; a variable already set in
the environment wins over the file (`django-environ`'s `read_env`, the one reader of it).

`run` serves the ASGI application with uvicorn (HTTP and WebSockets, hot reload). It starts
even when the configured database is not answering: it prints one line naming what is missing,
and migrates (and creates the dev superuser) as soon as the database answers, retrying in the
background, instead of failing with a traceback.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

import environ

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
RETRY_SECONDS = 2.0


def read_dotenv(path: Path = ROOT / ".env") -> bool:
    """Load `path` into os.environ without overriding what is set; False when there is no such file."""
    if not path.is_file():
        return False
    environ.Env.read_env(str(path), overwrite=False)
    return True


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
    sys.path.insert(0, str(ROOT))
    import django  # noqa: PLC0415

    from project.environment import exit_on_configuration_error  # noqa: PLC0415

    with exit_on_configuration_error():
        django.setup()


def _say(line: str) -> None:
    """One line on stdout in one write, flushed: the database thread and the main thread print concurrently,
    and print() writes the text and its newline separately (two lines could merge)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _refuse(message: str) -> None:
    print(f"{Path(sys.argv[0]).name}: {message}", file=sys.stderr, flush=True)
    raise SystemExit(2)


def _database_problem() -> str | None:
    """Why the default database does not answer (one line), or None when it does."""
    from django.db import connections  # noqa: PLC0415

    connection = connections["default"]
    try:
        connection.ensure_connection()
    except Exception as error:  # any driver error: the message is all the newcomer needs
        settings = connection.settings_dict
        where = f"{settings.get('HOST') or 'localhost'}:{settings.get('PORT') or 5432}/{settings.get('NAME')}"
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return f"the database (DATABASE_URL, {connection.vendor} at {where}) is not answering: {first_line}"
    finally:
        connection.close()
    return None


def _prepare_database() -> None:
    """Migrate and create the dev superuser; when the database is down, say so once and retry until it is up."""
    problem = _database_problem()
    if problem is not None:
        _say(f"Waiting: {problem}. Serving anyway; migrations run once it answers.")
        while _database_problem() is not None:
            time.sleep(RETRY_SECONDS)
        _say("The database answers: migrating.")
    for command in (["migrate", "--noinput"], ["ensure_dev_superuser"]):
        subprocess.run([PYTHON, str(ROOT / "manage.py"), *command], cwd=ROOT, check=False)  # noqa: S603  # our own


def run(options: argparse.Namespace) -> int:
    _django()
    database_ready = _database_problem() is None
    if database_ready:
        _prepare_database()
    else:
        threading.Thread(target=_prepare_database, name="wait-for-database", daemon=True).start()
    children: list[subprocess.Popen[bytes]] = []
    env = dict(os.environ)
    if options.standin and not env.get("ACCENT_AUTH_URL"):
        # No Accent-Auth configured: serve the stand-in beside the app (docs/accent-auth.md); it stops with us.
        standin = [PYTHON, "-m", "devtools.accent_auth_standin", "--port", str(options.standin_port)]
        children.append(subprocess.Popen(standin, cwd=ROOT))  # noqa: S603  # this checkout's stand-in
        env["ACCENT_AUTH_URL"] = f"http://127.0.0.1:{options.standin_port}/0.1"
        _say(
            "Get a token: curl -s -u alice:alice -H 'Content-Type: application/json' -d '{}' "
            f"{env['ACCENT_AUTH_URL']}/token"
        )
    _say(
        f"Admin: http://{options.host}:{options.port}/admin/  API docs: http://{options.host}:{options.port}/api/docs/"
    )
    # uvicorn on the ASGI application: HTTP and the WebSockets (/ws/v1/events/) on one port, restarted
    # when a Python file of the service changes (docs/development.md, docs/realtime.md).
    server = subprocess.Popen(asgi_server(options.host, options.port, env), cwd=ROOT, env=env)  # noqa: S603  # our own
    children.append(server)

    def stop(signum: int, frame: FrameType | None) -> None:
        for child in children:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return server.wait()
    finally:
        for child in children:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def asgi_server(host: str, port: int, env: dict[str, str]) -> list[str]:
    """The development server's command: uvicorn with hot reload over the service's own code and its bounds."""
    from project.asgi_server import uvicorn_options  # noqa: PLC0415  # after _django() put the checkout on the path
    from project.environment import EnvReader  # noqa: PLC0415

    command = [PYTHON, "-m", "uvicorn", "project.asgi:application", "--host", host, "--port", str(port), "--reload"]
    command += uvicorn_options(EnvReader(env))
    for folder in ("apps", "project", "devtools"):
        command += ["--reload-dir", str(ROOT / folder)]
    return command


def _broker_problem(url: str) -> str | None:
    """Why Celery has no real broker at `url` (one line), or None when one answers."""
    if url.startswith("memory://"):
        return (
            "CELERY_BROKER_URL is not set: a worker or beat on memory:// would run nothing (set it, see .env.example)"
        )
    from kombu import Connection  # noqa: PLC0415

    try:
        with Connection(url, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=1, timeout=3)
    except Exception as error:  # any transport error: the newcomer needs the line, not the trace
        parts = urlsplit(url)
        return f"no broker answers at CELERY_BROKER_URL ({parts.scheme}://{parts.hostname}:{parts.port}): {error}"
    return None


def celery(kind: str, options: argparse.Namespace) -> int:
    _django()
    from django.conf import settings  # noqa: PLC0415

    problem = _broker_problem(settings.CELERY_BROKER_URL)
    if problem is not None:
        _refuse(problem)
    program = shutil.which("celery", path=str(Path(PYTHON).parent)) or "celery"
    arguments = [program, "-A", "project", kind, "--loglevel", "INFO"]
    if kind == "beat":
        arguments += ["--schedule", str(ROOT / "var" / "celerybeat-schedule")]
    os.chdir(ROOT)
    os.execv(program, arguments)  # noqa: S606  # the venv's celery replaces this process (signals reach it)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/dev.py", description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("run", help="migrate, create the dev superuser, serve with the stand-in Accent-Auth")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--standin-port", type=int, default=9497)
    serve.add_argument("--no-standin", dest="standin", action="store_false", help="leave token authentication off")
    commands.add_parser("worker", help="a Celery worker (needs a real CELERY_BROKER_URL)")
    commands.add_parser("beat", help="the Celery beat scheduler (needs a real CELERY_BROKER_URL)")
    options = parser.parse_args(argv)
    read_dotenv()
    if options.command == "run":
        return run(options)
    return celery(options.command, options)


if __name__ == "__main__":
    sys.exit(main())
