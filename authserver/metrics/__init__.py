"""Prometheus metrics: HTTP traffic, security events and signing keys (docs/metrics.md).

- `observe_request`: the request observer of `RequestContextMiddleware`.
- `count_event`: called by the audit recorder for every security event.
- `render_metrics`: one scrape, in the Prometheus text format.
- `metrics_directory`: multiprocess mode for `authserver serve --workers N`.

Metrics are per process (per worker), created on first use; with several workers they
meet in PROMETHEUS_MULTIPROC_DIR, so any worker's scrape shows the sum.
"""

from authserver.metrics.events import EVENT_COUNTERS, count_event
from authserver.metrics.exposition import render_metrics
from authserver.metrics.http_requests import observe_request
from authserver.metrics.multiprocess import MULTIPROC_DIR, metrics_directory

__all__ = [
    "EVENT_COUNTERS",
    "MULTIPROC_DIR",
    "count_event",
    "metrics_directory",
    "observe_request",
    "render_metrics",
]
