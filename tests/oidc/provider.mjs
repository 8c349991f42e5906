// A real OpenID provider for Wharf's tests: panva's oidc-provider on 127.0.0.1.
//   node provider.mjs <port> <users.json>
// Users and their groups are read from the JSON file at every login, so that a test can change
// someone's groups between two logins. Its development login form accepts any password.
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const usersFile = process.argv[3];
const issuer = `http://127.0.0.1:${port}`;

function users() {
  return JSON.parse(readFileSync(usersFile, 'utf8'));
}

const configuration = {
  clients: [
    {
      client_id: 'wharf',
      client_secret: 'wharf-test-secret',
      redirect_uris: ['http://127.0.0.1/auth/oidc/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
    {
      // Another relying party: its ID tokens are not for Wharf.
      client_id: 'other-app',
      client_secret: 'other-app-secret',
      redirect_uris: ['http://127.0.0.1/other/callback'],
      grant_types: ['authorization_code'],
      response_types: ['code'],
    },
  ],
  claims: {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email'],
    groups: ['groups'],
  },
  scopes: ['openid', 'profile', 'email', 'groups'],
  // Put the claims of the granted scopes in the ID token itself.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  cookies: { keys: ['wharf-test-cookie-key'] },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, id) {
    const user = users()[id];
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          preferred_username: id,
          name: user.name || id,
          email: user.email || `${id}@example.test`,
          groups: user.groups || [],
        };
      },
    };
  },
};

const provider = new Provider(issuer, configuration);
provider.proxy = false;
// Wharf's tests run on random ports: any http://127.0.0.1:<port> with the right path is allowed.
const allowed = provider.Client.prototype.redirectUriAllowed;
provider.Client.prototype.redirectUriAllowed = function (uri) {
  try {
    const u = new URL(uri);
    if (u.protocol === 'http:' && u.hostname === '127.0.0.1') {
      const wanted = this.clientId === 'wharf' ? '/auth/oidc/callback' : '/other/callback';
      return u.pathname === wanted && !u.search && !u.hash;
    }
  } catch {
    return false;
  }
  return allowed.call(this, uri);
};
provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
