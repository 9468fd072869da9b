"""The body of a registration or update request (RFC 7591 §3.1, RFC 7592 §2.2): one JSON
object (RFC 8259) in UTF-8, read strictly.

Refused, as `invalid_client_metadata`: another media type, more than `MAX_DOCUMENT_BYTES`,
bytes that are not UTF-8, malformed JSON, NaN or Infinity, a repeated member name (RFC 8259
§4 leaves its meaning open), anything but an object at the top, and a NUL or a lone surrogate
in any string (no database column or JSON encoder downstream could hold them).
"""

from dataclasses import dataclass
from typing import Any

from authserver.errors import InvalidClientMetadataError
from authserver.strict_json import StrictJsonError, strict_json_object

MAX_DOCUMENT_BYTES = 64 * 1024
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class MetadataDocument:
    """A request body as it arrived, parsed only once the caller is authenticated."""

    content_type: str | None
    body: bytes
    too_large: bool = False  # more than MAX_DOCUMENT_BYTES came or were announced


def parse_metadata(document: MetadataDocument) -> dict[str, Any]:
    if not _is_json(document.content_type):
        raise InvalidClientMetadataError(f"The request body must be {JSON_TYPE}.")
    if document.too_large or len(document.body) > MAX_DOCUMENT_BYTES:
        raise InvalidClientMetadataError(
            f"The request body is larger than {MAX_DOCUMENT_BYTES} bytes."
        )
    try:
        value = strict_json_object(document.body.decode("utf-8"))
        _check_strings(value)
    except UnicodeDecodeError:
        raise InvalidClientMetadataError("The request body is not UTF-8.") from None
    except StrictJsonError as refusal:
        raise InvalidClientMetadataError(f"The request body is refused: {refusal}.") from None
    return value


def _is_json(content_type: str | None) -> bool:
    media_type, *parameters = (content_type or "").split(";")
    charset_ok = all(
        p.strip().lower() in ("charset=utf-8", 'charset="utf-8"') for p in parameters if p.strip()
    )
    return media_type.strip().lower() == JSON_TYPE and charset_ok


def _check_strings(value: Any) -> None:
    """Walk the parsed document (without recursion: nesting is bounded only by its size)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str) and not _storable(item):
            raise StrictJsonError("a string holds a NUL or a lone surrogate")


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
