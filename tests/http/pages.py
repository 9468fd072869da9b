"""Checks shared by the tests of the server's HTML pages (login, consent, error)."""

from httpx import Response


def csp_directives(response: Response) -> dict[str, list[str]]:
    """The Content-Security-Policy header, as its directives' source lists by name."""
    policy = response.headers["content-security-policy"]
    return {name: values for name, *values in (d.split() for d in policy.split(";"))}


def script_sources(response: Response) -> list[str]:
    """Where the page may load scripts from: script-src, else default-src."""
    directives = csp_directives(response)
    return directives.get("script-src", directives.get("default-src", []))


def assert_page_headers(response: Response) -> None:
    """SECURITY-CHECKLIST (HTML): no framing, inline script, referrer, sniffing, or CORS."""
    headers = response.headers
    directives = csp_directives(response)
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"]
    sources = script_sources(response)
    assert sources, "no script-src nor default-src: any script may run"
    assert "'unsafe-inline'" not in sources
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert "access-control-allow-origin" not in headers
