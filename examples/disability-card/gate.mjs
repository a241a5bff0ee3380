// A ticket gate: checks a disability certificate the app shows, offline —
// only the portal's public keys, saved beforehand, are needed.
//
//   node examples/disability-card/gate.mjs certificate.jwt portal-jwks.json [--max-age-days N]
// Exit 0 and "OK" when the discount applies; exit 1 with the reason if not.
import { readFileSync } from 'node:fs';
import * as jose from 'jose';

const [certFile, jwksFile, flag, days] = process.argv.slice(2);
if (!certFile || !jwksFile) {
  console.error('usage: node examples/disability-card/gate.mjs certificate.jwt portal-jwks.json [--max-age-days N]');
  process.exit(2);
}
const maxAge = flag === '--max-age-days' ? Number(days) : 366;
const saved = JSON.parse(readFileSync(jwksFile, 'utf8'));
try {
  const { payload } = await jose.jwtVerify(
    readFileSync(certFile, 'utf8').trim(),
    jose.createLocalJWKSet({ keys: saved.keys }),
    { issuer: saved.issuer, algorithms: ['ES256'], maxTokenAge: `${maxAge} days` },
  );
  const cert = payload.items.find((i) => i.item === 'disability_certificate' && i.value);
  if (!cert) throw new Error('the document certifies no disability certificate');
  console.log(JSON.stringify({ ok: true, certificate: cert.value.certificate, grade: cert.value.grade }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, reason: e.code ?? e.message }));
  process.exit(1);
}
