"""Adding and removing upstream providers: `authserver upstreams ...`, and the one
provider AUTHSERVER_UPSTREAM_* may define, upserted at start (docs/upstream-sign-in.md).

The client secret is sealed at rest (`authserver.sealing`), bound to the provider's name.
Nothing here talks to the provider: a wrong issuer shows at the first sign-in.
"""

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from authserver.audit import record_event
from authserver.clock import utcnow
from authserver.db import Database
from authserver.errors import AuthserverError, ConfigurationError
from authserver.resource.discovery import check_issuer
from authserver.sealing import Sealer, SealError
from authserver.settings import Settings
from authserver.upstream.models import UpstreamProvider
from authserver.upstream.repository import ProviderRepository
from authserver.upstream.signin import secret_context

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# RFC 6749 §3.3: scope tokens are %x21 / %x23-5B / %x5D-7E.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
MAX_SECRET_LENGTH = 512
DEFAULT_SCOPE = "openid profile email"


class ProviderSpecError(ValueError):
    """A provider that cannot be added; `field` names the option or setting at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ProviderSpec:
    issuer: str
    client_id: str
    client_secret: str | None = None
    name: str | None = None
    display_name: str | None = None
    scope: str = DEFAULT_SCOPE
    link_by_verified_email: bool = False


def validate(spec: ProviderSpec, development: bool) -> ProviderSpec:
    """The spec with its name and display name filled in; ProviderSpecError if bad."""
    _check_issuer(spec.issuer, development)
    if not 1 <= len(spec.client_id) <= 255 or not spec.client_id.isprintable():
        raise ProviderSpecError("client_id", "must be 1 to 255 printable characters")
    if spec.client_secret is not None and not 1 <= len(spec.client_secret) <= MAX_SECRET_LENGTH:
        raise ProviderSpecError("client_secret", f"must be 1 to {MAX_SECRET_LENGTH} characters")
    name = spec.name if spec.name is not None else _name_of(spec.issuer)
    if not NAME.fullmatch(name):
        raise ProviderSpecError(
            "name", "must be 1 to 64 of a-z, 0-9, - and _, a letter or digit first"
        )
    display_name = spec.display_name or urlsplit(spec.issuer).netloc
    if len(display_name) > 100 or not display_name.isprintable():
        raise ProviderSpecError("display_name", "must be 1 to 100 printable characters")
    tokens = spec.scope.split(" ")
    if "openid" not in tokens or not all(_SCOPE_TOKEN.fullmatch(t) for t in tokens):
        raise ProviderSpecError("scope", 'must be space-separated scope tokens with "openid"')
    if len(spec.scope) > 500:
        raise ProviderSpecError("scope", "must be at most 500 characters")
    return ProviderSpec(
        spec.issuer,
        spec.client_id,
        spec.client_secret,
        name,
        display_name,
        spec.scope,
        spec.link_by_verified_email,
    )


def add_provider(db: Session, sealer: Sealer, spec: ProviderSpec) -> UpstreamProvider:
    """Add a validated spec's provider; an AuthserverError if its name is taken."""
    name = _named(spec)
    repository = ProviderRepository(db)
    if repository.get(name) is not None:
        raise AuthserverError(f"an upstream provider named {name!r} exists; remove it first")
    provider = repository.add(
        UpstreamProvider(name=name, created_at=utcnow(), **_fields(sealer, spec, name))
    )
    record_event(
        db,
        "upstream.provider_added",
        provider=name,
        issuer=spec.issuer,
        upstream_client_id=spec.client_id,
    )
    return provider


def remove_provider(db: Session, name: str) -> bool:
    """Remove a provider and its sign-ins in flight; its users keep their links, which
    serve again if a provider with the same issuer is added."""
    removed = ProviderRepository(db).delete(name)
    if removed:
        record_event(db, "upstream.provider_removed", provider=name)
    return removed


