"""Every table, imported in one place for Alembic and the tests."""

from authserver.clients.models import Client
from authserver.users.models import User

__all__ = ["Client", "User"]
