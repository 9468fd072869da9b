// Invoices: an Express resource service that verifies authserver's JWT access tokens on its
// own with jose (RFC 9068 §4, RFC 8725) and answers as RFC 6750 §3 says.
//
//   ISSUER=http://127.0.0.1:8000 PORT=8003 node server.js
import { inflateSync } from 'node:zlib'
import express from 'express'
import { createRemoteJWKSet, errors, jwtVerify } from 'jose'

const ISSUER = process.env.ISSUER ?? 'http://127.0.0.1:8000'
const AUDIENCE = process.env.AUDIENCE ?? 'https://invoices.example.test'
const PORT = Number(process.env.PORT ?? 8003)

// RFC 9068 §4: what an access token must be, besides signed by one of the issuer's keys.
const CHECKS = {
  typ: 'at+jwt', // step 1: never an id_token (RFC 8725 §3.11)
  algorithms: ['RS256'], // step 2: the allow-list decides, never the token (RFC 8725 §3.1)
  issuer: ISSUER, // step 3: exactly this issuer
  audience: AUDIENCE, // step 4: meant for this service (RFC 8707)
  clockTolerance: 60, // step 6: exp and nbf, with a minute of clock skew
  requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat', 'jti', 'client_id'], // RFC 9068 §2.2
}
// The issuer's keys could not be had: the token is neither good nor bad (answer 503).
const UNAVAILABLE = new Set(['ERR_JOSE_GENERIC', 'ERR_JWKS_TIMEOUT', 'ERR_JWKS_INVALID'])

// OpenID Connect Discovery 1.0 §4: the issuer names its jwks_uri. Asked on first use (so this
// service may start before the issuer); jose then caches the keys and refetches on a new kid.
let keySet
function issuerKeys(header, token) {
  // As the Python Verifier: a key is chosen by kid only, never by trying each.
  if (typeof header.kid !== 'string' || !header.kid) {
    throw new errors.JWSInvalid('the token header has no kid')
  }
  keySet ??= discoverKeys().catch((error) => {
    keySet = undefined
    throw error
  })
  return keySet.then((keys) => keys(header, token))
}

async function discoverKeys() {
  const url = `${ISSUER.replace(/\/$/, '')}/.well-known/openid-configuration`
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) })
  const metadata = response.ok ? await response.json() : {}
  // OIDC Discovery 1.0 §4.3: the document must be this very issuer's.
  if (metadata.issuer !== ISSUER || typeof metadata.jwks_uri !== 'string') {
    throw new Error(`${url} is not the discovery document of ${ISSUER}`)
  }
  // Trust a fetched set for the server's JWKS max-age (5 min), not jose's default 10 min, so a
  // revoked key (`authserver keys revoke`) is dropped here as soon as by a Python Verifier.
  return createRemoteJWKSet(new URL(metadata.jwks_uri), { cacheMaxAge: 300_000 })
}

// Token Status List (draft-ietf-oauth-status-list-18 §8.3), as the Python Verifier does it:
// a token naming its entry in one of the issuer's lists is refused once the entry is set.
// Each list is fetched (signed, typ statuslist+jwt, sub = its URI) and held for its ttl, at
// most a minute; when no fresh copy can be had, the held one serves for 5 minutes, then
// the token is refused with 503 (fail closed). No request to the issuer per token.
const STATUS_LISTS = `${ISSUER.replace(/\/$/, '')}/statuslists/`
const LIST_CHECKS = { typ: 'statuslist+jwt', algorithms: ['RS256'], issuer: ISSUER, clockTolerance: 60 }
const MAX_LIST_CACHE_MS = 60_000
const MAX_STALE_MS = 300_000
const heldLists = new Map() // uri -> { bytes, freshUntil, usableUntil }

function refused(claims, message) {
  return new errors.JWTClaimValidationFailed(message, claims, 'status', 'check_failed')
}

async function checkStatus(claims) {
  if (claims.status === undefined) return
  const entry = claims.status?.status_list
  if (!Number.isInteger(entry?.idx) || entry.idx < 0 || typeof entry?.uri !== 'string') {
    throw refused(claims, "the token's status claim is malformed")
  }
  if (!entry.uri.startsWith(STATUS_LISTS)) {
    throw refused(claims, "the token's status list is not one of the issuer's")
  }
  const { bytes } = await statusList(entry.uri)
  if (entry.idx >> 3 >= bytes.length) {
    throw refused(claims, "the token's status index is outside its status list")
  }
  if ((bytes[entry.idx >> 3] >> (entry.idx & 7)) & 1) throw refused(claims, 'the token has been revoked')
}

