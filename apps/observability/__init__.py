"""Structured logging, metrics and tracing for the whole process."""
