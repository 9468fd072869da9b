// The speed peer of bench/compare.py: panva/oidc-provider 8.8.1, minimal client_credentials
// configuration. Adapted from shared/peers/oidc-provider/server.mjs: the same provider
// configuration, plus a shared Redis store (REDIS_URL) so that an opaque token issued by one
// cluster worker can be introspected by another, error events written to stderr, resources
// that grant BENCH_SCOPE (the shared copy reads it but never uses it), and
// `errors.InvalidTarget` imported by name (the shared copy's `Provider.errors` is undefined in
// 8.x, so an unknown `resource` answered 500 server_error instead of 400 invalid_target), and
// a web app with devInteractions for a user's token, so that /userinfo can be measured.
//
//   node server.mjs                 -> one process
//   WORKERS=2 node server.mjs       -> node:cluster primary + 2 workers sharing the port
//
// Env: PORT (default 9001), HOST (127.0.0.1), KEY_FILE (private RSA JWK, required),
//      BENCH_CLIENT_ID / BENCH_CLIENT_SECRET / BENCH_SCOPE / BENCH_AUDIENCE,
//      BENCH_WEB_CLIENT_ID / BENCH_WEB_CLIENT_SECRET / BENCH_REDIRECT_URI (the code flow),
//      REDIS_URL (unset: oidc-provider's in-memory store, one per process),
//      REDIS_PREFIX (default "oidc-bench:"; the primary deletes these keys when it stops).
// Run with NODE_ENV=production, from this folder (`npm ci` installs node_modules).
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';

import Redis from 'ioredis';
import Provider, { errors } from 'oidc-provider';

const HOST = process.env.HOST || '127.0.0.1';
const PORT = Number(process.env.PORT || 9001);
const WORKERS = Number(process.env.WORKERS || 0);
const CLIENT_ID = process.env.BENCH_CLIENT_ID || 'bench-client';
const CLIENT_SECRET = process.env.BENCH_CLIENT_SECRET || 'bench-secret-0123456789abcdef0123456789abcdef';
const SCOPE = process.env.BENCH_SCOPE || 'api:read';
const AUDIENCE = process.env.BENCH_AUDIENCE || 'urn:bench:api';
// The web app of bench/compare.py's userinfo run: a user's access token comes from the
// code flow (with PKCE) through devInteractions, whose login page takes any account id.
const WEB_CLIENT_ID = process.env.BENCH_WEB_CLIENT_ID || 'bench-web';
const WEB_CLIENT_SECRET = process.env.BENCH_WEB_CLIENT_SECRET || 'bench-web-secret-0123456789abcdef0123456789';
const REDIRECT_URI = process.env.BENCH_REDIRECT_URI || 'https://app.example.test/callback';
const REDIS_URL = process.env.REDIS_URL || '';
const REDIS_PREFIX = process.env.REDIS_PREFIX || 'oidc-bench:';
// A second resource whose access tokens are opaque: oidc-provider's introspection
// endpoint only knows opaque access tokens and refresh tokens (its JWT access tokens
// are not stored, so introspecting one answers {"active":false}).
const OPAQUE_AUDIENCE = 'urn:bench:opaque-api';

// Every model in one Redis: "<prefix><Model>:<id>" holds the payload as JSON, with the
// model's TTL; "<prefix>uid:<uid>", "<prefix>userCode:<code>" and "<prefix>grant:<id>"
// are the lookups oidc-provider's adapter interface asks for.
function redisAdapter(redis) {
  const grantable = new Set([
    'AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode', 'BackchannelAuthenticationRequest',
  ]);

  return class RedisAdapter {
    constructor(model) {
      this.model = model;
    }

    key(id) {
      return `${this.model}:${id}`;
    }

    async upsert(id, payload, expiresIn) {
      const ttl = expiresIn || 3600;
      const multi = redis.multi().set(this.key(id), JSON.stringify(payload), 'EX', ttl);
      if (grantable.has(this.model) && payload.grantId) {
        const grantKey = `grant:${payload.grantId}`;
        multi.rpush(grantKey, this.key(id)).expire(grantKey, ttl, 'NX').expire(grantKey, ttl, 'GT');
      }
      if (payload.userCode) multi.set(`userCode:${payload.userCode}`, id, 'EX', ttl);
      if (payload.uid) multi.set(`uid:${payload.uid}`, id, 'EX', ttl);
      await multi.exec();
    }

    async find(id) {
      const value = await redis.get(this.key(id));
      return value ? JSON.parse(value) : undefined;
    }

    async findByUid(uid) {
      const id = await redis.get(`uid:${uid}`);
      return id ? this.find(id) : undefined;
    }

    async findByUserCode(userCode) {
      const id = await redis.get(`userCode:${userCode}`);
      return id ? this.find(id) : undefined;
    }

    async consume(id) {
      const payload = await this.find(id);
      if (!payload) return;
      payload.consumed = Math.floor(Date.now() / 1000);
      await redis.set(this.key(id), JSON.stringify(payload), 'KEEPTTL');
    }

    async destroy(id) {
      await redis.del(this.key(id));
    }

    async revokeByGrantId(grantId) {
      // The list holds keys without the prefix, which ioredis adds to every key argument.
      const keys = await redis.lrange(`grant:${grantId}`, 0, -1);
      await redis.del(...keys, `grant:${grantId}`);
    }
  };
}

