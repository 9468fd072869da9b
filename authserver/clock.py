"""The one place that reads the time, so tests and code agree on UTC."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
