// Logging in to the reference server: v1 /1/auth/, OAuth2 /oauth2/token (+ refresh, revoke),
// two-step authentication in all three modes, token expiry, trial/license checks, and the
// insecure-transport rule. Real server over HTTPS on loopback, injected clock.
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';
import { accessToken, call, lastMessageTo, manualClock, oauthLogin, outbox, wrongCode, type ManualClock } from '../helpers/server-api.js';

const TOKEN_KEYS = ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'];

let t: TestServer;
let c: ManualClock;
let seq = 0;

/** A fresh admin access token (the injected clock moves on, so old ones expire). */
async function admin(): Promise<string> {
  return accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
}

async function newUser(extra: Record<string, string> = {}): Promise<{ email: string; password: string; id: number }> {
  seq++;
  const email = `user${seq}@example.test`;
  const password = `pass-${seq}-secret`;
  const res = await call(t, 'POST', 'api/2/person/create', { token: await admin(), form: { email, password, first_name: 'U', last_name: String(seq), ...extra } });
  expect(res.status).toBe(200);
  return { email, password, id: res.body.id as number };
}

function totpAt(key: string, ms: number): string {
  return TOTP.generate({ secret: Secret.fromBase32(key), algorithm: 'SHA1', digits: 6, period: 30, timestamp: ms });
}

beforeAll(async () => {
  c = manualClock();
  t = await startTestServer({ clock: c.clock, accessTokenSeconds: 600 });
});

afterAll(async () => {
  await t.stop();
});