def configure_from_settings(settings: Settings, database: Database, sealer: Sealer) -> None:
    """Upsert the provider AUTHSERVER_UPSTREAM_ISSUER defines, if any (at start)."""
    spec = spec_from_settings(settings)
    if spec is None:
        return
    try:
        _upsert(database, sealer, spec)
    except IntegrityError:  # another process starting at the same moment added it first
        _upsert(database, sealer, spec)


def spec_from_settings(settings: Settings) -> ProviderSpec | None:
    """The validated spec of AUTHSERVER_UPSTREAM_*; a ConfigurationError naming the bad one."""
    if settings.upstream_issuer is None:
        return None
    if settings.upstream_client_id is None:
        raise ConfigurationError(
            "AUTHSERVER_UPSTREAM_CLIENT_ID is required with AUTHSERVER_UPSTREAM_ISSUER"
        )
    secret = settings.upstream_client_secret
    spec = ProviderSpec(
        issuer=settings.upstream_issuer,
        client_id=settings.upstream_client_id,
        client_secret=secret.get_secret_value() if secret else None,
        name=settings.upstream_name,
        display_name=settings.upstream_display_name,
    )
    try:
        return validate(spec, settings.development)
    except ProviderSpecError as error:
        raise ConfigurationError(f"AUTHSERVER_UPSTREAM_{error.field.upper()}: {error}") from None


def _upsert(database: Database, sealer: Sealer, spec: ProviderSpec) -> None:
    with database.transaction() as db:
        provider = ProviderRepository(db).get(_named(spec))
        if provider is None:
            add_provider(db, sealer, spec)
            return
        if not _differs(provider, sealer, spec):
            return
        for field, value in _fields(sealer, spec, provider.name).items():
            setattr(provider, field, value)
        db.add(provider)
        record_event(
            db,
            "upstream.provider_added",
            provider=provider.name,
            issuer=spec.issuer,
            upstream_client_id=spec.client_id,
            replaced=True,
        )


def _fields(sealer: Sealer, spec: ProviderSpec, name: str) -> dict[str, object]:
    secret = spec.client_secret
    return {
        "display_name": spec.display_name or name,
        "issuer": spec.issuer,
        "client_id": spec.client_id,
        "sealed_client_secret": sealer.seal(secret, secret_context(name)) if secret else None,
        "scope": spec.scope,
        "link_by_verified_email": spec.link_by_verified_email,
    }


def _differs(provider: UpstreamProvider, sealer: Sealer, spec: ProviderSpec) -> bool:
    stored = (provider.display_name, provider.issuer, provider.client_id, provider.scope)
    wanted = (spec.display_name, spec.issuer, spec.client_id, spec.scope)
    if stored != wanted or provider.link_by_verified_email != spec.link_by_verified_email:
        return True
    return _stored_secret(provider, sealer) != spec.client_secret


def _stored_secret(provider: UpstreamProvider, sealer: Sealer) -> str | None:
    if provider.sealed_client_secret is None:
        return None
    try:
        return sealer.open(provider.sealed_client_secret, secret_context(provider.name))
    except SealError:
        return ""  # sealed under another passphrase: differs from any secret given


def _check_issuer(issuer: str, development: bool) -> None:
    try:
        check_issuer(issuer)
    except ValueError as error:
        raise ProviderSpecError("issuer", str(error)) from None
    if len(issuer) > 500 or not issuer.isprintable() or " " in issuer:
        raise ProviderSpecError("issuer", "must be at most 500 printable characters, no spaces")
    if not issuer.startswith("https://") and not development:
        raise ProviderSpecError("issuer", "must be an https URL (http only in development mode)")


def _name_of(issuer: str) -> str:
    """A name from the issuer's host and port: https://id.example.com -> id-example-com."""
    slug = re.sub(r"[^a-z0-9]+", "-", urlsplit(issuer).netloc.lower()).strip("-")
    return slug[:64].rstrip("-") or "upstream"


def _named(spec: ProviderSpec) -> str:
    if spec.name is None:
        raise ValueError("the spec was not validated")
    return spec.name
