// run.mjs: openid-client (a certified OpenID Connect relying party) against
// a live `valet serve`. cmd/valet/interop_test.go (TestInteropOpenIDClient)
// starts the server, registers the clients, runs this script and plays the
// person at the sign-in and consent pages. Nothing here weakens a check of
// the library: whatever it refuses is a Valet bug to report.
//
// Protocol, one JSON object per line:
//   stdout {"authorization_url": "..."}     the person's starting point
//   stdin  {"callback_url": "..."}          where Valet sent the person back
//   stdout {"summary": {...}}               what the test asserts; then exit 0
// or, when a step fails,
//   stdout {"failed": "<step>", ...}        the error, also written to stderr; exit 1
// Every HTTP exchange of the library is logged to stderr (without bodies of
// successful answers, which carry tokens); the test shows stderr on failure.
//
// Environment: INTEROP_ISSUER, INTEROP_CLIENT_ID, INTEROP_CLIENT_SECRET,
// INTEROP_REDIRECT_URI, INTEROP_SCOPE (the relying party) and
// INTEROP_RS_CLIENT_ID, INTEROP_RS_CLIENT_SECRET (a resource server, the
// client that introspects).

import * as client from 'openid-client'
import { createHash } from 'node:crypto'
import { createInterface } from 'node:readline'

const env = (name) => {
  const v = process.env[name]
  if (!v) {
    console.error(`run.mjs: ${name} is not set; run it through cmd/valet/interop_test.go`)
    process.exit(2)
  }
  return v
}

const issuer = new URL(env('INTEROP_ISSUER'))
const clientId = env('INTEROP_CLIENT_ID')
const clientSecret = env('INTEROP_CLIENT_SECRET')
const redirectUri = env('INTEROP_REDIRECT_URI')
const scope = env('INTEROP_SCOPE')
const rsClientId = env('INTEROP_RS_CLIENT_ID')
const rsClientSecret = env('INTEROP_RS_CLIENT_SECRET')

// The Go test kills this process at its own deadline; this one only makes a
// hang readable when the script is run by hand.
setTimeout(() => {
  console.error('run.mjs: gave up after 50 s')
  process.exit(3)
}, 50_000).unref()

let step = 'start'

const out = (obj) => process.stdout.write(JSON.stringify(obj) + '\n')

// fingerprint lets the test compare tokens without printing them.
const fingerprint = (s) =>
  s === undefined ? null : createHash('sha256').update(s).digest('hex').slice(0, 16)

const jwtHeader = (jwt) =>
  JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString('utf8'))

// loggingFetch is the library's fetch, logging each exchange to stderr and,
// for an answer that is not 2xx, its body: that is the server's side of a
// failed check.
async function loggingFetch(url, options) {
  const res = await fetch(url, options)
  let line = `[${step}] ${options?.method ?? 'GET'} ${url} -> ${res.status} ${res.headers.get('content-type') ?? ''}`
  const wwwAuth = res.headers.get('www-authenticate')
  if (wwwAuth) line += ` www-authenticate: ${wwwAuth}`
  if (res.status < 200 || res.status > 299) {
    line += `\n  body: ${await res.clone().text()}`
  }
  console.error(line)
  return res
}

// nextLine reads one line from stdin.
function nextLine() {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input: process.stdin })
    rl.once('line', (line) => {
      resolve(line) // first: close() emits 'close' at once
      rl.close()
    })
    rl.once('close', () => reject(new Error('stdin closed before the callback URL arrived')))
  })
}

async function describe(err) {
  const d = { name: err?.name, code: err?.code, message: err?.message }
  // ResponseBodyError: an OAuth error answer.
  for (const k of ['error', 'error_description', 'status']) {
    if (err?.[k] !== undefined) d[k] = err[k]
  }
  const cause = err?.cause
  if (cause instanceof Response) {
    d.cause = { status: cause.status, headers: Object.fromEntries(cause.headers) }
    try {
      d.cause.body = await cause.clone().text()
    } catch {
      d.cause.body = '(already read; see the exchange logged above)'
    }
  } else if (cause !== undefined) {
    try {
      d.cause = JSON.parse(JSON.stringify(cause))
    } catch {
      d.cause = String(cause)
    }
  }
  return d
}