describe('POST /1/auth/', () => {
  it('refuses a request without username or password with the documented message (400)', async () => {
    for (const form of [{}, { username: ADMIN_EMAIL }, { password: ADMIN_PASSWORD }, { username: '', password: '' }]) {
      const res = await call(t, 'POST', '1/auth/', { form: form as Record<string, string> });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ message: 'You must provide a username and password', success: false });
    }
  });

  it('refuses a wrong pair with the documented message (401), for a known and an unknown account', async () => {
    for (const form of [
      { username: ADMIN_EMAIL, password: 'wrong' },
      { username: 'nobody@example.test', password: ADMIN_PASSWORD },
    ]) {
      const res = await call(t, 'POST', '1/auth/', { form });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ message: 'Invalid username or password', success: false });
    }
  });

  it('returns exactly {success, session_token}, form-encoded or JSON, with or without the trailing slash', async () => {
    const a = await call(t, 'POST', '1/auth/', { form: { username: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
    expect(a.status).toBe(200);
    expect(Object.keys(a.body).sort()).toEqual(['session_token', 'success']);
    expect(a.body.success).toBe(true);
    expect(a.body.session_token).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    const b = await call(t, 'POST', '1/auth', { json: { username: ADMIN_EMAIL, password: ADMIN_PASSWORD } });
    expect(b.status).toBe(200);
    expect(b.body.session_token).not.toBe(a.body.session_token);

    // The session token works on v1 and, as a bearer token, on v2.
    const info = await call(t, 'GET', '1/account/info/', { searchParams: { session_token: a.body.session_token } });
    expect(info.status).toBe(200);
    expect(info.body.email).toBe(ADMIN_EMAIL);
    const me = await call(t, 'GET', 'api/2/person', { token: b.body.session_token });
    expect(me.status).toBe(200);
    expect(me.body.email).toBe(ADMIN_EMAIL);
  });

  it('accepts multipart/form-data POST variables too', async () => {
    const fd = new FormData();
    fd.set('username', ADMIN_EMAIL);
    fd.set('password', ADMIN_PASSWORD);
    const res = await t.http.post('1/auth/', { body: fd, responseType: 'json' });
    expect(res.statusCode).toBe(200);
    expect((res.body as { success: boolean }).success).toBe(true);
    const bad = new FormData();
    bad.set('username', ADMIN_EMAIL);
    const missing = await t.http.post('1/auth/', { body: bad, responseType: 'json' });
    expect(missing.statusCode).toBe(400);
    expect(missing.body).toEqual({ message: 'You must provide a username and password', success: false });
  });

  it('answers malformed JSON with 400 invalid_request', async () => {
    const res = await call(t, 'POST', '1/auth/', { raw: '{"username": ', contentType: 'application/json' });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
  });
});

describe('POST /oauth2/token and /oauth2/revoke', () => {
  it('names a missing parameter (400 invalid_request)', async () => {
    const a = await call(t, 'POST', 'oauth2/token', { form: {} });
    expect(a.status).toBe(400);
    expect(a.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: grant_type' });
    const b = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'password', username: ADMIN_EMAIL } });
    expect(b.status).toBe(400);
    expect(b.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: password' });
    const r = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token' } });
    expect(r.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: refresh_token' });
  });

  it('refuses an unsupported grant type (400 unsupported_grant_type)', async () => {
    const res = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'client_credentials' } });
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('unsupported_grant_type');
  });

  it('refuses wrong credentials with 400 invalid_grant (RFC 6749 §5.2)', async () => {
    const res = await oauthLogin(t, ADMIN_EMAIL, 'wrong-password');
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid username or password' });
  });

  it('issues exactly the documented token shape, accepted as a bearer token', async () => {
    const res = await oauthLogin(t, ADMIN_EMAIL, ADMIN_PASSWORD);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(TOKEN_KEYS);
    expect(res.body).toMatchObject({ expires_in: 600, token_type: 'Bearer', scope: 'full' });
    expect(res.body.access_token).not.toBe(res.body.refresh_token);
    expect(res.headers['cache-control']).toBe('no-store');
    const me = await call(t, 'GET', 'api/2/person', { token: res.body.access_token });
    expect(me.status).toBe(200);
    // A refresh token is not an access token.
    const wrongUse = await call(t, 'GET', 'api/2/person', { token: res.body.refresh_token });
    expect(wrongUse.status).toBe(401);
    expect(wrongUse.body).toEqual({ error: 'access_denied' });
  });

  it('rotates the refresh token; a replayed old refresh token ends the whole lineage', async () => {
    const u = await newUser();
    const first = await oauthLogin(t, u.email, u.password);
    const second = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token', refresh_token: first.body.refresh_token } });
    expect(second.status).toBe(200);
    expect(Object.keys(second.body).sort()).toEqual(TOKEN_KEYS);
    expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
    expect((await call(t, 'GET', 'api/2/person', { token: second.body.access_token })).status).toBe(200);

    const replay = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token', refresh_token: first.body.refresh_token } });
    expect(replay.status).toBe(400);
    expect(replay.body).toEqual({ error: 'invalid_grant', error_description: 'Invalid refresh token' });
    // The replay revoked the newer pair too.
    expect((await call(t, 'GET', 'api/2/person', { token: second.body.access_token })).status).toBe(401);
    const next = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token', refresh_token: second.body.refresh_token } });
    expect(next.body.error).toBe('invalid_grant');
    // A password login still works.
    expect((await oauthLogin(t, u.email, u.password)).status).toBe(200);
  });

  it('revokes tokens (RFC 7009): 200 {"status":"ok"}, also for unknown tokens; 400 without a token', async () => {
    const u = await newUser();
    const login = await oauthLogin(t, u.email, u.password);
    const res = await call(t, 'POST', 'oauth2/revoke', { form: { token: login.body.refresh_token } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    const refresh = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token', refresh_token: login.body.refresh_token } });
    expect(refresh.body.error).toBe('invalid_grant');
    // Revoking the refresh token also revoked the access token it came with.
    expect((await call(t, 'GET', 'api/2/person', { token: login.body.access_token })).status).toBe(401);

    const unknown = await call(t, 'POST', 'oauth2/revoke', { form: { token: 'not-a-token' } });
    expect(unknown.status).toBe(200);
    expect(unknown.body).toEqual({ status: 'ok' });
    const missing = await call(t, 'POST', 'oauth2/revoke', { form: {} });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: token' });

    // A v1 session token can be revoked the same way.
    const v1 = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password } });
    await call(t, 'POST', 'oauth2/revoke', { form: { token: v1.body.session_token } });
    const info = await call(t, 'GET', '1/account/info/', { searchParams: { session_token: v1.body.session_token } });
    expect(info.status).toBe(401);
  });
});

