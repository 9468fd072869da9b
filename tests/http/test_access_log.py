"""The access log names a request's query parameters but never their values: an
id_token_hint, a login_hint or a client_secret in a URL stays out of the log
(SECURITY-CHECKLIST, Keys: no keys, secrets, codes, tokens in logs; issue 14, item 3)."""

import io
import json
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from authserver.logs import JsonFormatter, TextFormatter, redacted_query
from tests.factories import WEB_APP_LOGOUT_URI
from tests.flows import Grant, authorize_path


@dataclass(frozen=True)
class AccessLog:
    """What the `authserver.access` logger wrote, as JSON lines and as text lines."""

    json_stream: io.StringIO
    text_stream: io.StringIO

    @property
    def entries(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.json_stream.getvalue().splitlines()]

    @property
    def written(self) -> str:
        return self.json_stream.getvalue() + self.text_stream.getvalue()

    def entry_for(self, method: str, path: str) -> dict[str, object]:
        found = [e for e in self.entries if e["method"] == method and e["path"] == path]
        assert len(found) == 1, self.entries
        return found[0]


@pytest.fixture
def access_log() -> Iterator[AccessLog]:
    logger = logging.getLogger("authserver.access")
    log = AccessLog(io.StringIO(), io.StringIO())
    handlers = []
    formats: list[tuple[io.StringIO, logging.Formatter]] = [
        (log.json_stream, JsonFormatter()),
        (log.text_stream, TextFormatter()),
    ]
    for stream, formatter in formats:
        handler = logging.StreamHandler(stream)
        handler.setFormatter(formatter)
        handlers.append(handler)
        logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        yield log
    finally:
        logger.setLevel(level)
        for handler in handlers:
            logger.removeHandler(handler)


def test_a_secret_in_a_query_string_never_reaches_the_access_log(
    http: TestClient, grant: Grant, access_log: AccessLog
) -> None:
    login_hint = f"alice+{secrets.token_hex(8)}@example.test"
    stray_secret = secrets.token_urlsafe(32)
    authorize = authorize_path(grant.client_id, login_hint=login_hint, id_token_hint=grant.id_token)
    http.get(authorize, follow_redirects=False)
    # OIDC RP-Initiated Logout 1.0 §2: the id_token_hint travels in the query string.
    logout = {"id_token_hint": grant.id_token, "post_logout_redirect_uri": WEB_APP_LOGOUT_URI}
    assert http.get("/logout", params=logout, follow_redirects=False).status_code == 303
    # A client that misplaces credentials in the URL of a hot path, and a bare token
    # sent as if it were a parameter name, with a forged log line after it.
    wrong = urlencode({"client_secret": stray_secret, "refresh_token": grant.refresh_token})
    http.post(f"/token?{wrong}", data={"grant_type": "client_credentials"})
    http.get(f"/authorize?{grant.access_token}&x=1%0Aforged")

    written = access_log.written
    for value in (login_hint, grant.id_token, stray_secret, grant.refresh_token):
        assert value not in written
    assert grant.access_token not in written and "forged" not in written
    assert access_log.entry_for("GET", "/logout")["query"] == (
        "id_token_hint=[redacted]&post_logout_redirect_uri=[redacted]"
    )
    assert access_log.entry_for("POST", "/token")["query"] == (
        "client_secret=[redacted]&refresh_token=[redacted]"
    )
    authorize_entries = [e for e in access_log.entries if e["path"] == "/authorize"]
    assert [e["query"] for e in authorize_entries] == [
        "response_type=[redacted]&client_id=[redacted]&redirect_uri=[redacted]&scope=[redacted]"
        "&state=[redacted]&code_challenge=[redacted]&code_challenge_method=[redacted]"
        "&login_hint=[redacted]&id_token_hint=[redacted]",
        "[redacted]&x=[redacted]",
    ]
    assert "query=id_token_hint=[redacted]&post_logout_redirect_uri=[redacted]" in (
        access_log.text_stream.getvalue()
    )


def test_a_request_without_a_query_string_has_no_query_in_its_access_log_line(
    http: TestClient, access_log: AccessLog
) -> None:
    assert http.get("/healthz").status_code == 200
    assert "query" not in access_log.entry_for("GET", "/healthz")


@pytest.mark.parametrize(
    ("query", "logged"),
    [
        (b"client_id=abc&state=xyz", "client_id=[redacted]&state=[redacted]"),
        # An empty value tells nothing: it stays empty, and so does a bare name.
        (b"prompt=&debug", "prompt=&debug"),
        (b"a=b=c&d=%26", "a=[redacted]&d=[redacted]"),
        # Names that do not look like a parameter name are redacted with their value:
        # too long (one of our tokens), percent-encoded, non-ASCII, empty.
        (b"x" * 33 + b"=1", "[redacted]=[redacted]"),
        (b"x%0Ay=1&ok=2", "[redacted]=[redacted]&ok=[redacted]"),
        ("nom\u00e9=1".encode(), "[redacted]=[redacted]"),
        (b"a=1&&b=2", "a=[redacted]&&b=[redacted]"),
        (b"&".join([b"p=1"] * 40), "&".join(["p=[redacted]"] * 32) + "&[8 more]"),
        (b"\xff\xfe=\xff", "[redacted]=[redacted]"),
    ],
)
def test_a_query_string_is_logged_with_its_names_and_without_its_values(
    query: bytes, logged: str
) -> None:
    assert redacted_query(query) == logged
