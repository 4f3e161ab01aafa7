// A real OpenID Connect provider (node-oidc-provider) for introspectd's back-channel logout test
// (tests/api/oidc_provider.rs), with a user agent that logs in and out through its real
// endpoints. Usage: node provider.mjs <port>, with LOGOUT_URI set to introspectd's
// /backchannel-logout. It prints "ready", then answers commands on stdin, one line each:
//   login <user>  logs in (login form, consent, code flow with PKCE) and prints the tokens as JSON
//   logout        ends that session at the end-session endpoint (which sends the logout token
//                 to LOGOUT_URI and waits for the answer) and prints the status it saw
import * as crypto from 'node:crypto';
import * as readline from 'node:readline';

import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const issuer = `http://127.0.0.1:${port}`;
const REDIRECT = 'http://127.0.0.1/callback';
const RESOURCE = 'https://api.example';
const CLIENT = { id: 'orders-web', secret: 'orders-web-secret' };

// A signing key made for this run.
const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-key', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT.id,
    client_secret: CLIENT.secret,
    redirect_uris: [REDIRECT],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    backchannel_logout_uri: process.env.LOGOUT_URI,
    backchannel_logout_session_required: true,
  }],
  jwks: { keys: [jwk] },
  cookies: { keys: ['introspectd-test-cookie-key'] },
  ttl: {
    AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, IdToken: 3600, Interaction: 600,
    Session: 3600,
  },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  // The provider refuses to call special-use addresses (SSRF protection); in this test
  // introspectd listens on loopback.
  fetch: (url, options) => {
    const { dispatcher, ...rest } = options;
    return fetch(url, rest);
  },
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    // JWT access tokens for the API introspectd protects.
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: 'api:read',
        audience: 'api',
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: 'RS256' } },
      }),
    },
  },
  // The session id in the access token, as Keycloak puts it there: what a logout token names.
  extraTokenClaims: (ctx, token) => (token.kind === 'AccessToken' && token.sid
    ? { sid: token.sid } : undefined),
});
provider.on('backchannel.error', (ctx, err) => console.error(`backchannel error: ${err.message}`));

/// The user agent's cookies, by name (paths ignored: one flow at a time).
const jar = new Map();
function remember(res) {
  for (const cookie of res.headers.getSetCookie()) {
    const [pair] = cookie.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq);
    if (/expires=Thu, 01 Jan 1970/i.test(cookie)) jar.delete(name);
    else jar.set(name, pair.slice(eq + 1));
  }
}
function cookieHeader() {
  return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
}
async function request(url, init = {}) {
  const res = await fetch(new URL(url, issuer), {
    ...init,
    redirect: 'manual',
    headers: { ...init.headers, cookie: cookieHeader() },
  });
  remember(res);
  return res;
}
function form(body) {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body).toString(),
  };
}
/// Follows redirects inside the provider; stops at the client's redirect URI.
async function follow(res) {
  let current = res;
  while (current.status >= 300 && current.status < 400) {
    const location = current.headers.get('location');
    if (location.startsWith(REDIRECT)) return location;
    current = await request(location);
  }
  if (current.status !== 200) throw new Error(`unexpected ${current.status} at ${current.url}`);
  return current;
}
async function interact(page, body) {
  const uid = new URL(page.url).pathname.split('/').pop();
  return follow(await request(`/interaction/${uid}`, form(body)));
}

let idToken;

async function login(user) {
  const verifier = crypto.randomBytes(32).toString('base64url');
  const challenge = crypto.createHash('sha256').update(verifier).digest('base64url');
  const auth = new URL('/auth', issuer);
  auth.search = new URLSearchParams({
    client_id: CLIENT.id,
    response_type: 'code',
    scope: 'openid api:read',
    redirect_uri: REDIRECT,
    resource: RESOURCE,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  }).toString();
  const loginPage = await follow(await request(auth));
  const consentPage = await interact(loginPage, { prompt: 'login', login: user, password: 'any' });
  const callback = await interact(consentPage, { prompt: 'consent' });
  const code = new URL(callback).searchParams.get('code');
  const basic = Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64');
  const res = await fetch(new URL('/token', issuer), {
    ...form({
      grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier,
      resource: RESOURCE,
    }),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
  });
  const tokens = await res.json();
  if (!res.ok) throw new Error(`token endpoint: ${JSON.stringify(tokens)}`);
  idToken = tokens.id_token;
  return { access_token: tokens.access_token, id_token: tokens.id_token };
}

async function logout() {
  const end = new URL('/session/end', issuer);
  end.search = new URLSearchParams({ id_token_hint: idToken }).toString();
  const page = await request(end);
  const html = await page.text();
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  if (!xsrf) throw new Error(`no logout form: ${page.status}`);
  // Sends the logout token to every client of the session, and waits for their answers.
  const res = await request('/session/end/confirm', form({ xsrf, logout: 'yes' }));
  return res.status;
}

provider.listen(port, '127.0.0.1', () => {
  console.log('ready');
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', async (line) => {
    const [command, arg] = line.trim().split(' ');
    try {
      if (command === 'login') console.log(JSON.stringify(await login(arg)));
      else if (command === 'logout') console.log(`logged-out ${await logout()}`);
    } catch (err) {
      console.log(`error ${err.message}`);
    }
  });
  lines.on('close', () => process.exit(0));
});
