"""GET /statuslists/{id}: a Status List Token; GET /statuslists: every live list's URI
(draft-ietf-oauth-status-list-18 §8.1 and §9, "Status List Aggregation")."""

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from authserver.clock import utcnow
from authserver.http.dependencies import AppServices
from authserver.oauth import json_response
from authserver.statuslists.allocation import list_uri
from authserver.statuslists.publishing import MEDIA_TYPE
from authserver.statuslists.repository import live_list_ids

router = APIRouter()

_LIST_ID_LENGTH = 32


@router.get("/statuslists")
def aggregation(services: AppServices) -> Response:
    with services.database.reading() as db:
        ids = live_list_ids(db, utcnow())
    issuer = services.settings.issuer
    body = {"status_lists": [list_uri(issuer, list_id) for list_id in ids]}
    return json_response(200, body)


@router.get("/statuslists/{list_id}")
async def status_list(list_id: str, request: Request, services: AppServices) -> Response:
    if not _accepts_jwt(request.headers.get("accept")):
        # §8.1: this server publishes the JWT form only (no statuslist+cwt).
        body = {"error": "not_acceptable", "error_description": f"Only {MEDIA_TYPE} is served."}
        return json_response(406, body)
    published = None
    if 0 < len(list_id) <= _LIST_ID_LENGTH:
        published = await run_in_threadpool(services.status_lists.publish, list_id)
    if published is None:
        body = {"error": "not_found", "error_description": "No such status list."}
        return json_response(404, body)
    headers = {
        # §14.2 (caching): consistent with the token's `ttl`; any cache may keep it.
        "Cache-Control": f"public, max-age={services.status_lists.ttl}",
        "ETag": published.etag,
    }
    if published.matches(request.headers.get("if-none-match")):
        return Response(status_code=304, headers=headers)
    return Response(published.token, headers=headers, media_type=MEDIA_TYPE)


def _accepts_jwt(accept: str | None) -> bool:
    if not accept:
        return True
    types = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(types & {MEDIA_TYPE, "*/*", "application/*", "application/jwt"})