async function main() {
  // openid-client v6 refuses plain-http endpoints: every request goes
  // through a check that the URL is https. The test's valet serve listens on
  // http://127.0.0.1 (no certificate to hand), so both configurations opt
  // out with allowInsecureRequests, passed in `execute` so that it applies
  // to discovery itself too. Nothing else is relaxed: issuer, ID token,
  // state, nonce and PKCE checks all stay as the library ships them.
  const insecure = { execute: [client.allowInsecureRequests], [client.customFetch]: loggingFetch }

  step = 'discovery'
  // discovery with an issuer URL fetches /.well-known/openid-configuration
  // and checks that its "issuer" is exactly this URL.
  //
  // enableNonRepudiationChecks makes the library verify the ID token's
  // signature against jwks_uri. By default it skips that for ID tokens from
  // the token endpoint, trusting TLS to authenticate the issuer (Core
  // §3.1.3.7 step 6); here there is no TLS, and the signature is the point.
  const config = await client.discovery(
    issuer,
    clientId,
    { client_secret: clientSecret, token_endpoint_auth_method: 'client_secret_basic' },
    client.ClientSecretBasic(clientSecret),
    { ...insecure, execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks] },
  )
  config[client.customFetch] = loggingFetch
  const meta = config.serverMetadata()

  step = 'discovery (resource server)'
  const rsConfig = await client.discovery(
    issuer,
    rsClientId,
    { client_secret: rsClientSecret, token_endpoint_auth_method: 'client_secret_basic' },
    client.ClientSecretBasic(rsClientSecret),
    insecure,
  )
  rsConfig[client.customFetch] = loggingFetch

  step = 'authorization request'
  const codeVerifier = client.randomPKCECodeVerifier()
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier)
  const state = client.randomState()
  const nonce = client.randomNonce()
  const authURL = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
  })
  out({ authorization_url: authURL.href })

  step = 'waiting for the callback'
  const msg = JSON.parse(await nextLine())
  const callback = new URL(msg.callback_url)

  step = 'authorization code grant'
  // Validates the authorization response (state, and iss when the server
  // advertises authorization_response_iss_parameter_supported), redeems the
  // code with the PKCE verifier, and validates the ID token: signature by a
  // key from jwks_uri (see enableNonRepudiationChecks above), alg, iss, aud,
  // azp, exp, iat, nonce.
  const tokens = await client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  })
  const idClaims = tokens.claims()

  step = 'at_hash'
  // openid-client checks c_hash (hybrid flow) but not at_hash, which is
  // OPTIONAL in the code flow (Core §3.1.3.6, §3.1.3.8). Valet sends one;
  // check it here: the left half of the SHA-256 of the access token for
  // RS256 and ES256 (Core §3.2.2.9).
  const atHashMatches = (claims, accessToken, alg) => {
    if (claims?.at_hash === undefined) return null
    if (alg !== 'RS256' && alg !== 'ES256') throw new Error(`at_hash: unexpected alg ${alg}`)
    const digest = createHash('sha256').update(accessToken).digest()
    return digest.subarray(0, digest.length / 2).toString('base64url') === claims.at_hash
  }
  const idAlg = jwtHeader(tokens.id_token).alg
  const atHashOK = atHashMatches(idClaims, tokens.access_token, idAlg)

  step = 'userinfo'
  // expectedSubject: the library refuses a UserInfo answer whose sub is not
  // the ID token's (Core §5.3.4).
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, idClaims.sub)

  step = 'refresh token grant'
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token)
  const refreshedClaims = refreshed.claims()
  const refreshedAtHashOK = refreshed.id_token
    ? atHashMatches(refreshedClaims, refreshed.access_token, jwtHeader(refreshed.id_token).alg)
    : null

  step = 'introspection of the new access token'
  const accessIntro = await client.tokenIntrospection(rsConfig, refreshed.access_token, {
    token_type_hint: 'access_token',
  })

  step = 'introspection of the refresh token'
  const refreshIntroBefore = await client.tokenIntrospection(rsConfig, refreshed.refresh_token, {
    token_type_hint: 'refresh_token',
  })

  step = 'revocation of the refresh token'
  await client.tokenRevocation(config, refreshed.refresh_token, { token_type_hint: 'refresh_token' })

  step = 'introspection of the revoked refresh token'
  const refreshIntroAfter = await client.tokenIntrospection(rsConfig, refreshed.refresh_token, {
    token_type_hint: 'refresh_token',
  })
  step = 'introspection of the access token after revocation'
  const accessIntroAfter = await client.tokenIntrospection(rsConfig, refreshed.access_token, {
    token_type_hint: 'access_token',
  })

  step = 'summary'
  out({
    summary: {
      discovery: {
        issuer: meta.issuer,
        authorization_response_iss_parameter_supported:
          meta.authorization_response_iss_parameter_supported ?? false,
        userinfo_endpoint: meta.userinfo_endpoint ?? null,
        introspection_endpoint: meta.introspection_endpoint ?? null,
        revocation_endpoint: meta.revocation_endpoint ?? null,
      },
      callback_has_iss: callback.searchParams.has('iss'),
      code_grant: {
        token_type: tokens.token_type,
        scope: tokens.scope ?? null,
        expires_in: tokens.expires_in ?? null,
        access_token: fingerprint(tokens.access_token),
        refresh_token: fingerprint(tokens.refresh_token),
        id_token_alg: idAlg,
        id_token: idClaims,
        at_hash_matches: atHashOK,
      },
      userinfo,
      refresh: {
        token_type: refreshed.token_type,
        scope: refreshed.scope ?? null,
        access_token: fingerprint(refreshed.access_token),
        refresh_token: fingerprint(refreshed.refresh_token),
        id_token_sub: refreshedClaims?.sub ?? null,
        at_hash_matches: refreshedAtHashOK,
      },
      introspection: {
        access: accessIntro,
        refresh_before_revocation: refreshIntroBefore,
        refresh_after_revocation: refreshIntroAfter,
        access_after_revocation: accessIntroAfter,
      },
    },
  })
}

try {
  await main()
} catch (err) {
  const d = await describe(err)
  console.error(`run.mjs: ${step} failed:`, err)
  if (d.cause !== undefined) console.error('cause:', JSON.stringify(d.cause, null, 2))
  out({ failed: step, ...d })
  process.exitCode = 1
}
