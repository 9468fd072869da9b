"""The client cache: hits and misses remembered for the TTL, both bounded."""

from datetime import timedelta

import pytest

from authserver.clients import cache as cache_module
from authserver.clients.cache import ClientCache
from authserver.clients.models import Client


def counting_loader(known: dict[str, Client]) -> tuple[list[str], ClientCache]:
    asked: list[str] = []

    def load(client_id: str) -> Client | None:
        asked.append(client_id)
        return known.get(client_id)

    return asked, ClientCache(load, timedelta(seconds=60))


def test_an_unknown_client_id_is_looked_up_once_per_ttl() -> None:
    asked, cache = counting_loader({})
    assert not cache.knows("made-up")
    for _ in range(100):
        assert cache.find("made-up") is None
    assert asked == ["made-up"]
    assert cache.knows("made-up")


def test_a_known_client_is_answered_from_memory() -> None:
    client = Client(client_id="svc", name="Service")
    asked, cache = counting_loader({"svc": client})
    assert cache.find("svc") is client
    assert cache.find("svc") is client
    assert asked == ["svc"]


def test_without_a_ttl_nothing_is_remembered() -> None:
    asked: list[str] = []
    cache = ClientCache(lambda client_id: asked.append(client_id), timedelta(0))  # type: ignore[func-returns-value]
    cache.find("x")
    cache.find("x")
    assert asked == ["x", "x"]
    assert not cache.knows("x")


def test_a_flood_of_distinct_made_up_ids_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_module, "_MAX_MISSES", 50)
    _, cache = counting_loader({})
    for number in range(500):
        cache.find(f"made-up-{number}")
    assert len(cache._misses) == 50  # the most recent ones only
    assert cache.knows("made-up-499") and not cache.knows("made-up-0")
