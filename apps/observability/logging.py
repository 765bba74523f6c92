"""structlog for every log line: JSON in production, a readable console in development.

Standard-library loggers (Django, Celery, gunicorn, libraries) are routed through the
same processors, so every line has one shape whoever wrote it, and every line carries
`request_id`, `actor`, `tenant` (from `apps.core.context`) and `trace_id`, `span_id`
(from the current OpenTelemetry span), and has its secrets masked
(`apps.observability.redaction`) just before it is rendered.
"""

from __future__ import annotations

import logging.config
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog
from opentelemetry import trace

from apps.core.context import current_actor, current_request_id, current_tenant
from apps.observability.redaction import redact_secrets

__all__ = ["add_request_context", "configure_logging", "structlog_formatter"]

# Resolving the actor may touch the session (a query that could itself log): no recursion.
_resolving_actor: ContextVar[bool] = ContextVar("resolving_actor", default=False)


def _actor() -> str | None:
    if _resolving_actor.get():
        return None
    token = _resolving_actor.set(True)
    try:
        return current_actor()
    except Exception:  # an unreachable session store must never stop a line from being logged
        return None
    finally:
        _resolving_actor.reset(token)


def add_request_context(
    logger: object, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: the request/task context and trace ids; values bound explicitly win."""
    tenant = current_tenant()
    event_dict.setdefault("request_id", current_request_id())
    event_dict.setdefault("actor", _actor())
    event_dict.setdefault("tenant", str(tenant) if tenant is not None else None)
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        event_dict.setdefault("trace_id", format(span_context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(span_context.span_id, "016x"))
    else:
        event_dict.setdefault("trace_id", None)
        event_dict.setdefault("span_id", None)
    return event_dict


def _shared_processors() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        add_request_context,
        structlog.processors.StackInfoRenderer(),
    ]


def _renderer(json: bool) -> Any:
    if json:
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=False)


def structlog_formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    """The formatter of `LOGGING`'s one handler (its `"()"`): every stdlib line rendered by structlog."""
    return structlog.stdlib.ProcessorFormatter(
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # Last before rendering, so tracebacks and foreign lines are masked too.
            redact_secrets,
            _renderer(json),
        ],
        foreign_pre_chain=_shared_processors(),
    )


def configure_logging(config: dict[str, Any]) -> None:
    """`LOGGING_CONFIG`: Django's `dictConfig` of `LOGGING`, then structlog's own configuration.

    Django calls it at set-up before any app is loaded, so no line, however early, is
    rendered by structlog's defaults (unmasked, without context).
    """
    logging.config.dictConfig(config)
    _configure_structlog()


def _configure_structlog() -> None:
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.UnicodeDecoder(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
