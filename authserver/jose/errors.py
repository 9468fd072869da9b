"""Why a JWT was refused."""


class JwtRejected(ValueError):
    """The token is not acceptable. The message says which check failed and is safe to
    show the caller: it never repeats the token or any part of it."""
