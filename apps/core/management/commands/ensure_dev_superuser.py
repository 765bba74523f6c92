"""Create the development superuser `make run` prints, if it does not exist yet."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Create the development superuser (DEV_SUPERUSER_USERNAME/PASSWORD); refused in production mode."

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("refusing to create a development superuser with DJANGO_DEBUG=false")
        username = settings.DEV_SUPERUSER_USERNAME
        password = settings.DEV_SUPERUSER_PASSWORD
        user_model = get_user_model()
        if user_model.objects.filter(username=username).exists():
            self.stdout.write(f"Development superuser exists: {username} (password unchanged)")
            return
        user_model.objects.create_superuser(username=username, email="", password=password)
        self.stdout.write(f"Development superuser created: {username} / {password}")
