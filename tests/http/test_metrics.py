"""GET /metrics: the Prometheus text format, the series of docs/metrics.md, the scrape token.

Metrics are process-global and every test's app shares them, so counters are read as the
difference between two scrapes.
"""

from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from authserver.app import create_app
from authserver.db import Database
from authserver.keys.store import FileKeyStore
from authserver.metrics import count_event
from authserver.settings import Settings
from tests.conftest import ISSUER, make_settings
from tests.http.tokens import request_token

METRICS_TOKEN = "scrape-token-0123456789abcdef"
DAY = 86400.0

Labels = frozenset[tuple[str, str]]
Samples = dict[tuple[str, Labels], float]

SERIES = {
    "authserver_http_requests": "counter",
    "authserver_http_request_duration_seconds": "histogram",
    "authserver_tokens_issued": "counter",
    "authserver_refresh_rotations": "counter",
    "authserver_refresh_reuse_detected": "counter",
    "authserver_revocations": "counter",
    "authserver_logins": "counter",
    "authserver_throttle_rejections": "counter",
    "authserver_signing_key_age_seconds": "gauge",
    "authserver_signing_key_next_rotation_seconds": "gauge",
}
LABEL_NAMES = {"endpoint", "method", "status", "grant_type", "kind", "result", "limiter", "le"}


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(http: TestClient, **headers: str) -> Samples:
    answer = http.get("/metrics", headers=headers)
    assert answer.status_code == 200, answer.text
    return parse(answer.text)


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def grown(before: Samples, after: Samples, name: str, **labels: str) -> float:
    return (sample(after, name, **labels) or 0.0) - (sample(before, name, **labels) or 0.0)


def domain_changes(before: Samples, after: Samples) -> dict[tuple[str, Labels], float]:
    """What changed outside the HTTP series (which the scrapes themselves move)."""
    return {
        key: value - before.get(key, 0.0)
        for key, value in after.items()
        if not key[0].startswith(("authserver_http_", "authserver_signing_key_"))
        and value != before.get(key, 0.0)
    }


def test_metrics_are_uncached_prometheus_text_with_every_series(http: TestClient) -> None:
    answer = http.get("/metrics")

    assert answer.status_code == 200
    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    assert answer.headers["cache-control"] == "no-store"
    families = {f.name: f.type for f in text_string_to_metric_families(answer.text)}
    assert {name: families.get(name) for name in SERIES} == SERIES


def test_the_known_label_values_start_at_zero_so_the_first_event_is_a_rate(
    http: TestClient,
) -> None:
    samples = scrape(http)

    for grant_type in ("authorization_code", "client_credentials", "refresh_token"):
        assert sample(samples, "authserver_tokens_issued_total", grant_type=grant_type) is not None
    for kind in ("access_token", "refresh_token", "family", "session", "user"):
        assert sample(samples, "authserver_revocations_total", kind=kind) is not None
    assert sample(samples, "authserver_logins_total", result="failure") is not None
    assert sample(samples, "authserver_throttle_rejections_total", limiter="client") is not None
    assert sample(samples, "authserver_refresh_reuse_detected_total") is not None


def test_a_request_is_counted_and_timed_under_its_route_method_and_status(
    http: TestClient,
) -> None:
    before = scrape(http)
    for _ in range(3):
        assert http.get("/healthz").status_code == 200
    assert http.post("/token", data={"grant_type": "client_credentials"}).status_code == 401
    after = scrape(http)

    requests = "authserver_http_requests_total"
    assert grown(before, after, requests, endpoint="/healthz", method="GET", status="200") == 3
    assert grown(before, after, requests, endpoint="/token", method="POST", status="401") == 1
    durations = "authserver_http_request_duration_seconds_count"
    assert grown(before, after, durations, endpoint="/healthz", method="GET") == 3
    every_bucket = "authserver_http_request_duration_seconds_bucket"
    assert grown(before, after, every_bucket, endpoint="/healthz", method="GET", le="+Inf") == 3