async function statusList(uri) {
  const held = heldLists.get(uri)
  if (held && Date.now() < held.freshUntil) return held
  try {
    const fresh = await fetchStatusList(uri)
    heldLists.set(uri, fresh)
    return fresh
  } catch (error) {
    if (held && Date.now() < held.usableUntil) return held
    throw new Error(`the status list ${uri} cannot be had: ${error.message}`) // a 503
  }
}

async function fetchStatusList(uri) {
  const headers = { accept: 'application/statuslist+jwt' }
  const response = await fetch(uri, { headers, redirect: 'error', signal: AbortSignal.timeout(5000) })
  if (!response.ok) throw new Error(`it answered ${response.status}`)
  const { payload } = await jwtVerify(await response.text(), issuerKeys, LIST_CHECKS)
  if (payload.sub !== uri || payload.status_list?.bits !== 1) throw new Error('it is not that list')
  // §4.1: ZLIB-deflated bytes, base64url; entry i is bit i % 8 of byte i / 8.
  const bytes = inflateSync(Buffer.from(payload.status_list.lst, 'base64url'), {
    maxOutputLength: 1 << 24,
  })
  const now = Date.now()
  const ttl = typeof payload.ttl === 'number' && payload.ttl > 0 ? payload.ttl * 1000 : Infinity
  const expires = typeof payload.exp === 'number' ? payload.exp * 1000 : Infinity
  return {
    bytes,
    freshUntil: now + Math.min(ttl, MAX_LIST_CACHE_MS),
    usableUntil: Math.min(now + MAX_STALE_MS, expires),
  }
}

// RFC 6750 §3: the challenge's quoted strings take no `"` or `\`, and only printable ASCII.
const quoteSafe = (text) => text.replace(/"/g, "'").replace(/\\/g, '/').replace(/[^ -~]/g, '?')

// The answer with its challenge; `error` null: no credentials were sent (a bare `Bearer`).
function refuse(res, status, error, description, extra = {}) {
  const safe = quoteSafe(description)
  const params = error ? { error, error_description: safe, ...extra } : {}
  const rendered = Object.entries(params).map(([name, value]) => `${name}="${value}"`)
  res.status(status).set('Cache-Control', 'no-store')
  res.set('WWW-Authenticate', rendered.length ? `Bearer ${rendered.join(', ')}` : 'Bearer')
  res.json(error ? { error, error_description: safe } : { error_description: safe })
}

// A middleware giving req.claims of a valid token that grants every scope named.
function requireScopes(...scopes) {
  return async (req, res, next) => {
    const authorization = req.get('authorization') ?? ''
    // RFC 6750 §2.1: `Bearer` and one b64token.
    const token = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization)?.[1]
    if (!token) {
      // RFC 6750 §3.1: no credentials at all get a bare challenge, without an error code.
      if (!/^bearer\b/i.test(authorization)) {
        return refuse(res, 401, null, 'a bearer token is required')
      }
      const description = 'the Authorization header is not Bearer and one token'
      return refuse(res, 400, 'invalid_request', description)
    }
    let claims
    try {
      ;({ payload: claims } = await jwtVerify(token, issuerKeys, CHECKS))
      await checkStatus(claims)
    } catch (error) {
      if (error instanceof errors.JOSEError && !UNAVAILABLE.has(error.code)) {
        return refuse(res, 401, 'invalid_token', error.message)
      }
      console.error('cannot verify tokens now:', error)
      res.status(503).set({ 'Retry-After': '30', 'Cache-Control': 'no-store' })
      const description = 'the token cannot be verified now; try again later'
      return res.json({ error: 'temporarily_unavailable', error_description: description })
    }
    // RFC 9068 §2.2.3: space-separated scopes; RFC 6750 §3.1: 403 naming the scope needed.
    const granted = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ') : [])
    if (!scopes.every((scope) => granted.has(scope))) {
      const needed = scopes.join(' ')
      const description = `the request needs the scope ${needed}`
      return refuse(res, 403, 'insufficient_scope', description, { scope: needed })
    }
    req.claims = claims
    next()
  }
}

const app = express()
app.disable('x-powered-by')

app.get('/invoices', requireScopes('invoices:read'), (req, res) => {
  const invoices = [{ id: 1, amount: '42.00', currency: 'EUR' }]
  res.json({ invoices, client_id: req.claims.client_id })
})

app.listen(PORT, '127.0.0.1', (error) => {
  if (error) throw error
  console.log(`invoices on http://127.0.0.1:${PORT}, trusting ${ISSUER} for ${AUDIENCE}`)
})
