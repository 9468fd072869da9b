"""Every response carries X-Request-ID; forwarding headers count only from trusted proxies;
log lines are JSON objects carrying the request id (issue 10, items 3 and 5)."""

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from authserver.app import create_app
from authserver.context import RequestContext, enter_context, leave_context
from authserver.db import Database
from authserver.logs import JsonFormatter
from authserver.users.models import User
from tests.conftest import ISSUER, make_settings
from tests.flows import csrf_token_of

REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
FREE_ATTEMPTS_PER_ADDRESS = 30


def test_every_response_has_its_own_request_id(http: TestClient) -> None:
    answers = [
        http.get("/healthz"),
        http.get("/no-such-page"),
        http.post("/token", data={"grant_type": "client_credentials"}),
        http.get("/login"),
    ]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert all(REQUEST_ID.match(request_id) for request_id in ids), ids
    assert len(set(ids)) == len(ids)


def test_a_request_id_sent_by_a_client_is_not_adopted(http: TestClient) -> None:
    answer = http.get("/healthz", headers={"X-Request-ID": "client-chosen-id-123"})
    assert REQUEST_ID.match(answer.headers["x-request-id"])


@pytest.fixture
def behind_proxy(database: Database, keys_dir: Path) -> Iterator[TestClient]:
    """The app trusting 10.0.0.0/8, reached from the proxy 10.0.0.2."""
    settings = make_settings(
        database_url=database.url, keys_dir=keys_dir, trusted_proxies="10.0.0.0/8"
    )
    with TestClient(create_app(settings), base_url=ISSUER, client=("10.0.0.2", 4000)) as client:
        yield client


def test_a_trusted_proxy_may_pass_its_request_id(behind_proxy: TestClient) -> None:
    answer = behind_proxy.get("/healthz", headers={"X-Request-ID": "nginx-0123456789abcdef"})
    assert answer.headers["x-request-id"] == "nginx-0123456789abcdef"
    malformed = behind_proxy.get("/healthz", headers={"X-Request-ID": "a b\r\nc"})
    assert REQUEST_ID.match(malformed.headers["x-request-id"])


def failed_sign_in(http: TestClient, number: int, forwarded_for: str) -> int:
    page = http.get("/login")
    form = {"csrf_token": csrf_token_of(page.text), "username": f"u{number}", "password": "x"}
    return http.post("/login", data=form, headers={"X-Forwarded-For": forwarded_for}).status_code


def test_a_client_cannot_escape_the_address_throttle_by_forging_x_forwarded_for(
    http: TestClient, user: User
) -> None:
    # SECURITY-CHECKLIST: throttle per IP; the test client is no trusted proxy.
    statuses = [
        failed_sign_in(http, n, f"198.51.100.{n}") for n in range(FREE_ATTEMPTS_PER_ADDRESS)
    ]
    assert set(statuses) == {200}
    assert failed_sign_in(http, 99, "198.51.100.99") == 429


def test_behind_a_trusted_proxy_each_client_address_is_throttled_on_its_own(
    behind_proxy: TestClient, user: User
) -> None:
    for n in range(FREE_ATTEMPTS_PER_ADDRESS):
        assert failed_sign_in(behind_proxy, n, "198.51.100.1") == 200
    assert failed_sign_in(behind_proxy, 98, "198.51.100.1") == 429
    # Another client behind the same proxy is not held back by the first one.
    assert failed_sign_in(behind_proxy, 99, "198.51.100.2") == 200


def test_a_log_line_is_one_json_object_with_the_request_id() -> None:
    token = enter_context(RequestContext("feedc0de" * 4, "192.0.2.1"))
    try:
        record = logging.LogRecord(
            "authserver.test", logging.INFO, __file__, 1, "hello %s", ("x",), None
        )
        record.fields = {"client_id": "c1"}
        line = JsonFormatter().format(record)
    finally:
        leave_context(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "hello x"
    assert entry["request_id"] == "feedc0de" * 4
    assert entry["client_id"] == "c1"
    assert entry["level"] == "info"
    assert entry["logger"] == "authserver.test"


def test_a_text_log_line_keeps_the_fields() -> None:
    from authserver.logs import TextFormatter

    record = logging.LogRecord(
        "authserver.audit", logging.INFO, __file__, 1, "login.failed", (), None
    )
    record.fields = {"audit": "login.failed", "reason": "password"}
    line = TextFormatter().format(record)
    assert line.startswith("INFO:") and "login.failed" in line
    assert line.endswith("audit=login.failed reason=password")


def test_a_batch_of_records_is_written_once_one_line_each(tmp_path: Path) -> None:
    import io

    from authserver.logs import emit_records

    stream = io.StringIO()
    writes: list[str] = []
    original_write = stream.write

    def counting_write(text: str) -> int:
        writes.append(text)
        return original_write(text)

    stream.write = counting_write  # type: ignore[method-assign]
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("authserver.test-batch")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        records = [
            logger.makeRecord(logger.name, level, "", 0, f"event {n}", (), None, extra=None)
            for n, level in enumerate([logging.INFO, logging.DEBUG, logging.INFO])
        ]
        emit_records(logger, records)
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["event 0", "event 2"]  # DEBUG filtered
    assert len(writes) == 1


def test_a_batched_token_event_is_logged_with_its_request_id_and_time(
    app: FastAPI, registered: tuple[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    client_id, secret = registered
    with (
        caplog.at_level(logging.INFO, logger="authserver"),
        TestClient(app, base_url=ISSUER) as http,
    ):
        answer = http.post(
            "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
        app.state.services.oauth.audit.flush()
    (record,) = [r for r in caplog.records if r.getMessage() == "token.issued"]
    assert record.fields["request_id"] == answer.headers["x-request-id"]  # type: ignore[attr-defined]
    assert record.fields["client_id"] == client_id  # type: ignore[attr-defined]
    assert record.fields["occurred_at"]  # type: ignore[attr-defined]
