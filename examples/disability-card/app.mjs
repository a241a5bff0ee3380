// A disability-card app: with the holder's consent, receive the
// certificate from the municipality as a document signed by the portal,
// and keep it (with the portal's keys) for checks without a network.
//
//   node examples/disability-card/app.mjs DIR/demo.json OUT_DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadClient, start, portalJwks, openResponse, waitForCallback, say } from '../interop/rp.mjs';

const [demo, out] = process.argv.slice(2);
if (!demo || !out) {
  console.error('usage: node examples/disability-card/app.mjs DIR/demo.json OUT_DIR');
  process.exit(2);
}
const c = loadClient(demo, 'disability-card');
const flow = await start(c);
say({ authorize: flow.url.href });
const result = await flow.finish(await waitForCallback(c.redirect_uri));
const jwks = await portalJwks(flow.metadata);
const { payload, jws } = await openResponse(result.body, {
  jwks,
  issuer: flow.metadata.issuer,
  clientId: c.client_id,
});
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'certificate.jwt'), jws);
writeFileSync(join(out, 'portal-jwks.json'), JSON.stringify({ issuer: flow.metadata.issuer, ...jwks }));
const cert = payload.items.find((i) => i.item === 'disability_certificate');
say({ result: { saved: join(out, 'certificate.jwt'), certificate: cert ? cert.value : null } });
