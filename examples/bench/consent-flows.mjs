// `node examples/bench/consent-flows.mjs --renkei target/release/renkei [--flows N]`
//
// Complete FAPI 2.0 flows per second and server CPU per flow: renkei's
// consent API (the whole network of `renkei demo` in one process) beside the
// reference authorization server oidc-provider, driven by the same
// openid-client code. A flow is PAR → the user agent's part → token → (for
// renkei) the resource request. The user agent differs by necessity: at
// renkei a person logs in with the card, sees the preview and confirms with
// the card (done here with the demo card's key file); oidc-provider's
// interaction logs in and consents at once.
import * as client from 'openid-client';
import { spawn } from 'node:child_process';
import { readFileSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createPrivateKey, sign, createPublicKey, randomUUID } from 'node:crypto';
import { tmpdir, cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const renkeiBin = arg('renkei');
const FLOWS = Number(arg('flows', '100'));
if (!renkeiBin) {
  console.error('usage: node examples/bench/consent-flows.mjs --renkei target/release/renkei [--flows N]');
  process.exit(2);
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // USER_HZ = 100 on Linux
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Jar {
  constructor() { this.c = new Map(); }
  header() { return [...this.c].map(([k, v]) => `${k}=${v}`).join('; '); }
  keep(res) {
    for (const c of res.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const j = kv.indexOf('=');
      const [k, v] = [kv.slice(0, j), kv.slice(j + 1)];
      if (v === '' || /Max-Age=0/i.test(c)) this.c.delete(k); else this.c.set(k, v);
    }
  }
  async get(url) {
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: this.header() } });
    this.keep(res);
    return res;
  }
  async post(url, form, origin) {
    const res = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: this.header(), 'content-type': 'application/x-www-form-urlencoded', origin },
      body: new URLSearchParams(form).toString(),
    });
    this.keep(res);
    return res;
  }
}

const between = (html, start, end = '"') => {
  const i = html.indexOf(start);
  if (i < 0) throw new Error(`page lacks ${start}`);
  const j = html.indexOf(end, i + start.length);
  return html.slice(i + start.length, j);
};

