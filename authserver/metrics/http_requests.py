"""Counting and timing every HTTP request: the observer of `RequestContextMiddleware`."""

from prometheus_client import Counter, Histogram

from authserver.metrics.registry import HTTP_METHODS, OTHER, process_metrics

# A client may send any method name; a label takes only these.
_METHOD_LABELS = {method: method for method in HTTP_METHODS}

# The labelled children of each (endpoint, method, status) seen, so that a request costs
# a few dict lookups, not two `labels()` calls. Bounded: endpoints are route templates or
# "other", methods are `HTTP_METHODS` or "other", statuses are the server's own.
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its duration; `endpoint` is its route's path
    template (never the raw path, which a client chooses) or "other"."""
    key = (endpoint, _METHOD_LABELS.get(method, OTHER), status)
    children = _children.get(key)
    if children is None:
        children = _children_of(*key)
    counter, histogram = children
    counter.inc()
    histogram.observe(seconds)


def _children_of(endpoint: str, method: str, status: int) -> tuple[Counter, Histogram]:
    metrics = process_metrics()
    children = (
        metrics.http_requests.labels(endpoint, method, str(status)),
        metrics.http_request_duration.labels(endpoint, method),
    )
    # A racing thread may store an equal pair: `labels()` returns the same children.
    _children[(endpoint, method, status)] = children
    return children
