"""WSGI entry point (gunicorn `project.wsgi:application`)."""

import os

from django.core.wsgi import get_wsgi_application

from project.environment import exit_on_configuration_error

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

with exit_on_configuration_error():
    application = get_wsgi_application()
