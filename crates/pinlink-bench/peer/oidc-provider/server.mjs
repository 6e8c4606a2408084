// Benchmark peer: node `oidc-provider` with the OAuth 2.0 Device Authorization
// Grant (RFC 8628, feature `deviceFlow`) and its default in-memory adapter.
//
// Usage: node server.mjs [PORT] [--unbounded-store]
//   PORT               TCP port on 127.0.0.1 (default 0 = pick a free one)
//   --unbounded-store  keep the stock MemoryAdapter class but give it a plain
//                      Map instead of its default 1000-entry LRU (see README)
//
// Once listening, prints exactly one line to stdout:
//   listening 127.0.0.1:PORT
// and runs until killed. Everything else (oidc-provider's one-time startup
// notices) goes to stderr.

import http from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';

import Provider from 'oidc-provider';
import { setStorage } from 'oidc-provider/lib/adapters/memory_adapter.js';

// oidc-provider prints its one-time notices with console.info (stdout);
// keep stdout for the single "listening" line the bench parses.
console.info = (...args) => console.error(...args);
console.log = (...args) => console.error(...args);

process.env.NODE_ENV ??= 'production';

const args = process.argv.slice(2);
const unbounded = args.includes('--unbounded-store');
const portArg = args.find((a) => !a.startsWith('--'));
const port = portArg === undefined ? 0 : Number.parseInt(portArg, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid port: ${portArg}`);
  process.exit(2);
}

if (unbounded) {
  // MemoryAdapter only calls get/set/delete on its storage; Map ignores the
  // third (maxAge) argument of set. Expiry is still enforced by the models
  // (find() checks exp), entries are just never evicted.
  setStorage(new Map());
}

// Own signing key + cookie keys: avoids the "development-only signing keys"
// and "cookies.keys is missing" startup warnings. Not used on the benched paths.
// RSA so the clients' default id_token_signed_response_alg (RS256) is valid.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench', use: 'sig', alg: 'RS256' };

const server = http.createServer();
server.keepAliveTimeout = 65_000;

server.listen(port, '127.0.0.1', () => {
  const actual = server.address().port;
  const provider = new Provider(`http://127.0.0.1:${actual}`, {
    clients: [
      {
        client_id: 'bench',
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // Same value as the library default (10 min), given as a number so the
    // default TTL helper (and its one-time stdout notice) is not used.
    ttl: { DeviceCode: 600 },
    features: {
      deviceFlow: { enabled: true },
      devInteractions: { enabled: false },
    },
  });
  server.on('request', provider.callback());
  process.stdout.write(`listening 127.0.0.1:${actual}\n`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}
