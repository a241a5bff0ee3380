// A relying party built only on openid-client (a certified FAPI 2.0
// client library), used unchanged: discovery, PAR, PKCE S256,
// private_key_jwt, DPoP, RFC 9207 `iss` check, the resource request — and
// jose verifying the portal's signed response against its JWKS.
//
// Environment: ISSUER, CLIENT_ID, KEY_FILE (PKCS#8 DER, P-256), KID,
// REDIRECT_URI, DETAILS (authorization_details JSON).
// Protocol: prints {"authorize": URL} on stdout, reads the callback URL the
// browser was sent to on stdin, prints {"result": …} or {"error": …}.
import * as client from 'openid-client';
import * as jose from 'jose';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};

async function main() {
  const issuer = env('ISSUER');
  const key = await crypto.subtle.importKey(
    'pkcs8',
    readFileSync(env('KEY_FILE')),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  // Plain HTTP is only for the loopback demo; over https nothing is relaxed.
  const execute = issuer.startsWith('http://') ? [client.allowInsecureRequests] : [];
  const config = await client.discovery(
    new URL(issuer),
    env('CLIENT_ID'),
    { redirect_uris: [env('REDIRECT_URI')] },
    client.PrivateKeyJwt({ key, kid: env('KID') }),
    // An OAuth 2.0 server (RFC 8414 metadata), not an OpenID Provider.
    { execute, algorithm: 'oauth2' },
  );
  const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithPAR(
    config,
    {
      redirect_uri: env('REDIRECT_URI'),
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      authorization_details: env('DETAILS'),
    },
    { DPoP: dpop },
  );
  console.log(JSON.stringify({ authorize: url.href }));

  const lines = createInterface({ input: process.stdin });
  const callback = await new Promise((resolve) => lines.once('line', resolve));
  lines.close();

  const tokens = await client.authorizationCodeGrant(
    config,
    new URL(callback),
    { pkceCodeVerifier: verifier, expectedState: state },
    undefined,
    { DPoP: dpop },
  );
  const meta = config.serverMetadata();
  const res = await client.fetchProtectedResource(
    config,
    tokens.access_token,
    new URL(meta.self_information_endpoint),
    'GET',
    undefined,
    undefined,
    { DPoP: dpop },
  );
  const body = await res.text();
  const jwks = jose.createLocalJWKSet(await (await fetch(meta.jwks_uri)).json());
  const { payload, protectedHeader } = await jose.jwtVerify(body, jwks, {
    issuer: meta.issuer,
    audience: env('CLIENT_ID'),
    algorithms: ['ES256'],
  });
  console.log(
    JSON.stringify({
      result: {
        token_type: tokens.token_type,
        grant_id: tokens.grant_id,
        authorization_details: tokens.authorization_details,
        status: res.status,
        content_type: res.headers.get('content-type'),
        alg: protectedHeader.alg,
        items: payload.items,
      },
    }),
  );
}

main().catch(async (e) => {
  const cause = e && e.cause;
  let body;
  try {
    body = cause && typeof cause.text === 'function' ? await cause.text() : undefined;
  } catch {
    body = undefined;
  }
  console.log(
    JSON.stringify({
      error: String(e && e.message ? e.message : e),
      code: e && e.code,
      status: cause && cause.status,
      url: cause && cause.url,
      body,
    }),
  );
  process.exit(1);
});
