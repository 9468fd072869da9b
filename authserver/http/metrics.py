"""GET /metrics: the Prometheus scrape, behind a bearer token when one is configured."""

import hmac

from fastapi import APIRouter, Request
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import SecretStr
from starlette.responses import Response

from authserver.clock import utcnow
from authserver.http.dependencies import AppServices
from authserver.metrics import render_metrics
from authserver.oauth import json_response

router = APIRouter()


@router.get("/metrics")
def metrics(request: Request, services: AppServices) -> Response:
    """Plain `def`: in multiprocess mode a scrape reads every worker's files."""
    settings = services.settings
    expected = settings.metrics_token
    if expected is not None and not _bears(request.headers.get("authorization"), expected):
        return json_response(401, {"error": "invalid_token"}, [("WWW-Authenticate", "Bearer")])
    body = render_metrics(
        services.keyring.records,
        rotation_interval=settings.keys_rotation_interval,
        next_key_notice=settings.next_key_notice,
        now=utcnow(),
    )
    return Response(body, headers={"Cache-Control": "no-store"}, media_type=CONTENT_TYPE_LATEST)


def _bears(authorization: str | None, expected: SecretStr) -> bool:
    """Whether the header is `Bearer <expected>`, compared in constant time."""
    scheme, _, presented = (authorization or "").partition(" ")
    # RFC 9110 §11.1: the scheme is case-insensitive.
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(
        presented.strip().encode("utf-8"), expected.get_secret_value().encode("utf-8")
    )
