// A bank's housing-loan screening: with the applicant's consent, receive
// their FY2025 income from the municipality through the portal.
//
//   node examples/bank/income-check.mjs DIR/demo.json
import { loadClient, start, portalJwks, openResponse, waitForCallback, say } from '../interop/rp.mjs';

const demo = process.argv[2];
if (!demo) {
  console.error('usage: node examples/bank/income-check.mjs DIR/demo.json');
  process.exit(2);
}
const c = loadClient(demo, 'bank');
const flow = await start(c);
say({ authorize: flow.url.href });
const result = await flow.finish(await waitForCallback(c.redirect_uri));
const { payload } = await openResponse(result.body, {
  jwks: await portalJwks(flow.metadata),
  issuer: flow.metadata.issuer,
  clientId: c.client_id,
});
const income = payload.items.find((i) => i.item === 'resident_tax_income' && i.value);
// Screening rule of thumb: repayments at most 25% of income over 35 years.
const yearly = income ? income.value.income ?? income.value.taxable_income ?? 0 : 0;
say({
  result: {
    grant_id: result.tokens.grant_id,
    purpose: payload.purpose,
    keep_for: payload.data_life,
    income: income ? income.value : null,
    source: income ? income.provider : null,
    max_loan_yen: Math.floor(yearly * 0.25 * 35),
  },
});
