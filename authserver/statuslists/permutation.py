"""Which index the n-th token of a list gets: a keyed pseudo-random permutation.

The draft's privacy considerations (draft-ietf-oauth-status-list-18 §13.2, §12.5) ask
that indexes not reveal issue order. Allocation hands out sequence numbers in blocks
(cheap, one counter per list); this permutation maps sequence numbers to indexes: a
four-round Feistel network on the smallest even number of bits that covers the list,
keyed with the list's own random key (BLAKE2b as the round function), and cycle-walking
to stay below the list's size. Distinct sequence numbers always give distinct indexes.
"""

import hashlib


class IndexPermutation:
    ROUNDS = 4

    def __init__(self, key: bytes, size: int) -> None:
        if size < 2:
            raise ValueError("a list holds at least two entries")
        self.size = size
        half = ((size - 1).bit_length() + 1) // 2
        self._half_bits = half
        self._mask = (1 << half) - 1
        self._keys = [
            hashlib.blake2b(key=key, person=b"statuslist%d" % number, digest_size=8)
            for number in range(self.ROUNDS)
        ]

    def index(self, sequence: int) -> int:
        if not 0 <= sequence < self.size:
            raise ValueError("sequence number outside the list")
        value = sequence
        while True:  # cycle-walking: at most a few steps, the domain is under 4 times the size
            value = self._encrypt(value)
            if value < self.size:
                return value

    def _encrypt(self, value: int) -> int:
        left, right = value >> self._half_bits, value & self._mask
        for keyed in self._keys:
            digest = keyed.copy()
            digest.update(right.to_bytes(8, "big"))
            left, right = right, left ^ (int.from_bytes(digest.digest(), "big") & self._mask)
        return (left << self._half_bits) | right
