"""Wiring of the service: settings, URLs, WSGI/ASGI entry points and the Celery app."""

from project.celery import app as celery_app

__all__ = ["celery_app"]