/** The demo card: its authentication key (PIN 1234) and certificate. */
function card(dir) {
  const key = createPrivateKey({ key: readFileSync(join(dir, 'auth.key.pem')), passphrase: '1234' });
  const pem = readFileSync(join(dir, 'auth.crt.pem'), 'utf8');
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
  const hash = key.asymmetricKeyType === 'ec' ? 'sha384' : 'sha256';
  return async (origin, code) => {
    const c = await (await fetch(`${origin}/api/card/v1/challenges/${code.replace('-', '')}`)).json();
    const tbs = Buffer.from(c.to_be_signed, 'base64');
    const res = await fetch(`${origin}/api/card/v1/challenges/${code.replace('-', '')}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ certificate: der.toString('base64'), signature: sign(hash, tbs, key).toString('base64') }),
    });
    if (!res.ok) throw new Error(`card approval: ${res.status} ${await res.text()}`);
  };
}

/** renkei's user agent: card login, the consent page, card confirmation. */
function renkeiAgent(origin, approve, redirectUri) {
  return async (authorizeUrl) => {
    const b = new Jar();
    let r = await b.get(authorizeUrl);
    if (r.headers.get('location') !== '/login') throw new Error(`authorize: ${r.status}`);
    const login = await (await b.get(`${origin}/login`)).text();
    const code = between(login, 'id="login-code">', '<');
    await approve(origin, code);
    r = await b.post(`${origin}/login/complete`, { code }, origin);
    const page = await (await b.get(new URL(r.headers.get('location'), origin).href)).text();
    const v = (name) => between(page, `name="${name}" value="`);
    r = await b.post(`${origin}/authorize/decide`, {
      csrf: v('csrf'), client_id: v('client_id'), request_uri: v('request_uri'),
      preview_digest: v('preview_digest'), decision: 'approve',
    }, origin);
    const confirmPath = r.headers.get('location');
    const confirm = await (await b.get(`${origin}${confirmPath}`)).text();
    await approve(origin, between(confirm, 'id="confirm-code">', '<'));
    r = await b.post(`${origin}${confirmPath}`, { csrf: between(confirm, 'name="csrf" value="') }, origin);
    const back = r.headers.get('location');
    if (!back || !back.startsWith(redirectUri)) throw new Error(`consent: ${r.status} ${await r.text()}`);
    return back;
  };
}

/** oidc-provider's user agent: follow its redirects. */
function redirectAgent(redirectUri) {
  return async (url) => {
    const b = new Jar();
    let next = url;
    for (let i = 0; i < 10; i++) {
      const r = await b.get(next);
      const loc = r.headers.get('location');
      if (!loc) throw new Error(`no redirect from ${next}: ${r.status} ${await r.text()}`);
      next = new URL(loc, next).href;
      if (next.startsWith(redirectUri)) return next;
    }
    throw new Error('too many redirects');
  };
}

async function run({ issuer, clientId, keyFile, kid, redirectUri, details, agent, resource, pid }) {
  const key = await crypto.subtle.importKey('pkcs8', readFileSync(keyFile), { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
  const config = await client.discovery(new URL(issuer), clientId, { redirect_uris: [redirectUri] },
    client.PrivateKeyJwt({ key, kid }), { execute: [client.allowInsecureRequests], algorithm: 'oauth2' });
  let asMs = 0; // time in PAR and token requests only
  const flow = async () => {
    const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    let t = performance.now();
    const url = await client.buildAuthorizationUrlWithPAR(config, {
      redirect_uri: redirectUri,
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      authorization_details: JSON.stringify(details),
    }, { DPoP: dpop });
    asMs += performance.now() - t;
    const cb = await agent(url.href);
    t = performance.now();
    const tokens = await client.authorizationCodeGrant(config, new URL(cb),
      { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP: dpop });
    asMs += performance.now() - t;
    if (resource) {
      const res = await client.fetchProtectedResource(config, tokens.access_token, new URL(resource), 'GET',
        undefined, undefined, { DPoP: dpop });
      if (res.status !== 200) throw new Error(`resource: ${res.status}`);
      await res.text();
    }
  };
  for (let i = 0; i < 3; i++) await flow(); // warm up
  asMs = 0;
  const cpu0 = cpuSeconds(pid);
  const times = [];
  const t0 = performance.now();
  for (let i = 0; i < FLOWS; i++) {
    const s = performance.now();
    await flow();
    times.push(performance.now() - s);
  }
  const secs = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - cpu0;
  times.sort((a, b) => a - b);
  return {
    flows: FLOWS,
    per_second: FLOWS / secs,
    p50: times[Math.floor(FLOWS * 0.5)],
    p99: times[Math.min(FLOWS - 1, Math.floor(FLOWS * 0.99))],
    cpu_ms_per_flow: (cpu * 1000) / FLOWS,
    as_ms_per_flow: asMs / FLOWS,
  };
}

async function waitFor(path, ms) {
  const until = Date.now() + ms;
  while (!existsSync(path)) {
    if (Date.now() > until) throw new Error(`${path} did not appear`);
    await sleep(200);
  }
}

// --- renkei: the demo network in one process.
const dir = mkdtempSync(join(tmpdir(), 'renkei-bench-consent-'));
const demo = spawn(renkeiBin, ['demo', '--data-dir', join(dir, 'net'), '--residents', '200', '--durability', 'full'],
  { stdio: ['ignore', 'ignore', 'inherit'] });
const stopAll = [() => demo.kill('SIGINT')];
process.on('exit', () => stopAll.forEach((f) => f()));
try {
  await waitFor(join(dir, 'net', 'demo.json'), 180_000);
  await sleep(500);
  const d = JSON.parse(readFileSync(join(dir, 'net', 'demo.json'), 'utf8'));
  const bank = d.consent_api.clients.find((c) => c.name === 'bank');
  const origin = d.consent_api.issuer;
  const renkei = await run({
    issuer: origin, clientId: bank.client_id, keyFile: bank.key, kid: bank.kid,
    redirectUri: bank.redirect_uri, details: bank.authorization_details,
    agent: renkeiAgent(origin, card(d.portal.cards[0].dir), bank.redirect_uri),
    resource: `${origin}/api/v1/self-information`, pid: demo.pid,
  });

  // --- oidc-provider with the same client key.
  const jwks = { keys: [{ ...createPublicKey({ key: readFileSync(bank.key), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' }), kid: bank.kid, alg: 'ES256', use: 'sig' }] };
  const jwksFile = join(dir, 'client-jwks.json');
  writeFileSync(jwksFile, JSON.stringify(jwks));
  const port = 47100 + Math.floor(Math.random() * 800);
  const refRedirect = 'https://bank.example/callback';
  const ref = spawn(process.execPath, [join(here, 'reference-server.mjs')], {
    env: { ...process.env, PORT: String(port), CLIENT_JWKS: jwksFile, CLIENT_ID: 'bench-client', REDIRECT_URI: refRedirect },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  stopAll.push(() => ref.kill());
  await new Promise((resolve) => ref.stdout.once('data', resolve));
  const reference = await run({
    issuer: `http://localhost:${port}`, clientId: 'bench-client', keyFile: bank.key, kid: bank.kid,
    redirectUri: refRedirect, details: bank.authorization_details, agent: redirectAgent(refRedirect),
    resource: null, pid: ref.pid,
  });
  const row = (name, r) =>
    `| ${name} | ${r.flows} | ${r.per_second.toFixed(1)} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.as_ms_per_flow.toFixed(1)} | ${r.cpu_ms_per_flow.toFixed(2)} |`;
  console.log([
    `## Consent API: complete FAPI 2.0 flows (${new Date().toISOString()})`,
    '',
    `- machine: ${cpus().length} × ${cpus()[0].model.trim()}, Node.js ${process.version}`,
    `- command: \`node examples/bench/consent-flows.mjs --renkei ${renkeiBin} --flows ${FLOWS}\``,
    '- one flow: PAR (private_key_jwt) → user agent → token (DPoP, PKCE) [→ resource request for renkei]; flows run one after another',
    '',
    '| server | flows | flows/s | p50 ms | p99 ms | PAR + token ms/flow | server CPU ms/flow |',
    '|---|---|---|---|---|---|---|',
    row('oidc-provider 9 (reference; login and consent automatic)', reference),
    row('renkei (card login + live preview through the hub + card confirmation + resource)', renkei),
    '',
    `Ratios (renkei ÷ reference): flows/s ${(renkei.per_second / reference.per_second).toFixed(2)}, PAR + token time ${(renkei.as_ms_per_flow / reference.as_ms_per_flow).toFixed(2)}, server CPU per flow ${(renkei.cpu_ms_per_flow / reference.cpu_ms_per_flow).toFixed(2)}.`,
  ].join('\n'));
} finally {
  stopAll.forEach((f) => f());
}
process.exit(0);