async function deleteRedisKeys() {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${REDIS_PREFIX}*`, 'COUNT', 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } catch (error) {
    console.error(`could not delete the ${REDIS_PREFIX}* keys: ${error.message}`);
  } finally {
    redis.disconnect();
  }
}

function startPrimary() {
  for (let i = 0; i < WORKERS; i += 1) cluster.fork();
  cluster.on('exit', (w, code, signal) => {
    console.error(`worker ${w.process.pid} exited (${signal || code})`);
  });
  const stop = async () => {
    for (const w of Object.values(cluster.workers)) w.process.kill('SIGTERM');
    if (REDIS_URL) await deleteRedisKeys();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

function startProvider() {
  const signingKey = JSON.parse(readFileSync(process.env.KEY_FILE, 'utf8'));

  // Each resource grants the one scope the bench client asks for (BENCH_SCOPE), as ours does.
  const resourceServers = {
    [AUDIENCE]: {
      scope: SCOPE,
      audience: AUDIENCE,
      accessTokenTTL: 3600,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    },
    [OPAQUE_AUDIENCE]: {
      scope: SCOPE,
      audience: OPAQUE_AUDIENCE,
      accessTokenTTL: 3600,
      accessTokenFormat: 'opaque',
    },
  };

  const configuration = {
    clients: [{
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
    }, {
      client_id: WEB_CLIENT_ID,
      client_secret: WEB_CLIENT_SECRET,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    // /userinfo answers what ours answers for `openid profile`: the subject and a name.
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'] },
    findAccount: async (ctx, sub) => ({
      accountId: sub,
      claims: async () => ({ sub, name: 'Bench User', preferred_username: sub }),
    }),
    jwks: { keys: [signingKey] },
    cookies: { keys: ['bench-cookie-key-not-used-by-client-credentials'] },
    features: {
      // Only for the web app's user token (userinfo); client_credentials never interacts.
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // client_credentials requests without a `resource` parameter get the JWT API; the
        // web app's tokens have none, so they are /userinfo's (opaque, in the store).
        defaultResource: async (ctx, client) => (client?.clientId === WEB_CLIENT_ID ? undefined : AUDIENCE),
        useGrantedResource: async () => true,
        getResourceServerInfo: async (ctx, resourceIndicator) => {
          const rs = resourceServers[resourceIndicator];
          if (!rs) throw new errors.InvalidTarget();
          return rs;
        },
      },
    },
  };
  if (REDIS_URL) {
    configuration.adapter = redisAdapter(new Redis(REDIS_URL, { keyPrefix: REDIS_PREFIX }));
  }

  const provider = new Provider(`http://${HOST}:${PORT}`, configuration);
  // Errors are answered to the client and otherwise silent: bench/compare.py reads this log.
  for (const event of ['server_error', 'grant.error', 'introspection.error', 'jwks.error']) {
    provider.on(event, (ctx, error) => console.error(`${event}: ${error.name}: ${error.message}`));
  }

  provider.listen(PORT, HOST, () => {
    console.log(`oidc-provider pid ${process.pid} listening on http://${HOST}:${PORT}`);
  });
}

if (WORKERS > 0 && cluster.isPrimary) {
  startPrimary();
} else {
  startProvider();
}
