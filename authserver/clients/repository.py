"""Client storage. Flushes, never commits: the caller owns the transaction."""

from collections.abc import Sequence

from sqlmodel import Session, select

from authserver.clients.models import Client
from authserver.clock import utcnow
from authserver.statuslists.revocation import revoke_client_statuses


class ClientRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, client_id: str) -> Client | None:
        return self.session.get(Client, client_id)

    def add(self, client: Client) -> Client:
        self.session.add(client)
        self.session.flush()
        return client

    def list(self) -> Sequence[Client]:
        return self.session.exec(select(Client).order_by(Client.created_at)).all()

    def find_by_name(self, name: str) -> Client | None:
        return self.session.exec(select(Client).where(Client.name == name)).first()

    def delete(self, client_id: str) -> bool:
        """Remove the client; every token it was given is revoked in its status list
        first (its token families then go with it: ON DELETE CASCADE)."""
        client = self.get(client_id)
        if client is None:
            return False
        revoke_client_statuses(self.session, client_id, utcnow())
        self.session.delete(client)
        self.session.flush()
        return True
