"""Orders: a resource service that accepts authserver's access tokens (RFC 9068, RFC 6750).

    ISSUER=http://127.0.0.1:8000 uvicorn app:app --app-dir examples/orders --port 8001

`GET /orders` needs the scope `orders:read`, `POST /orders` needs `orders:write`; tokens
must be issued by ISSUER for AUDIENCE (the `resource` the client asked for, RFC 8707).
Bearer tokens, and DPoP-bound ones with their proofs (RFC 9449 §7): a proof names the URL
the client called, BASE_URL + the path (set it to the public URL behind a proxy).
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI
from pydantic import BaseModel

from authserver.resource import Claims, Verifier
from authserver.resource.fastapi import install_error_handler, require_scopes

verifier = Verifier(
    os.environ.get("ISSUER", "http://127.0.0.1:8000"),
    audience=os.environ.get("AUDIENCE", "https://orders.example.test"),
)
base_url = os.environ.get("BASE_URL", "http://127.0.0.1:8001")
app = FastAPI(title="Orders")
install_error_handler(app)

Reader = Annotated[Claims, Depends(require_scopes(verifier, "orders:read", base_url=base_url))]
Writer = Annotated[Claims, Depends(require_scopes(verifier, "orders:write", base_url=base_url))]


class NewOrder(BaseModel):
    item: str
    quantity: int = 1


orders: list[dict[str, object]] = [{"id": 1, "item": "tea", "quantity": 2, "by": "demo"}]


@app.get("/orders")
def list_orders(claims: Reader) -> dict[str, object]:
    return {"orders": orders, "client_id": claims.client_id}


@app.post("/orders", status_code=201)
def place_order(order: NewOrder, claims: Writer) -> dict[str, object]:
    placed = {"id": len(orders) + 1, **order.model_dump(), "by": claims.sub}
    orders.append(placed)
    return placed
