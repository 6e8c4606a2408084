// openid-client 6 and jose, unmodified, against a running pinlink: what a
// backend does with a device's tokens — OpenID Connect discovery, the
// device grant with `openid profile email offline_access`, the ID token
// verified against jwks_uri with jose, UserInfo, refresh-token rotation (a
// used refresh token presented again ends the grant), and RFC 7662
// introspection as a confidential client.
//
// usage: node backend_token_checks.mjs BASE_URL USERNAME PASSWORD
// env:   COMPAT_OAUTH_CLIENT_ID      a public client (`pinlink client add NAME`)
//        COMPAT_OAUTH_BACKEND_ID     a confidential client
//        COMPAT_OAUTH_BACKEND_SECRET its secret (`pinlink client add NAME --confidential`)
//
// Prints "PASS openid-client-oidc/NAME" or "FAIL openid-client-oidc/NAME:
// reason" per check, as compat/run.sh expects.
import * as client from 'openid-client'
import * as jose from 'jose'

const [base, username, password] = process.argv.slice(2)
const clientId = process.env.COMPAT_OAUTH_CLIENT_ID
const backendId = process.env.COMPAT_OAUTH_BACKEND_ID
const backendSecret = process.env.COMPAT_OAUTH_BACKEND_SECRET
if (!base || !username || !password || !clientId || !backendId || !backendSecret) {
  console.error('usage: COMPAT_OAUTH_CLIENT_ID=ID COMPAT_OAUTH_BACKEND_ID=ID COMPAT_OAUTH_BACKEND_SECRET=S node backend_token_checks.mjs BASE_URL USERNAME PASSWORD')
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
    console.log(`PASS openid-client-oidc/${name}`)
  } catch (e) {
    failed += 1
    console.log(`FAIL openid-client-oidc/${name}: ${e && e.stack ? e.stack.split('\n').slice(0, 3).join(' | ') : e}`)
  }
}
function assert (condition, message) {
  if (!condition) throw new Error(message)
}

// The person's side, with plain HTTP: sign in, approve the code.
async function approve (userCode) {
  const headers = {
    Accept: 'application/json',
    'X-Plex-Client-Identifier': 'compat-oidc-browser',
    'X-Plex-Product': 'compat browser',
    'Content-Type': 'application/x-www-form-urlencoded'
  }
  const signIn = await fetch(`${base}/api/v2/users/signin`, {
    method: 'POST', headers, body: new URLSearchParams({ login: username, password })
  })
  assert(signIn.status === 201, `sign-in answered ${signIn.status}`)
  const token = (await signIn.json()).authToken
  const linked = await fetch(`${base}/api/v2/pins/link`, {
    method: 'PUT',
    headers: { ...headers, 'X-Plex-Token': token },
    body: new URLSearchParams({ code: userCode })
  })
  assert(linked.status === 204, `approving answered ${linked.status}`)
}

async function deviceGrant (config, scope) {
  const started = await client.initiateDeviceAuthorization(config, { scope })
  const approval = new Promise((resolve, reject) => setTimeout(() => approve(started.user_code).then(resolve, reject), 500))
  const tokens = await client.pollDeviceAuthorizationGrant(config, started, undefined, { signal: AbortSignal.timeout(60_000) })
  await approval
  return tokens
}

async function refusedWith (promise, error) {
  try {
    await promise
  } catch (e) {
    assert(e.error === error || e.code === error || String(e).includes(error), `refused with ${e.error || e.code || e}, not ${error}`)
    return
  }
  throw new Error(`not refused (expected ${error})`)
}

let config
await check('discovery', async () => {
  // The default: OpenID Connect Discovery, /.well-known/openid-configuration.
  config = await client.discovery(new URL(base), clientId, undefined, client.None(), {
    execute: [client.allowInsecureRequests]
  })
  const meta = config.serverMetadata()
  assert(meta.issuer === base, `issuer ${meta.issuer}`)
  for (const endpoint of ['jwks_uri', 'userinfo_endpoint', 'introspection_endpoint', 'token_endpoint', 'device_authorization_endpoint']) {
    assert(typeof meta[endpoint] === 'string', `${endpoint} missing`)
  }
  assert(meta.grant_types_supported.includes('refresh_token'), 'refresh_token grant')
  assert(meta.id_token_signing_alg_values_supported.includes('RS256'), 'RS256')
  // openid-client checks ID token claims, and with this their signature too.
  client.enableNonRepudiationChecks(config)
})
if (!config) {
  console.log('FAIL openid-client-oidc/device-grant: no configuration, skipped')
  process.exit(1)
}

