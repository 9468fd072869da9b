"""Reading an OAuth form body strictly (RFC 6749 §3.1, Appendix B).

application/x-www-form-urlencoded only, at most 16 KiB and 64 fields, strict UTF-8;
a repeated parameter is an error (only RFC 8707 `resource` and RFC 8693 `audience` may
repeat); a parameter without a value counts as absent.
"""

from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.types import Receive

from authserver.errors import InvalidRequestError

MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 64
REPEATABLE = frozenset({"resource", "audience"})
_FORM_TYPE = "application/x-www-form-urlencoded"


async def read_oauth_form(request: Request) -> list[tuple[str, str]]:
    headers = request.headers
    _check_content_type(headers.get("content-type"))
    _check_declared_length(headers.get("content-length", "0"))
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise InvalidRequestError("The request body is too large.")
        chunks.append(chunk)
    return parse_oauth_form(b"".join(chunks))


async def receive_oauth_form(
    content_type: str | None, content_length: str | None, receive: Receive
) -> list[tuple[str, str]]:
    """The same, from a raw ASGI `receive` (the hot endpoints, `http.hot`)."""
    _check_content_type(content_type)
    _check_declared_length(content_length or "0")
    body = b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise InvalidRequestError("The request body did not arrive.")
        body += message.get("body", b"")
        if len(body) > MAX_BODY_BYTES:
            raise InvalidRequestError("The request body is too large.")
        if not message.get("more_body", False):
            return parse_oauth_form(body)


def parse_oauth_form(body: bytes) -> list[tuple[str, str]]:
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            strict_parsing=bool(text),
            max_num_fields=MAX_FIELDS,
            errors="strict",
        )
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("The request body is not a valid UTF-8 form.") from None
    present = [(name, value) for name, value in pairs if value]
    reject_nul(present)
    _reject_repeats(present)
    return present


def reject_nul(pairs: list[tuple[str, str]]) -> None:
    """No parameter of ours can hold a NUL; PostgreSQL text could not even store one."""
    if any("\x00" in name or "\x00" in value for name, value in pairs):
        raise InvalidRequestError("A request parameter contains a NUL character.")


def _check_content_type(content_type: str | None) -> None:
    media_type, *parameters = (content_type or "").split(";")
    charset_ok = all(
        p.strip().lower() in ("charset=utf-8", 'charset="utf-8"') for p in parameters if p.strip()
    )
    if media_type.strip().lower() != _FORM_TYPE or not charset_ok:
        raise InvalidRequestError(f"The request body must be {_FORM_TYPE} in UTF-8.")


def _check_declared_length(declared: str) -> None:
    # ASCII digits only: str.isdigit() also takes '²', which int() refuses.
    if not (declared.isascii() and declared.isdigit()) or int(declared) > MAX_BODY_BYTES:
        raise InvalidRequestError("The request body is too large.")


def _reject_repeats(pairs: list[tuple[str, str]]) -> None:
    seen: set[str] = set()
    for name, _ in pairs:
        if name in seen and name not in REPEATABLE:
            raise InvalidRequestError("A request parameter is repeated.")
        seen.add(name)
