"""The Status List byte array (draft-ietf-oauth-status-list-18 §4.1), one bit per token.

Status 0x00 is VALID and 0x01 INVALID (§7.1). The bit of index `i` is bit `i % 8` of byte
`i // 8`, counted from the least significant bit; the array is compressed with DEFLATE in
the ZLIB format (RFC 1950) at the highest level and base64url-encoded without padding.
"""

import base64
import binascii
import zlib
from collections.abc import Iterable

VALID = 0x00
INVALID = 0x01
BITS = 1  # statuses per token: VALID or INVALID; SUSPENDED (0x02) is not used
# The largest list a verifier inflates: 2^24 entries of 8 bits (a decompression bomb
# stops here rather than filling memory).
MAX_DECODED_BYTES = 1 << 24


class StatusListError(ValueError):
    """A `lst` value that is not a well-formed status list."""


def encode(size: int, invalid: Iterable[int]) -> str:
    """`lst` for a list of `size` one-bit entries, those in `invalid` set."""
    array = bytearray((size + 7) // 8)
    for index in invalid:
        if 0 <= index < size:
            array[index >> 3] |= 1 << (index & 7)
    compressed = zlib.compress(bytes(array), level=9)
    return base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")


def decode(lst: str) -> bytes:
    """The byte array a `lst` value holds; StatusListError if it is not one."""
    if not isinstance(lst, str) or not lst:
        raise StatusListError("lst must be a non-empty base64url string")
    try:
        compressed = base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4))
        inflater = zlib.decompressobj()
        array = inflater.decompress(compressed, MAX_DECODED_BYTES)
    except (binascii.Error, ValueError, zlib.error) as error:
        raise StatusListError(f"lst is not base64url ZLIB data: {error}") from None
    if inflater.unconsumed_tail:
        raise StatusListError("lst holds more than the largest list accepted")
    if not inflater.eof:
        raise StatusListError("lst is truncated")
    return array


def status_at(array: bytes, index: int, bits: int = BITS) -> int:
    """The status of `index` (§4.1); IndexError when the list has no such index (§8.3)."""
    if bits not in (1, 2, 4, 8):
        raise StatusListError("bits must be 1, 2, 4 or 8")
    per_byte = 8 // bits
    if index < 0 or index >= len(array) * per_byte:
        raise IndexError(index)
    shift = (index % per_byte) * bits
    return (array[index // per_byte] >> shift) & ((1 << bits) - 1)
