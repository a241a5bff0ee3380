// A small relying party on openid-client, shared by the examples: FAPI 2.0
// (PAR, PKCE S256, private_key_jwt, DPoP, RFC 9207 iss) against the portal,
// and the checks of what comes back (JWS, JWE) with jose.
import * as client from 'openid-client';
import * as jose from 'jose';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

/** The client described by DIR/clients/<name>/client.json (renkei demo). */
export function loadClient(demoJsonPath, name) {
  const demo = JSON.parse(readFileSync(demoJsonPath, 'utf8'));
  const c = demo.consent_api.clients.find((x) => x.name === name);
  if (!c) throw new Error(`${demoJsonPath} has no example client named ${name}`);
  return { issuer: demo.consent_api.issuer, ...c };
}

function pem(der, label) {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/**
 * Start the flow: discovery, DPoP key, PKCE, PAR. Returns the URL to open
 * and `finish(callbackUrl)`, which redeems the code and fetches the data.
 */
export async function start(c, details) {
  const key = await crypto.subtle.importKey(
    'pkcs8',
    readFileSync(c.key),
    { name: 'ECDSA', namedCurve: 'P-256' },
    false,
    ['sign'],
  );
  // Plain HTTP is only for the loopback demo; over https nothing is relaxed.
  const execute = c.issuer.startsWith('http://') ? [client.allowInsecureRequests] : [];
  const config = await client.discovery(
    new URL(c.issuer),
    c.client_id,
    { redirect_uris: [c.redirect_uri] },
    client.PrivateKeyJwt({ key, kid: c.kid }),
    // An OAuth 2.0 server (RFC 8414 metadata), not an OpenID Provider.
    { execute, algorithm: 'oauth2' },
  );
  const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = await client.buildAuthorizationUrlWithPAR(
    config,
    {
      redirect_uri: c.redirect_uri,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      authorization_details: JSON.stringify(details ?? c.authorization_details),
    },
    { DPoP: dpop },
  );
  const meta = config.serverMetadata();
  async function finish(callback) {
    const tokens = await client.authorizationCodeGrant(
      config,
      new URL(callback),
      { pkceCodeVerifier: verifier, expectedState: state },
      undefined,
      { DPoP: dpop },
    );
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
    if (res.status !== 200) throw new Error(`the resource answered ${res.status}: ${body}`);
    return { tokens, status: res.status, contentType: res.headers.get('content-type'), body };
  }
  return { url, finish, metadata: meta };
}

/** The portal's JWKS (to keep for offline checks too). */
export async function portalJwks(metadata) {
  return (await fetch(metadata.jwks_uri)).json();
}

/** Open the response: decrypt if it is a JWE, then verify the portal's JWS. */
export async function openResponse(body, { jwks, issuer, clientId, encryptionKey }) {
  let jws = body;
  if (body.split('.').length === 5) {
    if (!encryptionKey) throw new Error('an encrypted response, but no decryption key');
    const key = await jose.importPKCS8(pem(readFileSync(encryptionKey), 'PRIVATE KEY'), 'ECDH-ES');
    const { plaintext, protectedHeader } = await jose.compactDecrypt(body, key);
    if (protectedHeader.alg !== 'ECDH-ES' || protectedHeader.enc !== 'A256GCM') {
      throw new Error(`unexpected JWE algorithms ${protectedHeader.alg}/${protectedHeader.enc}`);
    }
    jws = new TextDecoder().decode(plaintext);
  }
  const { payload } = await jose.jwtVerify(jws, jose.createLocalJWKSet(jwks), {
    issuer,
    audience: clientId,
    algorithms: ['ES256'],
  });
  return { payload, jws, encrypted: jws !== body };
}

/**
 * Where the browser comes back: a line on stdin when CALLBACK=stdin (the
 * tests), else an HTTP listener on the loopback redirect URI.
 */
export function waitForCallback(redirectUri) {
  if (process.env.CALLBACK === 'stdin') {
    const lines = createInterface({ input: process.stdin });
    return new Promise((resolve) =>
      lines.once('line', (l) => {
        lines.close();
        resolve(l.trim());
      }),
    );
  }
  const target = new URL(redirectUri);
  return new Promise((resolve, reject) => {
    const server = createServer((req, res) => {
      const url = new URL(req.url, target);
      if (url.pathname !== target.pathname) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Received. You can close this tab. / 受け取りました。このタブは閉じてかまいません。\n');
      server.close();
      resolve(url.href);
    });
    server.on('error', reject);
    server.listen(Number(target.port), target.hostname);
  });
}

/** Print a JSON line (what the tests read) or a human message. */
export function say(obj) {
  console.log(JSON.stringify(obj));
}
