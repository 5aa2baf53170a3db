// A real OpenID provider for the login tests: panva's oidc-provider with its built-in
// development login and consent pages (any login name, any password).
//
//   node provider.mjs PORT            (or PORT=... node provider.mjs)
//   REDIRECT_URIS=http://127.0.0.1:5000/login/oidc/callback,...   the clients' redirect URIs
//
// Clients, all with the secret "scoreboard-secret" and the same redirect URIs:
//   scoreboard            a well-behaved client: the one the app signs in with
//   scoreboard-wrong-aud  its ID tokens name another audience (signed with the real keys)
//   scoreboard-expired    its ID tokens expired ten minutes before they were issued
// A user's claims follow from the login name: email <login>@example.test, verified unless the
// login starts with "unverified"; name "Player <login>"; preferred_username <login>.
// GET /__requests answers how many requests each path has had (to see what is cached).
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || process.env.PORT || 4100);
const issuer = `http://127.0.0.1:${port}`;
const redirectUris = (process.env.REDIRECT_URIS || `http://127.0.0.1:5000/login/oidc/callback`)
  .split(',')
  .filter(Boolean);

const client = (clientId) => ({
  client_id: clientId,
  client_secret: 'scoreboard-secret',
  redirect_uris: redirectUris,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
});

const provider = new Provider(issuer, {
  clients: [client('scoreboard'), client('scoreboard-wrong-aud'), client('scoreboard-expired')],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          email: `${id}@example.test`,
          email_verified: !id.startsWith('unverified'),
          name: `Player ${id}`,
          preferred_username: id,
        };
      },
    };
  },
  pkce: { required: () => true },
  cookies: { keys: ['test-cookie-key-not-a-secret'] },
  features: { devInteractions: { enabled: true } },
});

// The two misbehaving clients: the token is still signed with the provider's own keys.
const issue = provider.IdToken.prototype.issue;
provider.IdToken.prototype.issue = function misbehave(options = {}) {
  const id = this.client?.clientId;
  if (options.use === 'idtoken' && id === 'scoreboard-wrong-aud') {
    const real = this.client;
    this.client = new Proxy(real, {
      get: (target, prop) => (prop === 'clientId' ? 'someone-else' : Reflect.get(target, prop, target)),
    });
    return issue.call(this, options).finally(() => { this.client = real; });
  }
  if (options.use === 'idtoken' && id === 'scoreboard-expired') {
    return issue.call(this, { ...options, expiresAt: Math.floor(Date.now() / 1000) - 600 });
  }
  return issue.call(this, options);
};

const counts = {};
provider.use(async (ctx, next) => {
  if (ctx.path === '/__requests') {
    ctx.body = counts;
    return;
  }
  counts[ctx.path] = (counts[ctx.path] || 0) + 1;
  await next();
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
