"""ASGI entry point (`uvicorn project.asgi:application`)."""

import os

from django.core.asgi import get_asgi_application

from project.environment import exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

with exit_on_configuration_error():
    application = get_asgi_application()
