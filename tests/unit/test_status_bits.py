"""The Status List byte array and the index permutation (draft-ietf-oauth-status-list-18
§4.1 and the privacy considerations of §13), checked with Hypothesis."""

import base64
import itertools
import os
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authserver.statuslists import bits
from authserver.statuslists.permutation import IndexPermutation


@given(st.integers(min_value=1, max_value=5000), st.data())
def test_encoding_sets_exactly_the_invalid_bits_lsb_first(size: int, data: st.DataObject) -> None:
    invalid = data.draw(st.sets(st.integers(min_value=0, max_value=size - 1)))
    array = bits.decode(bits.encode(size, invalid))
    assert len(array) == (size + 7) // 8
    assert {i for i in range(size) if bits.status_at(array, i)} == invalid


def test_the_draft_example_reads_back() -> None:
    """§4.1's example: statuses 1,0,0,1,1,1,0,1 | 1,1,0,0,0,1,0,1 are bytes 0xB9 0xA3."""
    lst = base64.urlsafe_b64encode(zlib.compress(bytes([0xB9, 0xA3]))).rstrip(b"=").decode()
    array = bits.decode(lst)
    assert [bits.status_at(array, i) for i in range(16)] == [
        1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1,
    ]  # fmt: skip
    assert bits.encode(16, [0, 3, 4, 5, 7, 8, 9, 13, 15]) == bits.encode(
        16, [15, 0, 3, 4, 5, 7, 8, 9, 13]
    )
    assert bits.decode(bits.encode(16, [0, 3, 4, 5, 7, 8, 9, 13, 15])) == bytes([0xB9, 0xA3])


@pytest.mark.parametrize(
    "lst",
    ["", "!!!", base64.urlsafe_b64encode(b"not zlib").decode(), 7],
)
def test_a_malformed_lst_is_refused(lst: object) -> None:
    with pytest.raises(bits.StatusListError):
        bits.decode(lst)  # type: ignore[arg-type]


def test_a_decompression_bomb_is_refused() -> None:
    bomb = zlib.compress(bytes(bits.MAX_DECODED_BYTES + 1))
    with pytest.raises(bits.StatusListError, match="largest"):
        bits.decode(base64.urlsafe_b64encode(bomb).decode())


def test_a_truncated_lst_is_refused() -> None:
    whole = zlib.compress(os.urandom(1000))
    with pytest.raises(bits.StatusListError, match="truncated"):
        bits.decode(base64.urlsafe_b64encode(whole[:-10]).decode())


def test_an_index_past_the_end_is_an_error_never_a_status() -> None:
    array = bits.decode(bits.encode(16, []))
    assert bits.status_at(array, 15) == bits.VALID
    for outside in (16, 10**9, -1):
        with pytest.raises(IndexError):
            bits.status_at(array, outside)


@settings(max_examples=60)
@given(st.integers(min_value=2, max_value=3000), st.binary(min_size=16, max_size=16))
def test_the_permutation_is_a_bijection_onto_the_list(size: int, key: bytes) -> None:
    permutation = IndexPermutation(key, size)
    assert sorted(permutation.index(n) for n in range(size)) == list(range(size))


def test_the_permutation_hides_issue_order_and_depends_on_the_key() -> None:
    size = 1 << 20
    first, second = IndexPermutation(b"k" * 16, size), IndexPermutation(b"j" * 16, size)
    run = [first.index(n) for n in range(1000)]
    rises = sum(1 for a, b in itertools.pairwise(run) if b > a)
    assert 400 < rises < 600
    assert run != [second.index(n) for n in range(1000)]
    with pytest.raises(ValueError):
        first.index(size)
