"""The metric objects of this process, and the bounded label values they accept.

They are created on first use, never at import: in multiprocess mode a metric without
labels writes its file as soon as it exists, and `authserver serve` must first have
wiped the stale files of an earlier run (`multiprocess.metrics_directory`).
"""

import threading
from dataclasses import dataclass, fields

from prometheus_client import Counter, Histogram, disable_created_metrics

# From a cached JWKS answer (~1 ms) to a slow argon2id sign-in under load (~5 s).
REQUEST_BUCKETS_SECONDS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
)  # fmt: skip
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
GRANT_TYPES = (
    "authorization_code",
    "client_credentials",
    "refresh_token",
    "urn:ietf:params:oauth:grant-type:device_code",
    "urn:ietf:params:oauth:grant-type:token-exchange",
)
REVOCATION_KINDS = ("access_token", "refresh_token", "family", "session", "user")
LOGIN_RESULTS = ("success", "failure")
LIMITERS = ("login", "client")
OTHER = "other"


@dataclass(frozen=True)
class Metrics:
    http_requests: Counter
    http_request_duration: Histogram
    tokens_issued: Counter
    refresh_rotations: Counter
    refresh_reuse_detected: Counter
    revocations: Counter
    logins: Counter
    throttle_rejections: Counter

    def all(self) -> list[Counter | Histogram]:
        return [getattr(self, field.name) for field in fields(self)]


def bounded(value: object, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else "other": a label never takes free text."""
    return value if isinstance(value, str) and value in allowed else OTHER


_creating = threading.Lock()
_created: Metrics | None = None


def process_metrics() -> Metrics:
    """This process's metrics, created once (thread-safe) on the first call."""
    metrics = _created
    if metrics is None:
        with _creating:
            metrics = _created or _create()
    return metrics


def _create() -> Metrics:
    global _created
    # Multiprocess mode has no `_created` series; the single-process output matches it.
    disable_created_metrics()
    metrics = Metrics(
        http_requests=_counter(
            "authserver_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ("endpoint", "method", "status"),
        ),
        http_request_duration=Histogram(
            "authserver_http_request_duration_seconds",
            "Time from receiving an HTTP request to finishing its answer.",
            ("endpoint", "method"),
            buckets=REQUEST_BUCKETS_SECONDS,
            registry=None,
        ),
        tokens_issued=_counter(
            "authserver_tokens_issued", "Token responses issued, by grant type.", ("grant_type",)
        ),
        refresh_rotations=_counter(
            "authserver_refresh_rotations", "Refresh tokens exchanged for a new one."
        ),
        refresh_reuse_detected=_counter(
            "authserver_refresh_reuse_detected",
            "Refresh tokens presented again after use (RFC 9700 4.14.2).",
        ),
        revocations=_counter(
            "authserver_revocations", "Revocations, by what was revoked.", ("kind",)
        ),
        logins=_counter("authserver_logins", "Sign-in attempts, by result.", ("result",)),
        throttle_rejections=_counter(
            "authserver_throttle_rejections", "Requests refused by a limiter.", ("limiter",)
        ),
    )
    _start_at_zero(metrics)
    _created = metrics
    return metrics


def _counter(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
    return Counter(name, documentation, labels, registry=None)


def _start_at_zero(metrics: Metrics) -> None:
    """Every known label value has a sample from the start, so `rate()` sees the first one."""
    for counter, values in (
        (metrics.tokens_issued, GRANT_TYPES),
        (metrics.revocations, REVOCATION_KINDS),
        (metrics.logins, LOGIN_RESULTS),
        (metrics.throttle_rejections, LIMITERS),
    ):
        for value in values:
            counter.labels(value)