def test_the_scrape_is_counted_too_under_its_own_endpoint(http: TestClient) -> None:
    before = scrape(http)
    after = scrape(http)

    assert (
        grown(before, after, "authserver_http_requests_total", endpoint="/metrics", method="GET",
              status="200")
        == 1
    )  # fmt: skip


def test_a_path_or_method_the_client_made_up_becomes_other(http: TestClient) -> None:
    before = scrape(http)
    assert http.get("/no-such-page/4f3c2a").status_code == 404
    assert http.request("BREW", "/healthz").status_code == 405
    after = scrape(http)

    requests = "authserver_http_requests_total"
    assert grown(before, after, requests, endpoint="other", method="GET", status="404") == 1
    brewed = [
        labels
        for (name, labels), value in after.items()
        if name == requests
        and ("status", "405") in labels
        and value > before.get((name, labels), 0)
    ]
    assert [dict(labels)["method"] for labels in brewed] == ["other"]
    assert all("no-such-page" not in value for _, labels in after for _, value in labels)


def test_the_key_gauges_count_from_activation_towards_the_rotation_interval(
    http: TestClient, settings: Settings
) -> None:
    samples = scrape(http)

    age = sample(samples, "authserver_signing_key_age_seconds")
    next_rotation = sample(samples, "authserver_signing_key_next_rotation_seconds")
    assert settings.keys_rotation_interval is not None
    interval = settings.keys_rotation_interval.total_seconds()
    assert age is not None and next_rotation is not None
    assert 0 <= age < interval
    assert 0 < next_rotation <= interval
    # The next key was published with the current one: rotation is due after `interval`.
    assert age + next_rotation == pytest.approx(interval, abs=0.01)


def backdate_keys(keys_dir: Path, by: timedelta) -> None:
    store = FileKeyStore(keys_dir, None)
    with store.locked():
        store.write_records(
            [
                replace(
                    record,
                    created_at=record.created_at - by,
                    activated_at=record.activated_at and record.activated_at - by,
                )
                for record in store.read_records()
            ]
        )


def test_an_overdue_rotation_shows_as_negative_seconds(database: Database, keys_dir: Path) -> None:
    backdate_keys(keys_dir, timedelta(days=31))
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, keys_rotation_interval=30 * DAY
    )
    app = create_app(settings)
    try:
        # No lifespan, so no scheduled rotation catches up before the scrape.
        samples = scrape(TestClient(app, base_url=ISSUER))
    finally:
        app.state.services.database.dispose()

    age = sample(samples, "authserver_signing_key_age_seconds")
    next_rotation = sample(samples, "authserver_signing_key_next_rotation_seconds")
    assert age is not None and next_rotation is not None
    assert age >= 31 * DAY
    assert next_rotation <= -DAY
    assert age + next_rotation == pytest.approx(30 * DAY, abs=0.01)


def test_without_scheduled_rotation_there_is_no_next_rotation_sample(
    database: Database, keys_dir: Path
) -> None:
    settings = make_settings(database_url=database.url, keys_dir=keys_dir, keys_rotation_interval=0)
    with TestClient(create_app(settings), base_url=ISSUER) as http:
        text = http.get("/metrics").text

    families = {f.name: f.samples for f in text_string_to_metric_families(text)}
    assert families["authserver_signing_key_next_rotation_seconds"] == []
    assert len(families["authserver_signing_key_age_seconds"]) == 1