let tokens, claims
await check('device-grant-with-openid', async () => {
  tokens = await deviceGrant(config, 'openid profile email offline_access')
  assert(typeof tokens.id_token === 'string', 'id_token')
  assert(typeof tokens.refresh_token === 'string', 'refresh_token')
  assert(typeof tokens.expires_in === 'number' && tokens.expires_in > 0, `expires_in ${tokens.expires_in}`)
  claims = tokens.claims()
  assert(claims && typeof claims.sub === 'string', 'claims')
  assert(claims.sub !== username, 'sub is not the account name')
  assert(claims.preferred_username === username, `preferred_username ${claims.preferred_username}`)
  assert(typeof claims.email === 'string', 'email claim')
})

await check('id-token-verifies-with-jose', async () => {
  assert(tokens, 'no tokens')
  const meta = config.serverMetadata()
  const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri))
  const { payload, protectedHeader } = await jose.jwtVerify(tokens.id_token, jwks, {
    issuer: meta.issuer, audience: clientId, algorithms: ['RS256', 'EdDSA']
  })
  assert(protectedHeader.alg === 'RS256', `alg ${protectedHeader.alg}`)
  assert(typeof protectedHeader.kid === 'string', 'kid')
  assert(payload.sub === claims.sub, 'sub')
  assert(typeof payload.auth_time === 'number', 'auth_time')
  // One changed character, and it does not verify.
  const [h, p, s] = tokens.id_token.split('.')
  const tampered = [h, p, (s[0] === 'A' ? 'B' : 'A') + s.slice(1)].join('.')
  let refused = false
  try { await jose.jwtVerify(tampered, jwks, { issuer: meta.issuer, audience: clientId }) } catch { refused = true }
  assert(refused, 'a tampered ID token verified')
})

await check('userinfo', async () => {
  assert(tokens, 'no tokens')
  const info = await client.fetchUserInfo(config, tokens.access_token, claims.sub)
  assert(info.sub === claims.sub, 'sub')
  assert(info.preferred_username === username, `preferred_username ${info.preferred_username}`)
})

let refreshed
await check('refresh-rotates', async () => {
  assert(tokens, 'no tokens')
  refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  assert(refreshed.refresh_token && refreshed.refresh_token !== tokens.refresh_token, 'a new refresh token')
  assert(refreshed.access_token !== tokens.access_token, 'a new access token')
  assert(refreshed.claims().sub === claims.sub, 'the same sub')
  const info = await client.fetchUserInfo(config, refreshed.access_token, claims.sub)
  assert(info.sub === claims.sub, 'userinfo with the new token')
})

const backend = new client.Configuration(config.serverMetadata(), backendId, backendSecret, client.ClientSecretBasic())
client.allowInsecureRequests(backend)

await check('introspection-as-a-confidential-client', async () => {
  assert(refreshed, 'no refreshed tokens')
  const live = await client.tokenIntrospection(backend, refreshed.access_token)
  assert(live.active === true, 'active')
  assert(live.sub === claims.sub, `sub ${live.sub}`)
  assert(live.client_id === clientId, `client_id ${live.client_id}`)
  assert(live.username === username, `username ${live.username}`)
  assert(live.token_type === 'Bearer', `token_type ${live.token_type}`)
  assert(typeof live.exp === 'number' && typeof live.iat === 'number', 'exp and iat')
  const unknown = await client.tokenIntrospection(backend, 'not-a-token')
  assert(JSON.stringify(unknown) === '{"active":false}', `unknown: ${JSON.stringify(unknown)}`)
  const refresh = await client.tokenIntrospection(backend, refreshed.refresh_token)
  assert(refresh.active === false, 'a refresh token is not an access token')
  // A public client may not introspect: 401 (with the challenge of a
  // failed client authentication, which openid-client reports as such).
  let status
  try {
    await client.tokenIntrospection(config, refreshed.access_token)
  } catch (e) {
    status = e.status ?? e.response?.status
  }
  assert(status === 401, `a public client's introspection answered ${status}`)
})

await check('refresh-reuse-ends-the-grant', async () => {
  assert(refreshed, 'no refreshed tokens')
  await refusedWith(client.refreshTokenGrant(config, tokens.refresh_token), 'invalid_grant')
  const dead = await client.tokenIntrospection(backend, refreshed.access_token)
  assert(dead.active === false, 'the grant\'s access token is dead')
  await refusedWith(client.refreshTokenGrant(config, refreshed.refresh_token), 'invalid_grant')
})

process.exit(failed === 0 ? 0 : 1)
