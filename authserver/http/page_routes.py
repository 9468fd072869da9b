"""One route for a page's GET and its form's POST, so that a 405 names both in `Allow`
(RFC 9110 §15.5.6): the GET shows the page for a same-origin `next`, the POST answers the
form; both run in a worker thread, and the browser keeps its CSRF cookie."""

from collections.abc import Callable

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from authserver.http.browser import BadFormError, Browser, read_page_form
from authserver.http.login import safe_next
from authserver.http.pages import error_page
from authserver.services import Services

Show = Callable[[Services, Browser, str | None], Response]
Answer = Callable[[Services, Browser, dict[str, str]], Response]


async def page_or_form(request: Request, show: Show, answer: Answer, title: str) -> Response:
    browser = Browser.of(request)
    services: Services = request.app.state.services
    if request.method == "POST":
        try:
            form = dict(await read_page_form(request))
        except BadFormError:
            return error_page(title, "The form could not be read. Please try again.")
        response = await run_in_threadpool(answer, services, browser, form)
    else:
        next_path = safe_next(request.query_params.get("next"))
        response = await run_in_threadpool(show, services, browser, next_path)
    return browser.keep_csrf_secret(response)
