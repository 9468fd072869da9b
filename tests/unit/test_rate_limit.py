"""The per-client token bucket of /revoke and /introspect."""

from authserver.clients.rate_limit import ClientRateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_client_gets_a_burst_then_the_steady_rate_and_others_are_not_affected() -> None:
    clock = Clock()
    limit = ClientRateLimit(5, clock)
    assert [limit.retry_after("a") for _ in range(10)] == [None] * 10  # a burst of 2 x 5
    wait = limit.retry_after("a")
    assert wait is not None and 0 < wait <= 0.2
    assert limit.retry_after("b") is None
    clock.now += 0.2
    assert limit.retry_after("a") is None


def test_zero_turns_the_limit_off() -> None:
    limit = ClientRateLimit(0)
    assert all(limit.retry_after("a") is None for _ in range(10_000))
