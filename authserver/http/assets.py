"""Our stylesheet and the passkey pages' script: the only assets pages load (no
third-party assets, SECURITY-CHECKLIST)."""

from fastapi import APIRouter
from starlette.responses import Response

from authserver.http.pages import (
    PASSKEYS_SCRIPT,
    PASSKEYS_SCRIPT_PATH,
    STYLESHEET,
    STYLESHEET_PATH,
)

router = APIRouter()
_HEADERS = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}


@router.get(STYLESHEET_PATH)
async def stylesheet() -> Response:
    return Response(STYLESHEET, media_type="text/css", headers=_HEADERS)


@router.get(PASSKEYS_SCRIPT_PATH)
async def passkeys_script() -> Response:
    return Response(PASSKEYS_SCRIPT, media_type="text/javascript", headers=_HEADERS)
