"""A client's `jwks` (RFC 7591 §2): a JWK Set (RFC 7517 §5) of public keys only.

Nothing here uses the keys yet (private_key_jwt is not supported); they are checked so that
what is stored could be used later, and so that no private key is ever stored or echoed.
"""

from joserfc.jwk import JWKRegistry

MAX_KEYS = 10
PUBLIC_KEY_TYPES = frozenset({"RSA", "EC", "OKP"})
# RFC 7518 §6.2.2, §6.3.2, RFC 8037 §2: members only a private key has.
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth"})


def jwks_problem(value: object) -> str | None:
    """Why `value` is not a JWK Set of public keys, or None when it is."""
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        return "must be a JWK Set: an object with an array of keys"
    keys = value["keys"]
    if not 1 <= len(keys) <= MAX_KEYS:
        return f"must hold 1 to {MAX_KEYS} keys"
    for index, key in enumerate(keys):
        if problem := _key_problem(key):
            return f"key {index} {problem}"
    return None


def _key_problem(key: object) -> str | None:
    if not isinstance(key, dict) or key.get("kty") not in PUBLIC_KEY_TYPES:
        return "must be an RSA, EC or OKP key (a symmetric key is a secret)"
    if PRIVATE_MEMBERS & set(key):
        return "must be a public key: private members are never accepted"
    try:
        imported = JWKRegistry.import_key(key)
    except Exception:  # noqa: BLE001 - any failure to import means it is no usable key
        return "is not a valid key"
    return "must be a public key" if imported.is_private else None
