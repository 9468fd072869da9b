"""Log lines: one JSON object per line (the default) or plain text for a terminal.

Every line carries the current request's id (`request_id`, also sent as X-Request-ID)
when there is one. Extra members come from `extra={"fields": {...}}`. Nothing secret is
ever passed to a logger: tokens, codes, secrets, passwords and keys stay out of messages.
A request's query string reaches the access log only as `redacted_query` leaves it.
"""

import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from authserver.context import current_context

LogFormat = Literal["json", "text"]

_TEXT_FORMAT = "%(levelname)s:     %(name)s: %(message)s"

REDACTED = "[redacted]"
# A parameter name is logged as sent only if it looks like one: every OAuth and OpenID
# Connect name fits (post_logout_redirect_uri has 24 characters), none of our tokens,
# codes or secrets does (43 characters and more). Anything else is redacted too.
_PARAMETER_NAME = re.compile(rb"[A-Za-z0-9_.-]{1,32}")
_MAX_LOGGED_PARAMETERS = 32
# The common case in one pass of the regex engine: 1 to 32 well-named parameters.
_PAIR = rb"[A-Za-z0-9_.-]{1,32}(?:=[^&]*)?"
_PLAIN_QUERY = re.compile(rb"%s(?:&%s){0,%d}" % (_PAIR, _PAIR, _MAX_LOGGED_PARAMETERS - 1))
_VALUE = re.compile(rb"=[^&]+")
_REDACTED_VALUE = b"=" + REDACTED.encode("ascii")


def redacted_query(query: bytes) -> str:
    """A raw query string with every value replaced by `[redacted]` and the parameter
    names kept: `client_id=[redacted]&id_token_hint=[redacted]`. An `id_token_hint`,
    `login_hint`, `code` or `state` never reaches the log; which parameters a request
    had still does. An empty value stays empty; a name that does not look like one
    (`_PARAMETER_NAME`) is redacted too; past 32 parameters only their number is told."""
    if _PLAIN_QUERY.fullmatch(query):
        return _VALUE.sub(_REDACTED_VALUE, query).decode("ascii")
    pairs = query.split(b"&")
    shown = []
    for pair in pairs[:_MAX_LOGGED_PARAMETERS]:
        name, equals, value = pair.partition(b"=")
        name_text = name.decode("ascii") if _PARAMETER_NAME.fullmatch(name) else REDACTED
        if not equals:
            shown.append(name_text if name else "")
        else:
            shown.append(f"{name_text}={REDACTED}" if value else f"{name_text}=")
    if len(pairs) > _MAX_LOGGED_PARAMETERS:
        shown.append(f"[{len(pairs) - _MAX_LOGGED_PARAMETERS} more]")
    return "&".join(shown)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = current_context()
        if context is not None:
            entry["request_id"] = context.request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode("utf-8")


class TextFormatter(logging.Formatter):
    """A line for a terminal: the message, then the extra fields as name=value."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            line += "  " + " ".join(f"{name}={value}" for name, value in fields.items())
        return line


def emit_records(logger: logging.Logger, records: list[logging.LogRecord]) -> None:
    """Many records of `logger` at once, as `logger.handle` would pass them on, except that
    each stream handler formats them all and writes them in one call: a batch of audit
    lines costs one write, not one each (the batched audit events, `audit.buffer`)."""
    records = [r for r in records if logger.isEnabledFor(r.levelno) and logger.filter(r)]
    current: logging.Logger | None = logger
    while current is not None and records:
        for handler in current.handlers:
            chosen = [r for r in records if r.levelno >= handler.level and handler.filter(r)]
            if _writes_plainly(handler) and chosen:
                lines = "".join(handler.format(r) + handler.terminator for r in chosen)
                with handler.lock:  # type: ignore[union-attr]
                    handler.stream.write(lines)
                    handler.flush()
            else:
                for record in chosen:
                    handler.handle(record)
        current = current.parent if current.propagate else None


def _writes_plainly(handler: logging.Handler) -> bool:
    """A stream handler whose `emit` is the standard library's: format, write, flush.
    Any other (a subclass that records or sends elsewhere) gets each record."""
    plain = (logging.StreamHandler.emit, logging.FileHandler.emit)
    return type(handler).emit in plain and getattr(handler, "stream", None) is not None


def logging_config(log_format: LogFormat) -> dict[str, Any]:
    """A `logging.config.dictConfig` for our loggers and uvicorn's (its `log_config`)."""
    formatter: dict[str, Any] = {"()": JsonFormatter if log_format == "json" else TextFormatter}
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "default",
        "stream": "ext://sys.stderr",
    }
    loggers = {
        name: {"handlers": ["default"], "level": "INFO", "propagate": False}
        for name in ("authserver", "uvicorn", "uvicorn.error")
    }
    # Requests are logged by our middleware, with their request id; uvicorn's own
    # access log is not used.
    loggers["uvicorn.access"] = {"handlers": [], "level": "WARNING", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": formatter},
        "handlers": {"default": handler},
        "loggers": loggers,
    }


def configure_logging(log_format: LogFormat) -> None:
    """Our log lines on stderr; nothing is changed if the host application configured
    logging already (authserver embedded in another program, or the tests)."""
    if logging.getLogger().handlers or logging.getLogger("authserver").handlers:
        return
    logging.config.dictConfig(logging_config(log_format))