EVENTS = [
    pytest.param(
        "token.issued",
        {"grant_type": "client_credentials", "client_id": "svc", "jti": "j1"},
        {("authserver_tokens_issued_total", (("grant_type", "client_credentials"),))},
        id="client_credentials",
    ),
    pytest.param(
        "token.issued",
        {"grant_type": "refresh_token", "family_id": "f1"},
        {
            ("authserver_tokens_issued_total", (("grant_type", "refresh_token"),)),
            ("authserver_refresh_rotations_total", ()),
        },
        id="refresh_token",
    ),
    pytest.param(
        "token.issued",
        {"grant_type": "urn:example:made-up"},
        {("authserver_tokens_issued_total", (("grant_type", "other"),))},
        id="unknown-grant",
    ),
    pytest.param(
        "token.issued",
        {},
        {("authserver_tokens_issued_total", (("grant_type", "other"),))},
        id="no-grant",
    ),
    pytest.param(
        "refresh.reuse_detected",
        {"family_id": "f1"},
        {("authserver_refresh_reuse_detected_total", ())},
        id="reuse",
    ),
    pytest.param(
        "token.revoked",
        {"kind": "family", "family_id": "f1"},
        {("authserver_revocations_total", (("kind", "family"),))},
        id="revoked-family",
    ),
    pytest.param(
        "token.revoked",
        {"kind": "alice@example.test"},
        {("authserver_revocations_total", (("kind", "other"),))},
        id="revoked-free-text",
    ),
    pytest.param(
        "login.succeeded",
        {"username": "alice", "user_id": 7},
        {("authserver_logins_total", (("result", "success"),))},
        id="login-succeeded",
    ),
    pytest.param(
        "login.failed",
        {"username": "mallory"},
        {("authserver_logins_total", (("result", "failure"),))},
        id="login-failed",
    ),
    pytest.param(
        "login.throttled",
        {"client_address": "198.51.100.7"},
        {("authserver_throttle_rejections_total", (("limiter", "login"),))},
        id="login-throttled",
    ),
    pytest.param(
        "rate_limit.exceeded",
        {"client_id": "svc"},
        {("authserver_throttle_rejections_total", (("limiter", "client"),))},
        id="client-rate-limit",
    ),
    pytest.param("consent.granted", {"client_id": "svc"}, set(), id="not-counted"),
    pytest.param("no.such.event", {"grant_type": "client_credentials"}, set(), id="unknown"),
]


@pytest.mark.parametrize(("event", "fields", "counted"), EVENTS)
def test_each_event_counts_once_in_its_series_and_nowhere_else(
    http: TestClient,
    event: str,
    fields: dict[str, object],
    counted: set[tuple[str, tuple[tuple[str, str], ...]]],
) -> None:
    before = scrape(http)
    count_event(event, fields)
    after = scrape(http)

    expected = {(name, frozenset(labels)): 1.0 for name, labels in counted}
    assert domain_changes(before, after) == expected


def test_no_series_carries_a_client_id_secret_token_or_user(
    http: TestClient, registered: tuple[str, str]
) -> None:
    client_id, secret = registered
    issued = request_token(http, client_id, secret)
    assert issued.status_code == 200, issued.text
    count_event("login.failed", {"username": "alice-the-user", "user_id": 424242})
    text = http.get("/metrics").text

    for value in (client_id, secret, issued.json()["access_token"], "alice-the-user", "424242"):
        assert value not in text
    label_names = {name for _, labels in parse(text) for name, _ in labels}
    assert label_names <= LABEL_NAMES


@pytest.fixture
def guarded(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    """The app with AUTHSERVER_METRICS_TOKEN set."""
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, metrics_token=METRICS_TOKEN
    )
    with TestClient(create_app(settings), base_url=ISSUER) as client:
        yield client


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        f"Bearer {METRICS_TOKEN[:-1]}x",
        f"Bearer {METRICS_TOKEN}x",
        "Bearer ",
        f"Basic {METRICS_TOKEN}",
        METRICS_TOKEN,
    ],
    ids=["none", "wrong", "longer", "empty", "other-scheme", "no-scheme"],
)
def test_with_a_metrics_token_a_scrape_without_it_is_refused(
    guarded: TestClient, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    answer = guarded.get("/metrics", headers=headers)

    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {"error": "invalid_token"}
    assert "authserver_" not in answer.text


def test_with_a_metrics_token_the_right_bearer_token_scrapes(guarded: TestClient) -> None:
    before = scrape(guarded, Authorization=f"Bearer {METRICS_TOKEN}")
    assert guarded.get("/metrics").status_code == 401
    after = scrape(guarded, Authorization=f"bearer {METRICS_TOKEN}")

    refused = {"endpoint": "/metrics", "method": "GET", "status": "401"}
    assert grown(before, after, "authserver_http_requests_total", **refused) == 1
    assert sample(after, "authserver_signing_key_age_seconds") is not None
