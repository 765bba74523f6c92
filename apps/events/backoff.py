"""Exponential backoff with jitter for the relay (rows) and the consumer task (handlers): the core's one."""

from __future__ import annotations

from apps.core.backoff import retry_delay

__all__ = ["retry_delay"]
