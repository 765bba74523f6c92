"""ASGI entry point: HTTP to Django, WebSocket to the real-time consumers (docs/realtime.md).

Served by uvicorn (`make run`, and gunicorn's uvicorn workers in production for `/ws/`).
"""

import os
from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import path

from project.environment import exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

with exit_on_configuration_error():
    django_application = get_asgi_application()  # sets Django up before the consumers are imported

from apps.realtime.graphql_socket import GraphQLSocket  # after setup: needs the app registry
from apps.realtime.routing import websocket_urlpatterns
from project.graphql import schema

# Under /ws/, where the Ingress already sends WebSockets to the ASGI pods (docs/graphql.md#subscriptions).
graphql_socket: list[Any] = [path("ws/graphql/", GraphQLSocket.as_asgi(schema=schema))]  # type: ignore[arg-type]
application = ProtocolTypeRouter(
    {"http": django_application, "websocket": URLRouter(graphql_socket + websocket_urlpatterns)}
)
