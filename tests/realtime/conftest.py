"""Fixtures of the socket tests."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from tests.processes import free_port


@pytest.fixture
def channel_layer_down(settings: SettingsWrapper) -> None:
    """The channel layer on a Redis that refuses connections (nothing listens on its port)."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": f"redis://127.0.0.1:{free_port()}", "socket_connect_timeout": 1}]},
        }
    }
