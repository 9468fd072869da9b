"""HTML pages: Jinja2 templates, our own stylesheet, and the headers every page carries."""

from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from authserver.login.user_agents import browser_label

_templates = Environment(
    loader=PackageLoader("authserver.http", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)

_templates.filters["browser_label"] = browser_label

STYLESHEET_PATH = "/assets/authserver.css"
# Where a person, not a program, is the reader: errors there are pages, not JSON.
PAGE_PATHS = frozenset({"/login", "/authorize", "/logout", "/device", "/account"})
_PAGE_PREFIXES = ("/login/", "/account/")


def is_page_path(path: str) -> bool:
    return path in PAGE_PATHS or path.startswith(_PAGE_PREFIXES)


STYLESHEET = (Path(__file__).parent / "assets" / "authserver.css").read_bytes()
PASSKEYS_SCRIPT_PATH = "/assets/passkeys.js"
PASSKEYS_SCRIPT = (Path(__file__).parent / "assets" / "passkeys.js").read_bytes()
_templates.globals["passkeys_script"] = PASSKEYS_SCRIPT_PATH

# SECURITY-CHECKLIST (HTML): no script (but our own file on the passkey pages, below),
# no framing, no referrer, no sniffing.
# No form-action: Chrome applies it to the redirect that follows a form, which here
# goes to the client's registered redirect_uri.
_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": _POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}
# The pages that offer passkeys: WebAuthn has no HTML form, so these run one script, our
# own file (PASSKEYS_SCRIPT_PATH), never an inline one, and it may fetch from this origin.
SCRIPTED_TEMPLATES = frozenset({"login.html", "second_factor.html", "account.html"})
SCRIPTED_PAGE_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": _POLICY + "; script-src 'self'; connect-src 'self'",
}


def render_page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(template).render(stylesheet=STYLESHEET_PATH, **context)
    scripted = template in SCRIPTED_TEMPLATES and context.get("passkeys_offered", False)
    headers = SCRIPTED_PAGE_HEADERS if scripted else PAGE_HEADERS
    return HTMLResponse(html, status, headers=headers)


def error_page(title: str, message: str, status: int = 400) -> HTMLResponse:
    """A readable page for what cannot be sent back to a client (RFC 6749 §4.1.2.1)."""
    return render_page("error.html", status, title=title, message=message)


def see_other(location: str) -> Response:
    """303 after a form POST, so the browser follows with GET (RFC 9700 §4.12)."""
    return RedirectResponse(location, 303, headers={"Cache-Control": "no-store"})
