"""A client application's back-channel logout endpoint (OpenID Connect Back-Channel Logout 1.0).

    ISSUER=http://127.0.0.1:8000 CLIENT_ID=... uvicorn app:app --app-dir examples/webapp --port 8002
    authserver clients create --name "Web app" --grant-type authorization_code \\
        --redirect-uri http://127.0.0.1:8002/callback \\
        --backchannel-logout-uri http://127.0.0.1:8002/backchannel-logout

The app keeps its users' sessions in memory, keyed by the `sid` of the id_token they
signed in with (`POST /sessions` stands for that sign-in here). When the authorization
server ends a session (logout, expiry, an admin, a stolen refresh token), it POSTs a
Logout Token to `/backchannel-logout`: the app checks it with `authserver.resource`
and ends its own sessions of that `sid` (or, for a token with only `sub`, every session
of that user). `GET /sessions/{sid}` says whether a session is still signed in.
"""

import os
from typing import Annotated

from fastapi import FastAPI, Form
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from authserver.resource import InvalidLogoutToken, LogoutTokenValidator

logout_tokens = LogoutTokenValidator(
    os.environ.get("ISSUER", "http://127.0.0.1:8000"),
    client_id=os.environ.get("CLIENT_ID", "web-app"),
)
app = FastAPI(title="Web app")
NO_STORE = {"Cache-Control": "no-store"}

# sid -> sub of the signed-in sessions (a real app: its session store).
sessions: dict[str, str] = {}


class SignedIn(BaseModel):
    sid: str
    sub: str


@app.post("/sessions", status_code=201)
def sign_in(session: SignedIn) -> dict[str, str]:
    """Stands for the app's own sign-in: it keeps the id_token's `sid` and `sub`."""
    sessions[session.sid] = session.sub
    return {"sid": session.sid}


@app.get("/sessions/{sid}")
def session_state(sid: str) -> dict[str, bool]:
    return {"signed_in": sid in sessions}


@app.post("/backchannel-logout")
def backchannel_logout(logout_token: Annotated[str, Form()]) -> JSONResponse:
    """§2.8: 200 once the sessions are ended; 400 for a token that is not valid."""
    try:
        logout = logout_tokens.validate(logout_token)
    except InvalidLogoutToken as error:
        body = {"error": "invalid_request", "error_description": str(error)}
        return JSONResponse(body, status_code=400, headers=NO_STORE)
    ended = [
        sid
        for sid, sub in sessions.items()
        if sid == logout.sid or (logout.sid is None and sub == logout.sub)
    ]
    for sid in ended:
        del sessions[sid]
    return JSONResponse({"ended": len(ended)}, headers=NO_STORE)