describe('two-step authentication: email', () => {
  let u: { email: string; password: string; id: number };
  let backupKey: string;

  it('enables email mode in two steps (wrong code → 403 forbidden, nothing enabled)', async () => {
    u = await newUser();
    const token = await accessToken(t, u.email, u.password);
    const wrongPw = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: 'nope', mode: 'email' } });
    expect(wrongPw.status).toBe(403);
    expect(wrongPw.body).toEqual({ error: 'forbidden' });
    const badMode = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: u.password, mode: 'carrier-pigeon' } });
    expect(badMode.body).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: mode' });

    const step1 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: u.password, mode: 'email' } });
    expect(step1.status).toBe(200);
    expect(Object.keys(step1.body)).toEqual(['backup_key']);
    backupKey = step1.body.backup_key;
    expect(backupKey).toMatch(/^[A-Z2-7]{16}$/);
    const msg = lastMessageTo(t, u.email);
    expect(msg.channel).toBe('email');
    expect(msg.file).toBe(`${msg.id}-email.json`);
    expect(msg.code).toMatch(/^\d{6}$/);
    expect(msg.body).toContain(msg.code!);

    const wrong = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: u.password, mode: 'email', auth_code: wrongCode(msg.code!) } });
    expect(wrong.status).toBe(403);
    expect(wrong.body).toEqual({ error: 'forbidden' });
    // Not enabled yet: a plain login still works.
    expect((await oauthLogin(t, u.email, u.password)).status).toBe(200);

    const step2 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: u.password, mode: 'email', auth_code: msg.code! } });
    expect(step2.status).toBe(200);
    expect(step2.body).toEqual({ status: 'ok' });
  });

  it('v1: missing code → documented message + a code by email; wrong code → documented message; right code → token', async () => {
    const before = outbox(t).length;
    const missing = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password } });
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual({ message: 'Missing auth_code parameter', two_step_mode: 'email', success: false });
    expect(outbox(t).length).toBe(before + 1);
    const code = lastMessageTo(t, u.email).code!;

    const wrong = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password, auth_code: wrongCode(code) } });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ message: 'Invalid authentication code', two_step_mode: 'email', success: false });

    // A wrong password is still just a wrong password.
    const badPw = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: 'x', auth_code: code } });
    expect(badPw.body).toEqual({ message: 'Invalid username or password', success: false });

    const ok = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password, auth_code: code } });
    expect(ok.status).toBe(200);
    expect(ok.body.success).toBe(true);

    // Single use.
    const again = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password, auth_code: code } });
    expect(again.body).toEqual({ message: 'Invalid authentication code', two_step_mode: 'email', success: false });
  });

  it('oauth2: same messages in an access_denied body; the right code gives tokens', async () => {
    const missing = await oauthLogin(t, u.email, u.password);
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual({
      error: 'access_denied',
      error_description: 'Missing auth_code parameter',
      message: 'Missing auth_code parameter',
      two_step_mode: 'email',
      success: false,
    });
    const code = lastMessageTo(t, u.email).code!;
    const wrong = await oauthLogin(t, u.email, u.password, wrongCode(code));
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({
      error: 'access_denied',
      error_description: 'Invalid authentication code',
      message: 'Invalid authentication code',
      two_step_mode: 'email',
      success: false,
    });
    const ok = await oauthLogin(t, u.email, u.password, code);
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.body).sort()).toEqual(TOKEN_KEYS);
    // Refreshing needs no second factor.
    const refreshed = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token', refresh_token: ok.body.refresh_token } });
    expect(refreshed.status).toBe(200);
  });

  it('codes expire after 10 minutes, and a newer code replaces an older one', async () => {
    await oauthLogin(t, u.email, u.password);
    const old = lastMessageTo(t, u.email).code!;
    await oauthLogin(t, u.email, u.password);
    const current = lastMessageTo(t, u.email).code!;
    if (old !== current) expect((await oauthLogin(t, u.email, u.password, old)).body.error_description).toBe('Invalid authentication code');
    c.advance(10 * 60 * 1000 + 1000);
    const late = await oauthLogin(t, u.email, u.password, current);
    expect(late.status).toBe(401);
    expect(late.body.message).toBe('Invalid authentication code');
  });

  it('disables two-step: without a code a code is sent (400 missing auth_code), wrong code 403, right code 200', async () => {
    const login = await oauthLogin(t, u.email, u.password);
    expect(login.status).toBe(401);
    const token = (await oauthLogin(t, u.email, u.password, lastMessageTo(t, u.email).code!)).body.access_token as string;
    const before = outbox(t).length;
    const step1 = await call(t, 'POST', 'api/2/person/two_step/disable', { token, form: { password: u.password } });
    expect(step1.status).toBe(400);
    expect(step1.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: auth_code' });
    expect(outbox(t).length).toBe(before + 1);
    const code = lastMessageTo(t, u.email).code!;
    const wrongPw = await call(t, 'POST', 'api/2/person/two_step/disable', { token, form: { password: 'bad', auth_code: code } });
    expect(wrongPw.status).toBe(403);
    const wrong = await call(t, 'POST', 'api/2/person/two_step/disable', { token, form: { password: u.password, auth_code: wrongCode(code) } });
    expect(wrong.status).toBe(403);
    expect(wrong.body).toEqual({ error: 'forbidden' });
    const ok = await call(t, 'POST', 'api/2/person/two_step/disable', { token, form: { password: u.password, auth_code: code } });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ status: 'ok' });
    expect((await oauthLogin(t, u.email, u.password)).status).toBe(200);
    // The backup key of the disabled set-up no longer recovers anything.
    const rec = await call(t, 'POST', 'api/2/person/two_step/recovery', { form: { email: u.email, backup_key: backupKey } });
    expect(rec.status).toBe(401);
  });
});

