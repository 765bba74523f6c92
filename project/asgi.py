"""ASGI entry point: HTTP to Django, WebSocket to the real-time consumers (docs/realtime.md).

Served by uvicorn (`make run`, and gunicorn's uvicorn workers in production for `/ws/`).
"""

import os

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

from project.environment import exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

with exit_on_configuration_error():
    django_application = get_asgi_application()  # sets Django up before the consumers are imported

from apps.realtime.routing import websocket_urlpatterns  # after setup: needs the app registry

application = ProtocolTypeRouter({"http": django_application, "websocket": URLRouter(websocket_urlpatterns)})
