"""The body of a registration or update request (RFC 7591 §3.1, RFC 7592 §2.2): one JSON
object (RFC 8259) in UTF-8, read strictly.

Refused, as `invalid_client_metadata`: another media type, more than `MAX_DOCUMENT_BYTES`,
bytes that are not UTF-8, malformed JSON, NaN or Infinity, a repeated member name (RFC 8259
§4 leaves its meaning open), anything but an object at the top, and a NUL or a lone surrogate
in any string (no database column or JSON encoder downstream could hold them).
"""

import json
from dataclasses import dataclass
from typing import Any

from authserver.errors import InvalidClientMetadataError

MAX_DOCUMENT_BYTES = 64 * 1024
JSON_TYPE = "application/json"


@dataclass(frozen=True)
class MetadataDocument:
    """A request body as it arrived, parsed only once the caller is authenticated."""

    content_type: str | None
    body: bytes
    too_large: bool = False  # more than MAX_DOCUMENT_BYTES came or were announced


class _Refused(ValueError):
    pass


def parse_metadata(document: MetadataDocument) -> dict[str, Any]:
    if not _is_json(document.content_type):
        raise InvalidClientMetadataError(f"The request body must be {JSON_TYPE}.")
    if document.too_large or len(document.body) > MAX_DOCUMENT_BYTES:
        raise InvalidClientMetadataError(
            f"The request body is larger than {MAX_DOCUMENT_BYTES} bytes."
        )
    try:
        value = json.loads(
            document.body.decode("utf-8"),
            object_pairs_hook=_object_without_repeats,
            parse_constant=_refuse_constant,
        )
        _check_strings(value)
    except _Refused as refusal:
        raise InvalidClientMetadataError(f"The request body is refused: {refusal}.") from None
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidClientMetadataError("The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise InvalidClientMetadataError("The request body must be a JSON object.")
    return value


def _is_json(content_type: str | None) -> bool:
    media_type, *parameters = (content_type or "").split(";")
    charset_ok = all(
        p.strip().lower() in ("charset=utf-8", 'charset="utf-8"') for p in parameters if p.strip()
    )
    return media_type.strip().lower() == JSON_TYPE and charset_ok


def _object_without_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise _Refused("a member name is repeated")
    return dict(pairs)


def _refuse_constant(name: str) -> None:
    raise _Refused(f"{name} is not JSON")


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
            raise _Refused("a string holds a NUL or a lone surrogate")


def _storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
