"""Reading a JSON document strictly (RFC 8259): what has one meaning, or an error.

Refused: malformed JSON, a repeated member name (RFC 8259 §4 leaves its meaning open,
and parsers disagree on which value wins), the non-JSON constants NaN and Infinity, and
nesting deep enough to exhaust the parser's stack. Used for the `claims` request
parameter and for client registration documents.
"""

import json
from typing import Any


class StrictJsonError(ValueError):
    """Why a document is refused, in words safe to send back (never the document)."""


def strict_json_object(text: str) -> dict[str, Any]:
    """The JSON object `text` holds; StrictJsonError if it is not exactly that."""
    try:
        value = json.loads(text, object_pairs_hook=_members, parse_constant=_not_json)
    except StrictJsonError:
        raise
    except (ValueError, RecursionError):
        raise StrictJsonError("not valid JSON") from None
    if not isinstance(value, dict):
        raise StrictJsonError("not a JSON object")
    return value


def _members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names = [name for name, _ in pairs]
    if len(set(names)) != len(names):
        raise StrictJsonError("a member name is repeated")
    return dict(pairs)


def _not_json(name: str) -> None:
    raise StrictJsonError(f"{name} is not JSON")
