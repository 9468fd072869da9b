"""Why a sign-in with an upstream provider stops.

UpstreamError            the page says `public`; the log says the message
└── UnknownKeyError      the id_token names a key the cached JWKS lacks (refetch once)
"""


class UpstreamError(Exception):
    """A sign-in that cannot go on. The message is for the log (it names the provider's
    URL or the check that failed, never a code, token or secret); `public` is what the
    person reads, and `status` the page's HTTP status."""

    def __init__(self, message: str, public: str | None = None, status: int = 502) -> None:
        super().__init__(message)
        self.public = public or "The sign-in could not be completed. Please try again."
        self.status = status


class UnknownKeyError(UpstreamError):
    """The id_token's `kid` is not in the provider's JWKS as we hold it."""
