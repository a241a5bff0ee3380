// Deposits as a sender's own software makes them, with jose (panva/jose)
// rather than renkei's code: the interoperability check of the deposit
// format (a compact JWS, typ renkei-deposit+jws, kid of a key in the
// sender's registered JWKS).
//
// Protocol: reads one JSON object on stdin,
//   {"sign": [claims, …], "verify": {"jws": "…", "jwk": {…}}}
// signs every claims object with a fresh ES256 key and a fresh Ed25519
// key, verifies the given JWS (made by renkei) with the given public JWK,
// and prints
//   {"jwks": {"keys": [jwk, jwk]}, "signed": ["jws", …], "verified": claims}
// (or {"error": "…"}).
import * as jose from 'jose';

const TYP = 'renkei-deposit+jws';

async function key(alg, kid) {
  const { publicKey, privateKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid, use: 'sig', alg };
  return { jwk, privateKey, alg, kid };
}

async function main() {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const { sign, verify } = JSON.parse(input);
  const keys = [await key('ES256', 'jose-es256'), await key('EdDSA', 'jose-ed25519')];
  const signed = [];
  for (const claims of sign) {
    for (const k of keys) {
      signed.push(
        await new jose.CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
          .setProtectedHeader({ alg: k.alg, kid: k.kid, typ: TYP })
          .sign(k.privateKey),
      );
    }
  }
  const publicKey = await jose.importJWK(verify.jwk, verify.jwk.alg ?? 'ES256');
  const { payload, protectedHeader } = await jose.compactVerify(verify.jws, publicKey);
  if (protectedHeader.typ !== TYP) throw new Error(`typ ${protectedHeader.typ}`);
  const verified = JSON.parse(new TextDecoder().decode(payload));
  process.stdout.write(JSON.stringify({ jwks: { keys: keys.map((k) => k.jwk) }, signed, verified }));
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ error: String(e && e.message ? e.message : e) }));
  process.exitCode = 1;
});
