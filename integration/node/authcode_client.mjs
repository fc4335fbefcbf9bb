// A real OAuth 2.0 / OpenID Connect client, written with oauth4webapi (an
// independent, certified client library), driving tokengate's whole
// authorization code flow: discovery (both documents) → authorize → the
// app's login page → code → token with PKCE → ID token validated (claims,
// nonce, and signature against the JWKS) → UserInfo → refresh → revoke.
// Started by integration/authcode_test.go with ISSUER set; it prints one
// JSON line of what it saw and exits non-zero on the first failure.
import * as oauth from 'oauth4webapi';

const issuer = new URL(process.env.ISSUER);
const insecure = { [oauth.allowInsecureRequests]: true }; // loopback http only
const out = {};

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
}

// Discovery: both documents, and the members a client of this flow needs.
const docs = {};
for (const algorithm of ['oauth2', 'oidc']) {
  const resp = await oauth.discoveryRequest(issuer, { algorithm, ...insecure });
  const as = await oauth.processDiscoveryResponse(issuer, resp);
  for (const m of ['issuer', 'authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint',
    'response_types_supported', 'subject_types_supported', 'id_token_signing_alg_values_supported',
    'code_challenge_methods_supported', 'grant_types_supported']) {
    check(as[m] !== undefined, `${algorithm} document has ${m}`);
  }
  check(as.response_types_supported.includes('code'), 'response type code');
  check(as.code_challenge_methods_supported.includes('S256'), 'PKCE S256');
  check(!as.code_challenge_methods_supported.includes('plain'), 'no plain PKCE');
  check(as.grant_types_supported.includes('authorization_code'), 'authorization_code grant');
  docs[algorithm] = as;
}
const as = docs.oidc;
out.discovery = Object.keys(docs);

// The browser part of the flow: follow the authorization endpoint to the
// login page, submit the form as alice, and take the redirect back to the
// client. fetch with redirect: 'manual' shows each Location.
async function browserLogin(authorizationUrl, action) {
  let r = await fetch(authorizationUrl, { redirect: 'manual' });
  check(r.status === 302, `authorize answers 302, got ${r.status}: ${await r.text()}`);
  const login = new URL(r.headers.get('location'));
  const ticket = login.searchParams.get('ticket');
  check(ticket, 'the login page gets a ticket');
  r = await fetch(login);
  check(r.status === 200 && (await r.text()).includes('<form'), 'the login page shows a form');
  r = await fetch(new URL('/login', login), {
    method: 'POST', redirect: 'manual',
    body: new URLSearchParams({ ticket, username: 'alice', password: 'demo', action }),
  });
  check(r.status === 303, `the login page redirects, got ${r.status}: ${await r.text()}`);
  return new URL(r.headers.get('location'));
}

async function flow(client, clientAuth, redirectUri, scope) {
  const codeVerifier = oauth.generateRandomCodeVerifier();
  const codeChallenge = await oauth.calculatePKCECodeChallenge(codeVerifier);
  const state = oauth.generateRandomState();
  const nonce = oauth.generateRandomNonce();
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', scope);
  url.searchParams.set('state', state);
  url.searchParams.set('nonce', nonce);
  url.searchParams.set('code_challenge', codeChallenge);
  url.searchParams.set('code_challenge_method', 'S256');
  const callback = await browserLogin(url, 'allow');
  // RFC 9207: the library requires iss, since the metadata announces it.
  const params = oauth.validateAuthResponse(as, client, callback, state);
  const tokenResp = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, codeVerifier, insecure);
  const result = await oauth.processAuthorizationCodeResponse(as, client, tokenResp, { expectedNonce: nonce, requireIdToken: true });
  // The ID token's signature, against the keys of jwks_uri.
  await oauth.validateApplicationLevelSignature(as, tokenResp, insecure);
  const claims = oauth.getValidatedIdTokenClaims(result);
  check(claims.sub === 'alice' && claims.nonce === nonce && claims.iss === as.issuer, 'ID token claims');
  return { result, claims, params, codeVerifier };
}

// Confidential client (client_secret_basic).
const web = { client_id: 'web', id_token_signed_response_alg: 'RS256' };
const webAuth = oauth.ClientSecretBasic('w3b');
const redirectUri = process.env.REDIRECT_URI;
const { result, claims, params, codeVerifier } = await flow(web, webAuth, redirectUri, 'openid profile email api.read');
out.idToken = { sub: claims.sub, aud: claims.aud, nonce: !!claims.nonce };

// UserInfo, checked by the library against the ID token's subject.
const ui = await oauth.processUserInfoResponse(as, web, claims.sub,
  await oauth.userInfoRequest(as, web, result.access_token, insecure));
check(ui.name === 'Alice Demo' && ui.email === 'alice@example.org', 'UserInfo claims');
out.userinfo = ui;

// The code is single-use: the library's second redemption is refused.
let reused;
try {
  await oauth.processAuthorizationCodeResponse(as, web,
    await oauth.authorizationCodeGrantRequest(as, web, webAuth, params, redirectUri, codeVerifier, insecure));
} catch (e) {
  reused = e.error || e.code || String(e);
}
check(reused !== undefined, 'a reused code is refused');
out.reused = reused;

// A second login for the refresh and revocation (the reuse above revoked the first grant).
const second = await flow(web, webAuth, redirectUri, 'openid profile api.read');
const refreshed = await oauth.processRefreshTokenResponse(as, web,
  await oauth.refreshTokenGrantRequest(as, web, webAuth, second.result.refresh_token, insecure));
check(refreshed.refresh_token && refreshed.refresh_token !== second.result.refresh_token, 'refresh rotates');
await oauth.processRevocationResponse(await oauth.revocationRequest(as, web, webAuth, refreshed.refresh_token, insecure));
const intro = await oauth.processIntrospectionResponse(as, web,
  await oauth.introspectionRequest(as, web, webAuth, refreshed.access_token, insecure));
check(intro.active === false, 'revoked access token is inactive');
out.revoked = true;

// A public client: PKCE and client_id only.
// spa registered ES256: the client checks each client's own algorithm.
const spa = { client_id: 'spa', id_token_signed_response_alg: 'ES256' };
const pub = await flow(spa, oauth.None(), redirectUri, 'openid api.read');
check(pub.result.access_token && [pub.claims.aud].flat().includes('spa'), 'public client tokens');
out.publicClient = true;

console.log(JSON.stringify(out));
