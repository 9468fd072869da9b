"""The upstream providers the login page offers."""

from dataclasses import dataclass

from sqlmodel import Session, col, select

from authserver.upstream.models import UpstreamProvider


@dataclass(frozen=True)
class ProviderButton:
    name: str
    display_name: str


def provider_buttons(db: Session) -> list[ProviderButton]:
    statement = select(UpstreamProvider.name, UpstreamProvider.display_name).order_by(
        col(UpstreamProvider.display_name)
    )
    return [ProviderButton(name, display_name) for name, display_name in db.exec(statement)]
