"""Our stylesheet: the only asset pages load (no third-party assets, SECURITY-CHECKLIST)."""

from fastapi import APIRouter
from starlette.responses import Response

from authserver.http.pages import STYLESHEET, STYLESHEET_PATH

router = APIRouter()


@router.get(STYLESHEET_PATH)
async def stylesheet() -> Response:
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(STYLESHEET, media_type="text/css", headers=headers)
