"""The service's names, every one derived from one: `SERVICE_NAME`.

Two services built from the template share nothing by accident when each has its own
name: RabbitMQ queues and exchanges (`<name>.events`, `<name>.tasks`, `<name>.dead-letters`,
Celery's `<name>.pidbox` control and `<name>.celeryev` monitoring exchanges), the cache key
prefix, the Prometheus metric prefix (`<name>_...`), the database `application_name`, the
structlog/OpenTelemetry service field, the OpenAPI title and the Kubernetes names
(deploy/k8s/: object name prefix, `app.kubernetes.io/name`, image, namespace). Settings, the gunicorn
config and the backends read them here; apps read them from settings.

`DEFAULT_NAME` is the one place the name is written: `make rename NAME=...`
(scripts/rename.py) rewrites it with the distribution name, compose and the docs.
This module imports nothing of Django or the apps (settings import it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from project.environment import ConfigurationError, EnvReader

__all__ = ["DEFAULT_NAME", "NAME_PATTERN", "ServiceNames", "service_names", "title_of", "validate_name"]

DEFAULT_NAME = "service"
# A Python identifier in lowercase: valid as a distribution, database, queue and metric prefix alike.
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{1,40}$")
NAME_RULE = "lowercase letters, digits and underscores, starting with a letter (2-41 characters)"


def validate_name(name: str, *, variable: str = "SERVICE_NAME") -> str:
    """`name` when it is a usable service name, else a one-line `ConfigurationError`."""
    if not NAME_PATTERN.match(name):
        raise ConfigurationError(variable, f"must be {NAME_RULE}, got {name!r}")
    return name


def title_of(name: str) -> str:
    """`billing_core` -> `Billing Core`: the human name in titles."""
    return name.replace("_", " ").title()


@dataclass(frozen=True)
class ServiceNames:
    """Every name derived from the service name; build with `service_names()`."""

    name: str

    @property
    def title(self) -> str:
        return title_of(self.name)

    @property
    def api_title(self) -> str:
        return f"{self.title} API"

    @property
    def events_queue(self) -> str:
        return f"{self.name}.events"

    @property
    def tasks_queue(self) -> str:
        return f"{self.name}.tasks"

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.name}.dead-letters"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.name}.dead-letters"

    @property
    def control_exchange(self) -> str:
        """Celery's `control_exchange`: kombu names the broadcast exchanges `<this>.pidbox`, `reply.<this>.pidbox`."""
        return self.name

    @property
    def event_exchange(self) -> str:
        """Celery's monitoring events exchange (`celeryev` by default, shared by every service on a vhost)."""
        return f"{self.name}.celeryev"

    @property
    def cache_prefix(self) -> str:
        return self.name

    @property
    def metrics_namespace(self) -> str:
        """Every Prometheus series this service defines is `<this>_<metric>`."""
        return self.name

    @property
    def database(self) -> str:
        """The compose database, its user and the `application_name` of every connection."""
        return self.name

    @property
    def kubernetes_name(self) -> str:
        """`billing_core` -> `billing-core`: Kubernetes names are DNS labels, which allow no underscore."""
        return self.name.replace("_", "-")

    @property
    def locmem_location(self) -> str:
        return f"{self.name}-default"


def service_names(env: EnvReader | None = None) -> ServiceNames:
    """The names from `SERVICE_NAME` (default `DEFAULT_NAME`), validated."""
    reader = env if env is not None else EnvReader()
    return ServiceNames(validate_name(reader.string("SERVICE_NAME", DEFAULT_NAME)))
