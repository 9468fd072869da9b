"""What the current request is, for log lines and audit events: its id and client address.

Set by the HTTP middleware (`authserver.http.context`); a CLI command sets its own. A
ContextVar follows a request into the thread pool (Starlette copies the context).
"""

import itertools
import secrets
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    client_address: str | None = None
    actor: str | None = None  # who acts outside a request: "cli:<user>@<host>"


_current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)


def current_context() -> RequestContext | None:
    return _current.get()


def enter_context(context: RequestContext) -> object:
    """Make `context` current; returns the token `leave_context` needs."""
    return _current.set(context)


def leave_context(token: object) -> None:
    _current.reset(token)  # type: ignore[arg-type]


# 64 random bits per process, then a counter: unique without a system call per request.
_PROCESS_PREFIX = secrets.token_hex(8)
_sequence = itertools.count(1)


def new_request_id() -> str:
    """32 hex digits, unique across processes and hosts (not a secret)."""
    return f"{_PROCESS_PREFIX}{next(_sequence):016x}"
