// A PHR app: with the person's consent, fetch five years of health
// checkups (delivered encrypted to this app's key) and show the trends.
//
//   node examples/phr/checkups.mjs DIR/demo.json
//
// Open the printed URL in a browser, log in with a demo card, agree, and
// confirm with the card; the browser comes back to this app.
import { loadClient, start, portalJwks, openResponse, waitForCallback, say } from '../interop/rp.mjs';

const demo = process.argv[2];
if (!demo) {
  console.error('usage: node examples/phr/checkups.mjs DIR/demo.json');
  process.exit(2);
}
const c = loadClient(demo, 'phr');
const flow = await start(c);
say({ authorize: flow.url.href });
const result = await flow.finish(await waitForCallback(c.redirect_uri));
const { payload, encrypted } = await openResponse(result.body, {
  jwks: await portalJwks(flow.metadata),
  issuer: flow.metadata.issuer,
  clientId: c.client_id,
  encryptionKey: c.encryption_key,
});
const rows = payload.items
  .filter((i) => i.value)
  .map((i) => ({ year: i.tax_year, ...i.value }))
  .sort((a, b) => a.year - b.year);
const trend = (k) => (rows.length > 1 ? +(rows.at(-1)[k] - rows[0][k]).toFixed(1) : 0);
say({
  result: {
    encrypted,
    years: rows.map((r) => r.year),
    checkups: rows,
    trend: { bmi: trend('bmi'), systolic_bp: trend('systolic_bp'), hba1c: trend('hba1c') },
  },
});
if (process.stdout.isTTY) {
  for (const r of rows) {
    const bar = '#'.repeat(Math.round(r.bmi - 15));
    console.log(`${r.year}  BMI ${String(r.bmi).padStart(4)} ${bar}  BP ${r.systolic_bp}/${r.diastolic_bp}  HbA1c ${r.hba1c}`);
  }
}
