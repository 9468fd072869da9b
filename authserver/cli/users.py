"""`authserver users ...`: create and list the people who sign in."""

import sys
from typing import Annotated, Any

import typer
from sqlmodel import Session

from authserver.audit import record_event
from authserver.cli.context import JsonOption, emit, transaction
from authserver.clock import utcnow
from authserver.errors import AuthserverError
from authserver.factors.reset import reset_second_factors
from authserver.login.sessions import end_all_sessions_of_user
from authserver.settings import load_settings
from authserver.users.describe import describe_user
from authserver.users.models import User
from authserver.users.registration import UserExistsError, create_user
from authserver.users.repository import UserRepository

app = typer.Typer(no_args_is_help=True, help="Create, list, disable and sign out users.")


@app.command("create")
def create(
    username: Annotated[str, typer.Option()],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ],
    email: Annotated[str | None, typer.Option()] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a user; the password comes from standard input (one trailing newline dropped)."""
    if not password_stdin:
        raise typer.BadParameter(
            "the password is read from stdin only", param_hint="--password-stdin"
        )
    password = sys.stdin.read().removesuffix("\n")
    settings = load_settings()  # once: an unknown variable is reported once
    with transaction(settings) as session:
        try:
            hashing = settings.password_hashing()
            user = create_user(UserRepository(session), username, password, email, hashing)
            record_event(session, "user.created", user_id=user.id, username=user.username)
        except UserExistsError as error:
            raise AuthserverError(str(error)) from None
        except ValueError as error:
            raise typer.BadParameter(str(error)) from None
        data = {"id": user.id, "username": user.username, "email": user.email}
    emit(as_json, data, f"created user {user.username}")


@app.command("list")
def list_users(as_json: JsonOption = False) -> None:
    """Every user, oldest first."""
    with transaction() as session:
        users = [
            {
                "id": u.id,
                "username": u.username,
                "email": u.email,
                "disabled": u.disabled,
                "created_at": u.created_at.isoformat(),
            }
            for u in UserRepository(session).list()
        ]
    lines = [
        f"{u['username']}  {u['email'] or '-'}{'  (disabled)' if u['disabled'] else ''}"
        for u in users
    ]
    emit(as_json, users, "\n".join(lines) or "no users")


@app.command("disable", context_settings={"ignore_unknown_options": True})
def disable(username: str) -> None:
    """Disable a user: no more sign-ins; their sessions end and their tokens stop working."""
    with transaction() as session:
        user = _find(session, username)
        user.disabled = True
        user.updated_at = utcnow()
        session.add(user)
        record_event(session, "user.disabled", user_id=_id(user), username=user.username)
        end_all_sessions_of_user(session, _id(user), utcnow(), "user disabled")
    typer.echo(f"disabled {username}")


@app.command("revoke-sessions", context_settings={"ignore_unknown_options": True})
def revoke_sessions(username: str) -> None:
    """Sign a user out everywhere: every session and every token family ends now."""
    with transaction() as session:
        user = _find(session, username)
        record_event(session, "user.sessions_revoked", user_id=_id(user), username=user.username)
        end_all_sessions_of_user(session, _id(user), utcnow(), "signed out by an administrator")
    typer.echo(f"ended every session and token of {username}")


@app.command("mfa-reset", context_settings={"ignore_unknown_options": True})
def mfa_reset(username: str) -> None:
    """Remove a user's second factors (TOTP, recovery codes, passkeys): for one who lost
    them. With AUTHSERVER_MFA=required they enrol again at their next sign-in."""
    with transaction() as session:
        user = _find(session, username)
        removed = reset_second_factors(session, _id(user))
        record_event(session, "mfa.reset", user_id=_id(user), username=user.username, **removed)
    typer.echo(
        f"removed {username}'s second factors: TOTP {removed['totp']}, "
        f"passkeys {removed['passkeys']}, recovery codes {removed['recovery_codes']}"
    )


@app.command("show", context_settings={"ignore_unknown_options": True})
def show(username: str, as_json: JsonOption = False) -> None:
    """One user: their second factors, live sessions and linked upstream accounts."""
    settings = load_settings()
    with transaction(settings) as session:
        user = _find(session, username)
        data = describe_user(session, user, utcnow(), settings.session_idle_ttl)
    emit(as_json, data, _user_lines(data))


def _user_lines(data: dict[str, Any]) -> str:
    factors = data["factors"]
    lines = [
        f"{data['username']}  {data['email'] or '-'}{'  (disabled)' if data['disabled'] else ''}",
        f"TOTP: {'on' if factors['totp'] else 'off'}; "
        f"recovery codes left: {factors['recovery_codes']}; passkeys: {len(factors['passkeys'])}",
    ]
    lines += [f"  passkey {p['name']} (added {p['created_at']})" for p in factors["passkeys"]]
    lines.append(f"sessions: {len(data['sessions'])}")
    lines += [
        f"  {s['sid']}  {s['amr']}  {s['address'] or '-'}  last seen {s['last_seen_at']}"
        for s in data["sessions"]
    ]
    lines += [f"linked: {link['issuer']} {link['subject']}" for link in data["upstream_links"]]
    return "\n".join(lines)


def _find(session: Session, username: str) -> User:
    user = UserRepository(session).find_by_username(username)
    if user is None:
        raise AuthserverError(f"no user named {username!r}")
    return user


def _id(user: User) -> int:
    if user.id is None:
        raise AuthserverError(f"user {user.username!r} has no id")
    return user.id
