"""`manage.py run_accent_auth`: serve the stand-in Accent-Auth for local development.

    python manage.py run_accent_auth                # 127.0.0.1:9497, DEFAULT_CONFIG users
    python manage.py run_accent_auth --port 9600 --config users.json

Then run the service with ACCENT_AUTH_URL=http://127.0.0.1:9497/0.1.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.accent_auth.standin import StandInAccentAuth, load_config


class Command(BaseCommand):
    help = "Serve a stand-in Accent-Auth (tokens, ACLs, tenants from a small config) for development."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9497)
        parser.add_argument("--config", default=None, help="JSON file with 'tenants' and 'users' (default: built-in)")

    def handle(self, *args: Any, **options: Any) -> None:
        config = load_config(options["config"])
        server = StandInAccentAuth(config, host=options["host"], port=options["port"])
        users = ", ".join(f"{u['username']}:{u['password']}" for u in config.get("users", []))
        self.stdout.write(f"Stand-in Accent-Auth on http://{options['host']}:{server.port}/0.1 (users {users})")
        self.stdout.flush()
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
