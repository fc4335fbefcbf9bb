// A real, independently written OpenID Provider (the npm package
// oidc-provider) for tokengate's integration tests (integration/idp_test.go).
//
//   node oidc_provider.mjs <port> <keys.json>
//
// keys.json is a JWK Set of PRIVATE signing keys; restarting the script
// with another file is a key rotation. Clients:
//   app / app-secret      client_credentials, scopes read write
//   gateway / gw-secret   tokengate's client for introspection
// Resources (RFC 8707 `resource` parameter of the token request):
//   urn:api          JWT access tokens (RFC 9068), aud urn:api, 300 s
//   urn:api:short    JWT access tokens, aud urn:api, 1 s (expiry tests)
//   urn:other        JWT access tokens, aud urn:other (wrong audience)
//   urn:api:opaque   opaque access tokens, aud urn:api, 300 s
// Prints "ready" on stdout once listening; stops on SIGTERM/SIGINT.
import { readFileSync } from 'node:fs';
import Provider, { errors } from 'oidc-provider';

const [port, keysFile] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const jwks = JSON.parse(readFileSync(keysFile, 'utf8'));

// The signing algorithm follows the key set (RSA keys: RS256, EC: ES256).
const alg = jwks.keys[0].kty === 'RSA' ? 'RS256' : 'ES256';

const resources = {
  'urn:api': { audience: 'urn:api', accessTokenTTL: 300, accessTokenFormat: 'jwt' },
  'urn:api:short': { audience: 'urn:api', accessTokenTTL: 1, accessTokenFormat: 'jwt' },
  'urn:other': { audience: 'urn:other', accessTokenTTL: 300, accessTokenFormat: 'jwt' },
  'urn:api:opaque': { audience: 'urn:api', accessTokenTTL: 300, accessTokenFormat: 'opaque' },
};

const provider = new Provider(issuer, {
  jwks,
  scopes: ['openid', 'offline_access', 'read', 'write'],
  clients: [
    {
      client_id: 'app', client_secret: 'app-secret', grant_types: ['client_credentials'],
      redirect_uris: [], response_types: [], scope: 'read write',
      id_token_signed_response_alg: alg,
    },
    {
      client_id: 'gateway', client_secret: 'gw-secret', grant_types: [],
      redirect_uris: [], response_types: [], id_token_signed_response_alg: alg,
    },
  ],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true, allowedPolicy: async () => true },
    revocation: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => 'urn:api',
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resource) => {
        const r = resources[resource];
        if (!r) throw new errors.InvalidTarget();
        return { scope: 'read write', ...r, jwt: { sign: { alg } } };
      },
    },
  },
});
provider.proxy = false;

const server = provider.listen(Number(port), '127.0.0.1', () => {
  process.stdout.write('ready\n');
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
