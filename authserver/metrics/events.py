"""Security events as counters: the one table from audit event names to series."""

from collections.abc import Callable, Mapping

from prometheus_client import Counter

from authserver.metrics.registry import (
    GRANT_TYPES,
    REVOCATION_KINDS,
    Metrics,
    bounded,
    process_metrics,
)

Fields = Mapping[str, object]
CountersOf = Callable[[Metrics, Fields], tuple[Counter, ...]]


def _token_issued(metrics: Metrics, fields: Fields) -> tuple[Counter, ...]:
    grant_type = bounded(fields.get("grant_type"), GRANT_TYPES)
    issued = metrics.tokens_issued.labels(grant_type)
    if grant_type == "refresh_token":
        return issued, metrics.refresh_rotations
    return (issued,)


EVENT_COUNTERS: dict[str, CountersOf] = {
    "token.issued": _token_issued,
    "refresh.reuse_detected": lambda metrics, _: (metrics.refresh_reuse_detected,),
    "token.revoked": lambda metrics, fields: (
        metrics.revocations.labels(bounded(fields.get("kind"), REVOCATION_KINDS)),
    ),
    "login.succeeded": lambda metrics, _: (metrics.logins.labels("success"),),
    "login.failed": lambda metrics, _: (metrics.logins.labels("failure"),),
    "login.throttled": lambda metrics, _: (metrics.throttle_rejections.labels("login"),),
    "rate_limit.exceeded": lambda metrics, _: (metrics.throttle_rejections.labels("client"),),
}


def count_event(event: str, fields: Mapping[str, object]) -> None:
    """Count one audit event in the series `EVENT_COUNTERS` maps it to; any other event
    counts nowhere. Only bounded values of `fields` become labels (else "other"), so no
    identifier, name or secret an event carries can reach the metrics."""
    counters_of = EVENT_COUNTERS.get(event)
    if counters_of is None:
        return
    for counter in counters_of(process_metrics(), fields):
        counter.inc()
