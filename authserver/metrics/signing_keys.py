"""The signing key gauges, computed when scraped from the key records every worker shares."""

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from authserver.keys.records import KeyRecord, KeyState
from authserver.keys.rotation import next_rotation_at

KEY_AGE = "authserver_signing_key_age_seconds"
NEXT_ROTATION = "authserver_signing_key_next_rotation_seconds"


class SigningKeyCollector:
    """A prometheus_client collector for one scrape: the age of the `current` key, and the
    time until scheduled rotation is due (negative once overdue).

    A family without a sample means: no current key (both), or scheduled rotation is off
    (`interval` None, the next rotation). Read from the key store rather than kept in a
    Gauge, so every worker of a multiprocess server reports the same values.
    """

    def __init__(
        self,
        records: Sequence[KeyRecord],
        *,
        interval: timedelta | None,
        notice: timedelta,
        now: datetime,
    ) -> None:
        self._records = list(records)
        self._interval = interval
        self._notice = notice
        self._now = now

    def collect(self) -> Iterator[Metric]:
        age = GaugeMetricFamily(
            KEY_AGE, "Seconds since the current signing key started signing.", labels=()
        )
        next_rotation = GaugeMetricFamily(
            NEXT_ROTATION,
            "Seconds until scheduled key rotation is due; negative when overdue.",
            labels=(),
        )
        current = next((r for r in self._records if r.state is KeyState.CURRENT), None)
        if current is not None:
            signing_since = current.activated_at or current.created_at
            age.add_metric((), (self._now - signing_since).total_seconds())
            due = self._next_rotation_at()
            if due is not None:
                next_rotation.add_metric((), (due - self._now).total_seconds())
        yield age
        yield next_rotation

    def _next_rotation_at(self) -> datetime | None:
        if self._interval is None:
            return None
        return next_rotation_at(self._records, interval=self._interval, notice=self._notice)
