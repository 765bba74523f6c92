"""`runserver` that decodes chunked request bodies (apps.security.devserver); otherwise WhiteNoise's.

WhiteNoise's `runserver_nostatic` (itself wrapping staticfiles' and Django's) is the
command this one extends, so `--nostatic` and hot reload stay as they were. For this
command to be the one `manage.py runserver` finds, `apps.security` is listed before
`whitenoise.runserver_nostatic` in INSTALLED_APPS (the first app that has a command wins).
"""

from __future__ import annotations

from django.db import DatabaseError
from whitenoise.runserver_nostatic.management.commands.runserver import Command as WhiteNoiseRunserver

from apps.security.devserver import ChunkedBodyWSGIServer


class Command(WhiteNoiseRunserver):  # type: ignore[misc]  # WhiteNoise picks its base at runtime
    server_cls = ChunkedBodyWSGIServer

    def check_migrations(self) -> None:
        """Django's unapplied-migrations notice; with the database down, one line instead of a traceback.

        The server still starts: /health/live answers, /health/ready says the database is missing,
        and `make run` migrates as soon as it answers (scripts/dev.py).
        """
        try:
            super().check_migrations()
        except DatabaseError as error:
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            self.stdout.write(self.style.NOTICE(f"The database is not answering ({first_line}); serving without it."))
