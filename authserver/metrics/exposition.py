"""One scrape: this process's metrics, or every worker's, and the signing key gauges."""

from collections.abc import Sequence
from datetime import datetime, timedelta

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from authserver.keys.records import KeyRecord
from authserver.metrics.multiprocess import shared_metrics_directory
from authserver.metrics.registry import process_metrics
from authserver.metrics.signing_keys import SigningKeyCollector


def render_metrics(
    records: Sequence[KeyRecord],
    *,
    rotation_interval: timedelta | None,
    next_key_notice: timedelta,
    now: datetime,
) -> bytes:
    """The Prometheus text format (`CONTENT_TYPE_LATEST`) of every series.

    In multiprocess mode the counters and histograms are the sums over the files of
    every worker, dead ones included (a count never goes down); else they are this
    process's. The key gauges are computed from `records` either way.
    """
    metrics = process_metrics()  # this process's series exist even before it counts
    registry = CollectorRegistry()
    directory = shared_metrics_directory()
    if directory is not None:
        MultiProcessCollector(registry, path=str(directory))
    else:
        for metric in metrics.all():
            registry.register(metric)
    registry.register(
        SigningKeyCollector(records, interval=rotation_interval, notice=next_key_notice, now=now)
    )
    return generate_latest(registry)
