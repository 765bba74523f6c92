"""`runserver` that decodes chunked request bodies (apps.security.devserver); otherwise WhiteNoise's.

WhiteNoise's `runserver_nostatic` (itself wrapping staticfiles' and Django's) is the
command this one extends, so `--nostatic` and hot reload stay as they were. For this
command to be the one `manage.py runserver` finds, `apps.security` is listed before
`whitenoise.runserver_nostatic` in INSTALLED_APPS (the first app that has a command wins).
"""

from __future__ import annotations

from whitenoise.runserver_nostatic.management.commands.runserver import Command as WhiteNoiseRunserver

from apps.security.devserver import ChunkedBodyWSGIServer


class Command(WhiteNoiseRunserver):  # type: ignore[misc]  # WhiteNoise picks its base at runtime
    server_cls = ChunkedBodyWSGIServer
