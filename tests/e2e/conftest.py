"""Fixtures of the end-to-end tests: a headless Chromium for the browser tests."""

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.e2e.browser import ChromiumUnavailableError, headless_chromium


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """One browser for this module; its Playwright event loop ends before other modules run."""
    try:
        with headless_chromium() as browser:
            yield browser
    except ChromiumUnavailableError as error:
        pytest.skip(str(error))
