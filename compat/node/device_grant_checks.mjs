// openid-client (npm; with oauth4webapi under it, the most used JavaScript
// OAuth client), unmodified, against a running pinlink: the RFC 8628 device
// authorization grant found through RFC 8414 discovery, a token that works
// as a Bearer token on pinlink's API, and RFC 7009 revocation.
//
// usage: node device_grant_checks.mjs BASE_URL USERNAME PASSWORD
// env:   COMPAT_OAUTH_CLIENT_ID   a public client (`pinlink client add NAME`)
//
// Prints "PASS openid-client/NAME" or "FAIL openid-client/NAME: reason" per
// check, as compat/run.sh expects. The person's side (approving the code)
// is played with plain HTTP: sign in, then PUT /api/v2/pins/link.
import * as client from 'openid-client'

const [base, username, password] = process.argv.slice(2)
const clientId = process.env.COMPAT_OAUTH_CLIENT_ID
if (!base || !username || !password || !clientId) {
  console.error('usage: COMPAT_OAUTH_CLIENT_ID=ID node device_grant_checks.mjs BASE_URL USERNAME PASSWORD')
  process.exit(2)
}
const host = new URL(base).hostname
if (!['localhost', '127.0.0.1', '[::1]', '::1'].includes(host) && !host.startsWith('127.')) {
  console.error(`refusing ${base}: loopback only`)
  process.exit(2)
}

let failed = 0
async function check (name, body) {
  try {
    await body()
    console.log(`PASS openid-client/${name}`)
  } catch (e) {
    failed += 1
    console.log(`FAIL openid-client/${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`)
  }
}
function assert (condition, message) {
  if (!condition) throw new Error(message)
}

async function signIn () {
  const response = await fetch(`${base}/api/v2/users/signin`, {
    method: 'POST',
    headers: {
      Accept: 'application/json',
      'X-Plex-Client-Identifier': 'compat-openid-client-browser',
      'X-Plex-Product': 'compat browser',
      'Content-Type': 'application/x-www-form-urlencoded'
    },
    body: new URLSearchParams({ login: username, password })
  })
  assert(response.status === 201, `sign-in answered ${response.status}`)
  return (await response.json()).authToken
}

async function approve (userCode) {
  const token = await signIn()
  const response = await fetch(`${base}/api/v2/pins/link`, {
    method: 'PUT',
    headers: {
      'X-Plex-Token': token,
      'X-Plex-Client-Identifier': 'compat-openid-client-browser',
      'Content-Type': 'application/x-www-form-urlencoded'
    },
    body: new URLSearchParams({ code: userCode })
  })
  assert(response.status === 204, `approving answered ${response.status}`)
}

async function user (token) {
  return fetch(`${base}/api/v2/user`, {
    headers: { Accept: 'application/json', Authorization: `Bearer ${token}` }
  })
}

let config
await check('discovery', async () => {
  config = await client.discovery(new URL(base), clientId, undefined, client.None(), {
    algorithm: 'oauth2',
    execute: [client.allowInsecureRequests]
  })
  const meta = config.serverMetadata()
  assert(meta.device_authorization_endpoint === `${base}/oauth/device_authorization`, 'device endpoint')
  assert(meta.token_endpoint === `${base}/oauth/token`, 'token endpoint')
})
if (!config) {
  console.log('FAIL openid-client/device-flow: no configuration, skipped')
  process.exit(1)
}

let tokens
await check('device-flow', async () => {
  const started = await client.initiateDeviceAuthorization(config, { scope: 'read' })
  assert(/^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/.test(started.user_code), `user_code ${started.user_code}`)
  assert(started.interval === 5, `interval ${started.interval}`)
  assert(started.verification_uri_complete.endsWith(`/link?pin=${started.user_code}`), 'complete URI')
  // openid-client waits the interval before its first poll; the person
  // approves meanwhile.
  const approval = new Promise((resolve, reject) => setTimeout(() => approve(started.user_code).then(resolve, reject), 1000))
  tokens = await client.pollDeviceAuthorizationGrant(config, started, undefined, { signal: AbortSignal.timeout(60_000) })
  await approval
  assert(typeof tokens.access_token === 'string', 'access_token')
  assert(tokens.token_type === 'bearer', `token_type ${tokens.token_type}`)
  assert(tokens.scope === 'read', `scope ${tokens.scope}`)
})

await check('bearer-token-works', async () => {
  assert(tokens, 'no token from the device flow')
  const response = await user(tokens.access_token)
  assert(response.status === 200, `GET /api/v2/user answered ${response.status}`)
  const me = await response.json()
  assert(me.username === username || me.email === username, `signed in as ${me.username}`)
})

await check('unknown-client-refused', async () => {
  const stranger = new client.Configuration(config.serverMetadata(), 'pl-unknownclient0000000', undefined, client.None())
  client.allowInsecureRequests(stranger)
  let refused = false
  try {
    await client.initiateDeviceAuthorization(stranger, {})
  } catch (e) {
    refused = true
  }
  assert(refused, 'an unknown client_id was accepted')
})

await check('revocation', async () => {
  assert(tokens, 'no token from the device flow')
  await client.tokenRevocation(config, tokens.access_token)
  const response = await user(tokens.access_token)
  assert(response.status === 401, `a revoked token answered ${response.status}`)
})

process.exit(failed === 0 ? 0 : 1)