describe('two-step authentication: sms', () => {
  it('needs a phone, sends codes to it, and logs in with them (v1 and oauth2)', async () => {
    const u = await newUser();
    const token = await accessToken(t, u.email, u.password);
    const noPhone = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: u.password, mode: 'sms' } });
    expect(noPhone.status).toBe(400);
    expect(noPhone.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: mobile_phone' });

    const phone = '+1 555 0100 200';
    const step1 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: u.password, mode: 'sms', mobile_phone: phone } });
    expect(step1.status).toBe(200);
    const msg = lastMessageTo(t, phone);
    expect(msg.channel).toBe('sms');
    expect(msg.file).toBe(`${msg.id}-sms.json`);
    const step2 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: u.password, mode: 'sms', auth_code: msg.code! } });
    expect(step2.status).toBe(200);

    const missing = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password } });
    expect(missing.body).toEqual({ message: 'Missing auth_code parameter', two_step_mode: 'sms', success: false });
    const code = lastMessageTo(t, phone).code!;
    const wrong = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password, auth_code: wrongCode(code) } });
    expect(wrong.body).toEqual({ message: 'Invalid authentication code', two_step_mode: 'sms', success: false });
    const ok = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password, auth_code: code } });
    expect(ok.body.success).toBe(true);

    const oMissing = await oauthLogin(t, u.email, u.password);
    expect(oMissing.body.two_step_mode).toBe('sms');
    const oCode = lastMessageTo(t, phone).code!;
    expect((await oauthLogin(t, u.email, u.password, wrongCode(oCode))).body.message).toBe('Invalid authentication code');
    expect((await oauthLogin(t, u.email, u.password, oCode)).status).toBe(200);
  });
});

