// The reference authorization server for `consent-flows.mjs`: oidc-provider
// (npm) configured as close to renkei's consent API as it allows — FAPI 2.0
// profile, PAR required, PKCE S256, private_key_jwt, DPoP-bound tokens, Rich
// Authorization Requests of type self_information — with an interaction that
// logs in and consents at once (no person, no card, no preview).
//
// Environment: PORT, CLIENT_JWKS (the client's public JWKS file), CLIENT_ID,
// REDIRECT_URI. Prints {"issuer": …} when listening.
import Provider from 'oidc-provider';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const port = Number(process.env.PORT || 47100);
const issuer = `http://localhost:${port}`;
const clientJwks = JSON.parse(readFileSync(process.env.CLIENT_JWKS, 'utf8'));
const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    redirect_uris: [process.env.REDIRECT_URI],
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'ES256',
    jwks: clientJwks,
    grant_types: ['authorization_code'],
    response_types: ['code'],
    dpop_bound_access_tokens: true,
    authorization_details_types: ['self_information'],
  }],
  features: {
    fapi: { enabled: true, profile: '2.0' },
    pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: true },
    dPoP: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => 'https://rs.example/',
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: 'self_information', accessTokenFormat: 'opaque' }),
    },
    richAuthorizationRequests: {
      enabled: true,
      // The grant holds exactly what the person agreed to.
      authorizationDetailsForGrantSource: async (ctx) => ctx.oidc.grant.rar,
      authorizationDetailsForAccessToken: async (_ctx, _token, source) => source.rar,
      types: {
        self_information: {
          validate(_ctx, detail) {
            if (!Array.isArray(detail.items) || !detail.items.length) throw new Error('items');
          },
        },
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  renderError: (ctx, out, error) => {
    console.error('renderError', out, error && error.message);
    ctx.body = JSON.stringify(out);
  },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
});
provider.proxy = false;
const cb = provider.callback();
createServer(async (req, res) => {
  if (req.url.startsWith('/interaction/')) {
    try {
      const details = await provider.interactionDetails(req, res);
      const grant = new provider.Grant({ accountId: 'person', clientId: details.params.client_id });
      if (details.params.scope) grant.addOIDCScope(details.params.scope);
      for (const d of JSON.parse(details.params.authorization_details || '[]')) grant.addRar(d);
      grant.addResourceScope('https://rs.example/', 'self_information');
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: 'person' }, consent: { grantId } }, { mergeWithLastSubmission: false });
    } catch (e) {
      res.writeHead(500).end(String(e));
    }
    return;
  }
  cb(req, res);
}).listen(port, '127.0.0.1', () => console.log(JSON.stringify({ issuer })));
