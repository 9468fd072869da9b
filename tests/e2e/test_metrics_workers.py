"""`authserver serve --workers N`: every scrape, whichever worker answers, counts them all."""

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from authserver.db import Database
from tests.e2e.processes import cli_environment, running_server
from tests.factories import make_client

pytestmark = pytest.mark.e2e

TOKENS = 40
CONNECTIONS = 8
SCRAPES = 6
ISSUED = ("authserver_tokens_issued_total", (("grant_type", "client_credentials"),))
TOKEN_REQUESTS = (
    "authserver_http_requests_total",
    (("endpoint", "/token"), ("method", "POST"), ("status", "200")),
)

Series = tuple[str, tuple[tuple[str, str], ...]]


@pytest.fixture
def environment(database: Database, keys_dir: Path) -> dict[str, str]:
    return cli_environment(database.url, keys_dir)


@pytest.fixture
def credentials(database: Database) -> tuple[str, str]:
    client, secret = make_client(database)
    assert secret is not None
    return client.client_id, secret


def issue_tokens(base_url: str, credentials: tuple[str, str], count: int) -> None:
    """`count` client_credentials tokens over CONNECTIONS concurrent keep-alive
    connections, which the workers accept between them."""

    def issue(share: int) -> None:
        with httpx.Client(base_url=base_url, auth=credentials) as client:
            for _ in range(share):
                answer = client.post("/token", data={"grant_type": "client_credentials"})
                assert answer.status_code == 200, answer.text

    shares = [count // CONNECTIONS + (n < count % CONNECTIONS) for n in range(CONNECTIONS)]
    with ThreadPoolExecutor(CONNECTIONS) as pool:
        list(pool.map(issue, shares))


def scrape(base_url: str) -> dict[Series, float]:
    """One scrape on a new connection, so any worker may answer it."""
    answer = httpx.get(f"{base_url}/metrics")
    assert answer.status_code == 200, answer.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def settled(base_url: str, series: Series, at_least: float) -> dict[Series, float]:
    """The first scrape where `series` has reached `at_least`: a worker counts a request
    just after it has answered it, so the last ones may not be in yet."""
    deadline = time.monotonic() + 10
    while True:
        samples = scrape(base_url)
        if samples.get(series, 0.0) >= at_least or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def test_every_scrape_of_two_workers_counts_the_tokens_both_issued(
    environment: dict[str, str], credentials: tuple[str, str]
) -> None:
    with running_server(environment, "--workers", "2") as base_url:
        before = scrape(base_url)
        issue_tokens(base_url, credentials, TOKENS)
        settled(base_url, TOKEN_REQUESTS, before.get(TOKEN_REQUESTS, 0.0) + TOKENS)
        scrapes = [scrape(base_url) for _ in range(SCRAPES)]

    for samples in scrapes:
        assert samples.get(TOKEN_REQUESTS, 0.0) - before.get(TOKEN_REQUESTS, 0.0) == TOKENS
    for samples in scrapes:
        # Counted by the audit recorder's call of authserver.metrics.count_event.
        assert samples[ISSUED] - before[ISSUED] == TOKENS


def test_an_operators_metrics_directory_starts_each_run_empty_of_stale_counts(
    environment: dict[str, str], credentials: tuple[str, str], tmp_path: Path
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    (directory / "README").write_text("not a metrics file\n")
    shared = {**environment, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with running_server(shared, "--workers", "2") as base_url:
        issue_tokens(base_url, credentials, CONNECTIONS)
        settled(base_url, TOKEN_REQUESTS, CONNECTIONS)
    assert list(directory.glob("*.db"))  # what the first run leaves behind

    with running_server(shared, "--workers", "1") as base_url:
        first = scrape(base_url)
        issue_tokens(base_url, credentials, CONNECTIONS)
        after = settled(base_url, TOKEN_REQUESTS, CONNECTIONS)

    assert TOKEN_REQUESTS not in first
    assert after[TOKEN_REQUESTS] == CONNECTIONS
    assert (directory / "README").read_text() == "not a metrics file\n"


def test_the_private_metrics_directory_of_several_workers_is_removed_at_exit(
    environment: dict[str, str], tmp_path: Path
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    with running_server({**environment, "TMPDIR": str(temporary)}, "--workers", "2") as base_url:
        scrape(base_url)
        private = list(temporary.glob("authserver-metrics-*"))
        assert len(private) == 1
        assert private[0].stat().st_mode & 0o077 == 0
        assert list(private[0].glob("*.db"))

    assert not list(temporary.glob("authserver-metrics-*"))