describe('two-step authentication: authenticator (TOTP)', () => {
  let u: { email: string; password: string; id: number };
  let key: string;
  let backupKey: string;

  it('enables with the documented step-1 body and a real TOTP code', async () => {
    u = await newUser();
    const token = await accessToken(t, u.email, u.password);
    const step1 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: u.password, mode: 'authenticator' } });
    expect(step1.status).toBe(200);
    expect(Object.keys(step1.body).sort()).toEqual(['backup_key', 'key', 'uri']);
    key = step1.body.key;
    backupKey = step1.body.backup_key;
    expect(key).toMatch(/^[A-Z2-7]{32}$/);
    expect(step1.body.uri).toBe(`otpauth://totp/${u.email}?secret=${key}`);

    const wrong = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: u.password, mode: 'authenticator', auth_code: wrongCode(totpAt(key, c.now())) } });
    expect(wrong.status).toBe(403);
    const ok = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: u.password, mode: 'authenticator', auth_code: totpAt(key, c.now()) } });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ status: 'ok' });
  });

  it('v1 and oauth2: missing → no message sent; wrong → refused; right → token; the same code never twice', async () => {
    c.advance(30_000);
    const before = outbox(t).length;
    const missing = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password } });
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual({ message: 'Missing auth_code parameter', two_step_mode: 'authenticator', success: false });
    expect(outbox(t).length).toBe(before);

    const code = totpAt(key, c.now());
    const wrong = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password, auth_code: wrongCode(code) } });
    expect(wrong.body).toEqual({ message: 'Invalid authentication code', two_step_mode: 'authenticator', success: false });
    const ok = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password, auth_code: code } });
    expect(ok.status).toBe(200);
    expect(ok.body.success).toBe(true);

    // Replaying the accepted code is refused (RFC 6238 §5.2) ...
    const replay = await oauthLogin(t, u.email, u.password, code);
    expect(replay.status).toBe(401);
    expect(replay.body).toMatchObject({ error: 'access_denied', message: 'Invalid authentication code', two_step_mode: 'authenticator' });
    // ... the next time step's code is fine.
    c.advance(30_000);
    const next = await oauthLogin(t, u.email, u.password, totpAt(key, c.now()));
    expect(next.status).toBe(200);
    expect(Object.keys(next.body).sort()).toEqual(TOKEN_KEYS);
  });

  it('accepts a code one step old (clock skew) but not two steps old', async () => {
    c.advance(90_000);
    const twoOld = totpAt(key, c.now() - 60_000);
    const current = totpAt(key, c.now());
    if (twoOld !== current) {
      expect((await oauthLogin(t, u.email, u.password, twoOld)).status).toBe(401);
    }
    const oneOld = totpAt(key, c.now() - 30_000);
    expect((await oauthLogin(t, u.email, u.password, oneOld)).status).toBe(200);
  });

  it('after 5 wrong codes even the right code is refused (same message) until 10 minutes have passed', async () => {
    c.advance(60_000);
    for (let i = 0; i < 5; i++) {
      const res = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password, auth_code: '000000' === totpAt(key, c.now()) ? '111111' : '000000' } });
      expect(res.body).toEqual({ message: 'Invalid authentication code', two_step_mode: 'authenticator', success: false });
    }
    const blocked = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password, auth_code: totpAt(key, c.now()) } });
    expect(blocked.status).toBe(401);
    expect(blocked.body).toEqual({ message: 'Invalid authentication code', two_step_mode: 'authenticator', success: false });
    c.advance(10 * 60 * 1000 + 1000);
    const ok = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password, auth_code: totpAt(key, c.now()) } });
    expect(ok.status).toBe(200);
  });

  it('recovery: wrong backup key → 401 access_denied; the right one turns two-step off', async () => {
    const missing = await call(t, 'POST', 'api/2/person/two_step/recovery', { form: { email: u.email } });
    expect(missing.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: backup_key' });
    const wrong = await call(t, 'POST', 'api/2/person/two_step/recovery', { form: { email: u.email, backup_key: 'AAAAAAAAAAAAAAAA' } });
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: 'access_denied' });
    const unknown = await call(t, 'POST', 'api/2/person/two_step/recovery', { form: { email: 'ghost@example.test', backup_key: backupKey } });
    expect(unknown.status).toBe(401);
    const ok = await call(t, 'POST', 'api/2/person/two_step/recovery', { form: { email: u.email, backup_key: backupKey.toLowerCase() } });
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ status: 'ok' });
    const login = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password } });
    expect(login.body.success).toBe(true);
  });
});

describe('token expiry', () => {
  it('access tokens expire after accessTokenSeconds (401 access_denied); refresh still works', async () => {
    const u = await newUser();
    const login = await oauthLogin(t, u.email, u.password);
    c.advance(599_000);
    expect((await call(t, 'GET', 'api/2/person', { token: login.body.access_token })).status).toBe(200);
    c.advance(2_000);
    const expired = await call(t, 'GET', 'api/2/person', { token: login.body.access_token });
    expect(expired.status).toBe(401);
    expect(expired.body).toEqual({ error: 'access_denied' });
    const refreshed = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token', refresh_token: login.body.refresh_token } });
    expect(refreshed.status).toBe(200);
    expect((await call(t, 'GET', 'api/2/person', { token: refreshed.body.access_token })).status).toBe(200);
  });

  it('session and refresh tokens live deactivate_token_frequency days', async () => {
    // A separate organization with a 2-day token policy.
    const created = await call(t, 'POST', 'api/2/organization/2/organizations/create', {
      token: await admin(),
      form: { name: 'Short Tokens', slug: 'short-tokens', email: 'st@example.test', deactivate_token_frequency: '2' },
    });
    expect(created.status).toBe(200);
    expect(created.body.policy.deactivate_token_frequency).toBe(2);
    const u = await newUser({ company_id: String(created.body.id) });
    const v1 = await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password } });
    const o = await oauthLogin(t, u.email, u.password);
    c.advance(2 * 86400_000 - 60_000);
    expect((await call(t, 'GET', '1/account/info/', { searchParams: { session_token: v1.body.session_token } })).status).toBe(200);
    c.advance(120_000);
    const info = await call(t, 'GET', '1/account/info/', { searchParams: { session_token: v1.body.session_token } });
    expect(info.status).toBe(401);
    expect(info.body).toEqual({ status_code: 401, message: 'invalid or expired session_token', code: 'error' });
    const v2 = await call(t, 'GET', 'api/2/person', { token: v1.body.session_token });
    expect(v2.status).toBe(401);
    expect(v2.body).toEqual({ error: 'access_denied' });
    const refresh = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token', refresh_token: o.body.refresh_token } });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
  });
});

