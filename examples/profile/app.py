"""Profile: a resource service with its own audience and scope (RFC 9068, RFC 6750).

    ISSUER=http://127.0.0.1:8000 uvicorn app:app --app-dir examples/profile --port 8002

`GET /profile` needs the scope `profile:read` in a token issued by ISSUER for AUDIENCE; a
token meant for another service (another `aud`) is refused with 401 `invalid_token`.
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI

from authserver.resource import Claims, Verifier
from authserver.resource.fastapi import install_error_handler, require_scopes

verifier = Verifier(
    os.environ.get("ISSUER", "http://127.0.0.1:8000"),
    audience=os.environ.get("AUDIENCE", "https://profile.example.test"),
)
app = FastAPI(title="Profile")
install_error_handler(app)


@app.get("/profile")
def read_profile(
    claims: Annotated[Claims, Depends(require_scopes(verifier, "profile:read"))],
) -> dict[str, object]:
    return {"sub": claims.sub, "client_id": claims.client_id, "scopes": sorted(claims.scopes)}
