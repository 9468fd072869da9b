"""The account page names each session's browser as a person would."""

import pytest

from authserver.login.user_agents import browser_label

CHROME_LINUX = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"
)
EDGE_WINDOWS = CHROME_LINUX.replace("X11; Linux x86_64", "Windows NT 10.0; Win64; x64") + (
    " Edg/131.0.0.0"
)


@pytest.mark.parametrize(
    ("header", "label"),
    [
        (CHROME_LINUX, "Chrome on Linux"),
        (SAFARI_IPHONE, "Safari on iOS"),
        (EDGE_WINDOWS, "Edge on Windows"),
        (
            "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
            "Firefox on Android",
        ),
        ("curl/8.5.0", "curl"),
        ("testclient", "testclient"),
        (None, "Unknown browser"),
        ("", "Unknown browser"),
    ],
)
def test_a_browser_is_named_by_its_kind_and_system(header: str | None, label: str) -> None:
    assert browser_label(header) == label
