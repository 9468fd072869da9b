"""Liveness and readiness probes."""

from fastapi import APIRouter
from starlette.responses import JSONResponse

from authserver.http.dependencies import AppServices

router = APIRouter()


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})


@router.get("/readyz")
def readyz(services: AppServices) -> JSONResponse:
    """Ready when the database answers and a current signing key is loaded. Redis is a
    detail, not a condition: without it the server serves on, with limits counted in
    the process (rate limits) and in the database (sign-in throttle)."""
    checks = {"database": services.database.ping(), "signing_key": _has_signing_key(services)}
    ready = all(checks.values())
    return JSONResponse(
        {
            "status": "ready" if ready else "unavailable",
            "checks": checks,
            "details": {**_limits(services.counters.probe()), **_rotation(services)},
        },
        status_code=200 if ready else 503,
        headers={"Cache-Control": "no-store"},
    )


def _limits(redis: str) -> dict[str, str]:
    shared = redis == "ok"
    return {
        "redis": redis,
        "rate_limits": "shared (redis)" if shared else "per process",
        "login_throttle": "shared (redis)" if shared else "shared (database)",
    }


def _rotation(services: AppServices) -> dict[str, str]:
    """A failing scheduled rotation leaves the server ready (it signs with its current
    key) but is said here, so that monitoring sees it before the key is due."""
    schedule = services.rotation
    if not schedule.enabled:
        return {"key_rotation": "off"}
    return {"key_rotation": f"failing: {schedule.failure}" if schedule.failure else "ok"}


def _has_signing_key(services: AppServices) -> bool:
    try:
        return bool(services.keyring.current_kid) and services.keyring.reload_error is None
    except Exception:  # noqa: BLE001 - an unreadable key store means not ready
        return False
