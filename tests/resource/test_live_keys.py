"""The verifier's key cache against a real server whose keys change, or which goes away."""

import time
from datetime import timedelta
from pathlib import Path

import pytest

from authserver.clock import utcnow
from authserver.keys.rotation import rotate_signing_keys
from authserver.keys.store import FileKeyStore
from authserver.resource import InvalidToken, IssuerUnavailable, Verifier
from tests.factories import SERVICE_AUDIENCE
from tests.resource.conftest import LiveIssuer, MakeVerifier, start_issuer
from tests.resource.forge import HEADER, rs256

pytestmark = pytest.mark.e2e


def remove_current_key(live: LiveIssuer) -> str:
    """Rotate with no retention: the current key leaves the JWKS at once (as in an emergency)."""
    store = FileKeyStore(live.keys_dir, None)
    rotation = rotate_signing_keys(
        store, 2048, utcnow(), retention=timedelta(0), min_notice=timedelta(0)
    )
    assert rotation.retired_kid is not None
    return rotation.retired_kid


def test_a_token_signed_by_a_removed_key_is_refused_after_the_next_refetch(
    tmp_path: Path, template_keys_dir: Path, make_verifier: MakeVerifier
) -> None:
    with start_issuer(tmp_path, template_keys_dir) as live:
        old_token = live.access_token()
        verifier, transport = make_verifier(
            live, max_cache=timedelta(seconds=1), min_refetch_interval=timedelta(seconds=1)
        )
        assert verifier.verify(old_token).client_id == live.client_id

        removed_kid = remove_current_key(live)
        new_token = live.access_token()
        # The promoted key was published as `next` before it signed: no fetch needed.
        assert verifier.verify(new_token).client_id == live.client_id
        assert transport.jwks_fetches == 1

        time.sleep(1.1)  # max_cache: the JWKS is stale now, the next verification refetches
        with pytest.raises(InvalidToken, match="kid is not a published key"):
            verifier.verify(old_token)
        assert transport.jwks_fetches == 2
        assert verifier.verify(new_token).client_id == live.client_id

        with pytest.raises(InvalidToken, match="kid is not a published key"):
            make_verifier(live)[0].verify(old_token)
    assert removed_kid not in new_token


def test_a_new_kid_from_a_rotation_nobody_announced_is_fetched_once(
    tmp_path: Path, template_keys_dir: Path, make_verifier: MakeVerifier
) -> None:
    with start_issuer(tmp_path, template_keys_dir) as live:
        verifier, transport = make_verifier(live, min_refetch_interval=timedelta(0))
        verifier.verify(live.access_token())
        for _ in range(2):  # twice: the key signing now was unknown at the first fetch
            remove_current_key(live)

        token = live.access_token()
        assert verifier.verify(token).client_id == live.client_id
        assert verifier.verify(live.access_token()).client_id == live.client_id

    assert transport.jwks_fetches == 2


def test_when_the_jwks_endpoint_is_down_cached_keys_keep_working(
    tmp_path: Path, template_keys_dir: Path, make_verifier: MakeVerifier
) -> None:
    with start_issuer(tmp_path, template_keys_dir) as live:
        tokens = [live.access_token() for _ in range(3)]
        key = live.signing_key()
        unknown = rs256({**HEADER, "kid": "never-published"}, live.claims(), key)
        fresh, fresh_transport = make_verifier(live)
        stale, stale_transport = make_verifier(
            live, max_cache=timedelta(0), min_refetch_interval=timedelta(seconds=1)
        )
        for verifier in (fresh, stale):
            assert verifier.verify(tokens[0]).client_id == live.client_id
    # The server has stopped.

    assert fresh.verify(tokens[1]).client_id == live.client_id
    assert fresh_transport.jwks_fetches == 1

    time.sleep(1.05)  # `stale` holds an expired JWKS and may try again now
    for token in tokens * 10:
        assert stale.verify(token).client_id == live.client_id  # stale-if-error
    assert stale_transport.jwks_fetches == 2  # one failed attempt, then it waits to retry

    with pytest.raises(InvalidToken, match="kid"):
        fresh.verify(unknown)
    with (
        Verifier(live.base_url, SERVICE_AUDIENCE) as cold,
        pytest.raises(IssuerUnavailable),
    ):
        cold.verify(tokens[0])
