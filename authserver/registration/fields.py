"""Reading one client metadata field (RFC 7591 §2) for its JSON type, and the errors of a
field that is wrong (§3.2.2): `invalid_client_metadata` naming the field, never its value.

A field that is absent or JSON null is the same: RFC 7592 §2.2 treats an omitted field as
null, and a server may ignore any null or empty value.
"""

import re
from collections.abc import Mapping

from authserver.errors import InvalidClientMetadataError
from authserver.uris import MAX_URI_LENGTH, web_url_problem

Metadata = Mapping[str, object]

MAX_TEXT_LENGTH = 200
MAX_LIST_ITEMS = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# RFC 6749 §5.2: an error_description is %x20-21 / %x23-5B / %x5D-7E.
_NOT_IN_DESCRIPTION = re.compile(r"[^\x20-\x21\x23-\x5b\x5d-\x7e]")


def invalid(field: str, problem: str) -> InvalidClientMetadataError:
    return InvalidClientMetadataError(description(field, problem))


def description(field: str, problem: str) -> str:
    """`field: problem`, within the characters an error_description may hold."""
    message = f"{field}: {problem}".replace("'\\'", "a backslash").replace("\\", "backslash")
    message = message.replace('"', "'")
    return _NOT_IN_DESCRIPTION.sub("?", message)


def text(metadata: Metadata, field: str, max_length: int = MAX_TEXT_LENGTH) -> str | None:
    """A string of 1 to `max_length` characters without control characters, or None."""
    value = metadata.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(field, "must be a string")
    return _checked_text(field, value, max_length)


def texts(metadata: Metadata, field: str, max_length: int = MAX_TEXT_LENGTH) -> list[str] | None:
    """An array of such strings (at most `MAX_LIST_ITEMS`, repeats dropped), or None."""
    values = strings(metadata, field)
    if values is None:
        return None
    return list(dict.fromkeys(_checked_text(field, value, max_length) for value in values))


def strings(metadata: Metadata, field: str) -> list[str] | None:
    """An array of at most `MAX_LIST_ITEMS` strings, as sent, or None."""
    value = metadata.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise invalid(field, "must be an array of strings")
    if len(value) > MAX_LIST_ITEMS:
        raise invalid(field, f"must have at most {MAX_LIST_ITEMS} entries")
    return value


def https_url(metadata: Metadata, field: str) -> str | None:
    """An absolute https URL with a host, no userinfo and no fragment, or None."""
    value = text(metadata, field, MAX_URI_LENGTH)
    if value is None:
        return None
    if problem := web_url_problem(value, ("https",)):
        raise invalid(field, problem)
    return value


def _checked_text(field: str, value: str, max_length: int) -> str:
    if not value.strip() or len(value) > max_length:
        raise invalid(field, f"must have 1 to {max_length} characters")
    if _CONTROL.search(value):
        raise invalid(field, "must not contain control characters")
    return value