describe('trial and license', () => {
  it('trial_until in the past → 403 trial_expired for the organization’s users (not for system admins)', async () => {
    const org = await call(t, 'POST', 'api/2/organization/2/organizations/create', {
      token: await admin(),
      form: { name: 'Trial Org', slug: 'trial-org', email: 'trial@example.test', trial_until: new Date(c.now() + 3600_000).toISOString().slice(0, 19) },
    });
    expect(org.status).toBe(200);
    const u = await newUser({ company_id: String(org.body.id) });
    // A v1 session token (lives 30 days) used as a bearer token outlives the trial.
    const token = (await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password } })).body.session_token as string;
    expect((await call(t, 'GET', 'api/2/person', { token })).status).toBe(200);

    c.advance(3600_000 + 1000);
    const expired = await call(t, 'GET', 'api/2/person', { token });
    expect(expired.status).toBe(403);
    expect(expired.body).toEqual({ error: 'trial_expired' });
    // The unauthenticated version method is not affected, nor is the system admin.
    expect((await call(t, 'GET', 'api/2/version')).status).toBe(200);
    const extend = await call(t, 'POST', `api/2/organization/${org.body.id}/update`, { token: await admin(), form: { trial_until: '' } });
    expect(extend.status).toBe(200);
    expect(extend.body.trial_until).toBeNull();
    expect((await call(t, 'GET', 'api/2/person', { token: await accessToken(t, u.email, u.password) })).status).toBe(200);
  });

  it('an organization license_expires in the past → 403 license_expired', async () => {
    const u = await newUser();
    const token = await accessToken(t, u.email, u.password);
    const person = await call(t, 'GET', 'api/2/person', { token });
    const orgId = person.body.company_id as number;
    // No documented method sets an organization's license; the operator's data does.
    t.server.ctx.db.prepare(`UPDATE organizations SET license_expires = ? WHERE id = ?`).run(new Date(c.now() - 1000).toISOString().slice(0, 19), orgId);
    try {
      const res = await call(t, 'GET', 'api/2/person', { token });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ error: 'license_expired' });
    } finally {
      t.server.ctx.db.prepare(`UPDATE organizations SET license_expires = NULL WHERE id = ?`).run(orgId);
    }
    expect((await call(t, 'GET', 'api/2/person', { token })).status).toBe(200);
  });

  it('a server license in the past → 403 license_expired for everyone on /api/2', async () => {
    const s = await startTestServer({ licenseExpires: new Date(Date.now() - 1000) });
    try {
      const login = await oauthLogin(s, ADMIN_EMAIL, ADMIN_PASSWORD);
      expect(login.status).toBe(200);
      const res = await call(s, 'GET', 'api/2/person', { token: login.body.access_token });
      expect(res.status).toBe(403);
      expect(res.body).toEqual({ error: 'license_expired' });
      expect((await call(s, 'GET', 'api/2/version')).body).toEqual({ version: '2.0.9' });
    } finally {
      await s.stop();
    }
  });
});

describe('transport', () => {
  it('refuses /api/2 and /oauth2 over plain HTTP with insecure_transport', async () => {
    const s = await startTestServer({ insecureHttp: true });
    try {
      expect(s.url.startsWith('http://')).toBe(true);
      for (const [method, url] of [
        ['GET', 'api/2/version'],
        ['POST', 'oauth2/token'],
      ] as const) {
        const res = await call(s, method, url, method === 'POST' ? { form: { grant_type: 'password', username: ADMIN_EMAIL, password: ADMIN_PASSWORD } } : {});
        expect(res.status).toBe(400);
        expect(res.body).toEqual({ error: 'insecure_transport', error_description: 'Requests MUST utilize https.' });
      }
    } finally {
      await s.stop();
    }
  });

  it('answers over plain HTTP on loopback with allowInsecureApi', async () => {
    const s = await startTestServer({ insecureHttp: true, allowInsecureApi: true });
    try {
      expect((await call(s, 'GET', 'api/2/version')).body).toEqual({ version: '2.0.9' });
      expect((await oauthLogin(s, ADMIN_EMAIL, ADMIN_PASSWORD)).status).toBe(200);
    } finally {
      await s.stop();
    }
  });
});
