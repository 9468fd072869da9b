"""What a browser brings to the HTML endpoints: its cookies, its address, its form.

Cookies are `HttpOnly; SameSite=Lax; Path=/`, and with an https issuer also `Secure`
with the `__Host-` prefix (SECURITY-CHECKLIST).
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from authserver.errors import OAuth2Error
from authserver.factors.pending import PENDING_TTL
from authserver.http.forms import read_oauth_form
from authserver.login.csrf import new_browser_secret
from authserver.login.devices import DEVICE_TTL
from authserver.login.models import LoginSession
from authserver.login.sessions import find_active_session
from authserver.settings import Settings

SESSION_COOKIE = "authserver_session"
CSRF_COOKIE = "authserver_csrf"
DEVICE_COOKIE = "authserver_device"
# A sign-in whose first factor was proved, waiting for the second (factors/pending.py).
PENDING_COOKIE = "authserver_pending"
_CSRF_COOKIE_LIFETIME = timedelta(days=1)


class BadFormError(ValueError):
    """The body of a page's form is not one we could have sent."""


@dataclass(frozen=True)
class Browser:
    session_secret: str | None
    device_secret: str | None
    csrf_secret: str
    csrf_secret_is_new: bool
    address: str
    settings: Settings
    pending_secret: str | None = None
    user_agent: str | None = None

    @classmethod
    def of(cls, request: Request) -> "Browser":
        settings: Settings = request.app.state.services.settings
        prefix = settings.cookie_prefix
        csrf_secret = request.cookies.get(prefix + CSRF_COOKIE)
        return cls(
            session_secret=request.cookies.get(prefix + SESSION_COOKIE),
            device_secret=request.cookies.get(prefix + DEVICE_COOKIE),
            csrf_secret=csrf_secret or new_browser_secret(),
            csrf_secret_is_new=not csrf_secret,
            address=request.client.host if request.client else "unknown",
            settings=settings,
            pending_secret=request.cookies.get(prefix + PENDING_COOKIE),
            user_agent=request.headers.get("user-agent"),
        )

    def active_session(self, db: Session, now: datetime) -> LoginSession | None:
        """The live sign-in session this browser's cookie names, if any."""
        return find_active_session(db, self.session_secret, now, self.settings.session_idle_ttl)

    def keep_csrf_secret(self, response: Response) -> Response:
        """Set the CSRF cookie if the browser did not have one yet."""
        if self.csrf_secret_is_new:
            self._set(response, CSRF_COOKIE, self.csrf_secret, _CSRF_COOKIE_LIFETIME)
        return response

    def set_session(self, response: Response, secret: str) -> Response:
        self._set(response, SESSION_COOKIE, secret, self.settings.session_ttl)
        return response

    def set_device(self, response: Response, secret: str) -> Response:
        """This browser is known to the account it signed in to (login/devices.py); the
        cookie outlives sign-outs."""
        self._set(response, DEVICE_COOKIE, secret, DEVICE_TTL)
        return response

    def set_pending(self, response: Response, secret: str) -> Response:
        self._set(response, PENDING_COOKIE, secret, PENDING_TTL)
        return response

    def clear_session(self, response: Response) -> Response:
        return self._clear(response, SESSION_COOKIE)

    def clear_pending(self, response: Response) -> Response:
        return self._clear(response, PENDING_COOKIE)

    def _clear(self, response: Response, name: str) -> Response:
        response.delete_cookie(
            self.settings.cookie_prefix + name,
            path="/",
            secure=self.settings.issuer_is_https,
            httponly=True,
            samesite="lax",
        )
        return response

    def _set(self, response: Response, name: str, value: str, lifetime: timedelta) -> None:
        response.set_cookie(
            self.settings.cookie_prefix + name,
            value,
            max_age=int(lifetime.total_seconds()),
            path="/",
            secure=self.settings.issuer_is_https,
            httponly=True,
            samesite="lax",
        )


async def read_page_form(request: Request) -> list[tuple[str, str]]:
    """A page's form body, read as strictly as an OAuth form (size, fields, UTF-8)."""
    try:
        return await read_oauth_form(request)
    except OAuth2Error:
        raise BadFormError("unreadable form") from None
