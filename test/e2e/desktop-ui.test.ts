// Acceptance tests of the desktop UI (issue 6): Debian's Chromium (playwright-core) drives the
// built renderer served by a real agent service (control API on 127.0.0.1) against the
// reference server. Every step goes through the UI; the agents' folders and the server's
// database are the evidence. Screenshots of each screen, light and dark, are saved in
// test-artifacts/screens/.
//
//   - sign in with an authenticator-mode two-step account: the untrusted certificate's
//     fingerprint is shown and confirmed, a wrong code says how many tries are left, the right
//     code signs in;
//   - the roots: this machine's sync folder with live status, the account's roots subscribed;
//   - collisions made by two agents of the same account (pause one, change both), resolved from
//     the UI each way: keep server's, keep both, keep mine (disabled with the reason until an
//     admin's policy allows it);
//   - a throttled upload shows on the transfers screen with its progress;
//   - an admin's throttle and exception window (documented v1 management endpoint) appear on
//     the bandwidth chart.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { Secret, TOTP } from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PersonRow } from '../../src/server/context.js';
import { eventually, sleep } from '../helpers/agents.js';
import { newPerson, rootOf } from '../helpers/files.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';
import { accessToken, call, lastMessageTo, outbox, wrongCode, type Res } from '../helpers/server-api.js';
import { control, launchChromium, openUi, realProblems, requireBuiltUi, screenshots, startUiAgent, type UiAgent, type UiPage } from '../helpers/ui.js';

const PASSWORD = 'user-password-1';
const KiB = 1024;

let t: TestServer;
let admin: string;
let person: PersonRow;
let totpKey: string;
let laptop: UiAgent;
let desktop: UiAgent | undefined;
let browser: Browser;
let ui: UiPage;
let page: Page;
let machineId: number;

const totp = (ms = Date.now()) => TOTP.generate({ secret: Secret.fromBase32(totpKey), algorithm: 'SHA1', digits: 6, period: 30, timestamp: ms });

/** Size of the live file `name` at the top of the person's root on the server. */
function serverSize(name: string): number | undefined {
  const row = t.server.ctx.db
    .prepare(`SELECT n.size FROM nodes n WHERE n.root_id = ? AND n.parent_id IS NULL AND n.name = ? AND n.is_deleted = 0`)
    .get(person.root_id, name) as { size: number } | undefined;
  return row?.size;
}

async function v1Update(form: Record<string, string>): Promise<Res> {
  return call(t, 'POST', '1/management/machine/update/', { token: admin, form: { id: String(machineId), ...form } });
}

async function goTo(screen: string, heading: string): Promise<void> {
  await page.locator(`nav a[data-screen="${screen}"]`).click();
  await page.getByRole('heading', { level: 1, name: heading }).waitFor();
}

async function text(selector: string): Promise<string> {
  return (await page.locator(selector).first().textContent()) ?? '';
}

async function stateOf(agent: UiAgent) {
  const r = await control(agent, 'GET', '/api/state');
  expect(r.status).toBe(200);
  return r.body;
}

async function waitSynced(agent: UiAgent, timeoutMs = 30_000): Promise<void> {
  await eventually(
    async () => {
      const s = await stateOf(agent);
      return !!s.status && s.status.roots.length > 0 && s.status.roots.every((r: { synced: boolean }) => r.synced) && s.status.transfers.length === 0;
    },
    timeoutMs,
    `${agent.name} synced`,
  );
}

/**
 * Collisions on the laptop: both machines have the files; the laptop is paused from the
 * settings screen, both change them, the desktop's versions reach the server, the laptop resumes.
 */
async function makeCollisions(names: string[], mine: (n: string) => string, theirs: (n: string) => string): Promise<void> {
  const other = desktop!;
  const before = (await stateOf(laptop)).collisions as number;
  for (const n of names) await laptop.write(n, `base of ${n}`);
  await eventually(() => names.every((n) => existsSync(other.file(n))), 20_000, 'the files on the desktop');
  await waitSynced(laptop);
  await waitSynced(other);
  await goTo('settings', 'Settings');
  await page.getByRole('button', { name: 'Pause syncing' }).click();
  await eventually(async () => (await text('[data-testid="paused-state"]')) === 'paused', 10_000, 'paused');
  await eventually(async () => (await text('[data-testid="overall-status"]')).includes('Paused'), 10_000, 'the header to say paused');
  for (const n of names) await laptop.write(n, mine(n));
  for (const n of names) await other.write(n, theirs(n));
  await eventually(() => names.every((n) => serverSize(n) === theirs(n).length), 20_000, "the desktop's versions on the server");
  await page.getByRole('button', { name: 'Resume syncing' }).click();
  await eventually(async () => (await stateOf(laptop)).collisions === before + names.length, 20_000, `${names.length} collisions`);
  // The live state reaches the page: the navigation counts them.
  await page.locator('nav a[data-screen="collisions"] .count').filter({ hasText: String(before + names.length) }).waitFor();
}

beforeAll(async () => {
  requireBuiltUi();
  t = await startTestServer();
  admin = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
  person = newPerson(t);
  // Two-step authentication in authenticator mode, enabled as a user does (documented endpoint).
  const token = await accessToken(t, person.email, PASSWORD);
  const step1 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: PASSWORD, mode: 'authenticator' } });
  expect(step1.status, JSON.stringify(step1.body)).toBe(200);
  totpKey = step1.body.key;
  const step2 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: PASSWORD, mode: 'authenticator', auth_code: totp() } });
  expect(step2.status, JSON.stringify(step2.body)).toBe(200);
  laptop = await startUiAgent('laptop');
  browser = await launchChromium();
  ui = await openUi(browser, laptop);
  page = ui.page;
});

afterAll(async () => {
  await ui?.context.close();
  await browser?.close();
  await desktop?.stop();
  await laptop?.stop();
  await t?.stop();
});

describe('sign in', () => {
  it('a browser without a session gets no data and is told how to open the UI', async () => {
    const context = await browser.newContext();
    try {
      const p = await context.newPage();
      await p.goto(laptop.service.url!);
      await p.getByRole('heading', { level: 1, name: 'Not connected to the agent' }).waitFor();
      expect(await p.locator('pre.command').textContent()).toBe('axis-agent ui --print');
    } finally {
      await context.close();
    }
  });

  it('with an authenticator-mode two-step account: the certificate fingerprint, a wrong code, then the right code', async () => {
    await page.getByRole('heading', { level: 1, name: 'Sign in to AXIS CloudSync' }).waitFor();
    await page.getByLabel('Server address').fill(t.url);
    await page.getByLabel('Username or email').fill(person.email);
    await page.getByLabel('Password').fill(PASSWORD);
    await screenshots(page, '01-login');
    await page.getByRole('button', { name: 'Sign in' }).click();

    // The reference server's certificate is self-signed: compare, then trust it.
    await page.getByRole('heading', { level: 1, name: "Check the server's certificate" }).waitFor();
    expect((await text('[data-testid="fingerprint"]')).trim()).toBe(t.server.fingerprint);
    await screenshots(page, '02-certificate');
    await page.getByRole('button', { name: 'Trust this certificate and sign in' }).click();

    await page.getByRole('heading', { level: 1, name: 'Enter the code from your authenticator app' }).waitFor();
    expect(await text('[data-testid="code-hint"]')).toContain('authenticator app');
    expect(await page.getByRole('button', { name: 'Send a new code' }).count()).toBe(0);
    expect((await stateOf(laptop)).login).toMatchObject({ state: 'twostep', mode: 'authenticator', username: person.email });

    const code = page.getByLabel('Verification code');
    await code.fill(wrongCode(totp()));
    await page.getByRole('button', { name: 'Verify' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor();
    expect(await alert.textContent()).toBe('That code is not right. 2 tries left.');
    expect(await code.getAttribute('aria-invalid')).toBe('true');
    await screenshots(page, '03-code-wrong');

    await code.fill(totp());
    await page.getByRole('button', { name: 'Verify' }).click();
    await page.getByRole('heading', { level: 1, name: 'Roots' }).waitFor({ timeout: 20_000 });
    const s = await stateOf(laptop);
    expect(s.login).toMatchObject({ state: 'logged_in', server: t.url, username: person.email });
    expect(s.settings.fingerprint).toBe(t.server.fingerprint);
    machineId = s.login.machine_id;
    expect(machineId).toBeGreaterThan(0);
  });
});

describe('roots', () => {
  it("shows this machine's sync folder with live status and the account's roots it is subscribed to", async () => {
    const root = rootOf(t, person);
    const card = page.locator(`li.root[data-root-id="${root.id}"]`);
    await card.waitFor({ timeout: 20_000 });
    expect(await card.locator('h3').textContent()).toBe(root.name);
    expect(await card.locator('.path').textContent()).toBe(laptop.dir);
    // A file written here is uploaded; the card and the header say "Synced" once done.
    await laptop.write('hello.txt', 'hello from the laptop');
    await eventually(() => serverSize('hello.txt') === 21, 20_000, 'hello.txt on the server');
    await eventually(async () => (await card.locator('.badge').textContent()) === 'Synced', 20_000, 'the root synced');
    await eventually(async () => (await text('[data-testid="overall-status"]')).includes('Synced'), 20_000, 'the header to say Synced');
    expect(await card.locator('[data-fact="queued"]').textContent()).toBe('0');
    expect(await card.locator('[data-fact="collisions"]').textContent()).toBe('0');
    const row = page.locator(`[data-testid="server-roots"] tr[data-root-id="${root.id}"]`);
    expect(await row.locator('td').first().textContent()).toBe(root.name);
    expect(await row.textContent()).toContain('Subscribed');
    await screenshots(page, '04-roots');
  });
});

describe('collisions', () => {
  const names = ['c-server.txt', 'c-both.txt', 'c-mine.txt'];
  const mine = (n: string) => `laptop's version of ${n}, longer`;
  const theirs = (n: string) => `desktop's ${n}`;

  it('made by two agents of the account, resolved from the UI: keep server, keep both, keep mine once the policy allows it', async () => {
    // A second machine of the same account, signed in through its control API (Electron's way).
    desktop = await startUiAgent('desktop');
    const login = await control(desktop, 'POST', '/api/login', { server: t.url, username: person.email, password: PASSWORD, trust_fingerprint: t.server.fingerprint });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(login.body.login).toMatchObject({ state: 'twostep', mode: 'authenticator' });
    // The laptop used this 30 s step's code: the next step's is the one not used yet.
    const codeRes = await control(desktop, 'POST', '/api/login/code', { code: totp(Date.now() + 30_000) });
    expect(codeRes.status, JSON.stringify(codeRes.body)).toBe(200);
    await waitSynced(desktop);

    await makeCollisions(names, mine, theirs);

    await goTo('collisions', 'Collisions');
    const card = (n: string) => page.locator('li.collision').filter({ has: page.getByRole('heading', { name: n, exact: true }) });
    for (const n of names) await card(n).waitFor();
    const c = card('c-server.txt');
    expect(await c.locator('[data-version="local"] [data-fact="size"]').textContent()).toBe(`${mine('c-server.txt').length} B`);
    expect(await c.locator('[data-version="local"] [data-fact="machine"]').textContent()).toBe('laptop');
    expect(await c.locator('[data-version="server"] [data-fact="size"]').textContent()).toBe(`${theirs('c-server.txt').length} B`);
    expect(await c.locator('[data-version="server"] [data-fact="mtime"]').textContent()).not.toBe('—');
    // The default policy forbids overwriting the server's version: "Keep mine" is disabled, and says why.
    expect(await c.getByRole('button', { name: 'Keep mine' }).isDisabled()).toBe(true);
    expect(await c.getByRole('button', { name: 'Keep mine' }).getAttribute('aria-describedby')).toBe('mine-forbidden');
    expect(await text('#mine-forbidden')).toContain('policy does not allow');
    // Nor resolving all at once.
    expect(await text('.bulk')).toContain('one by one');
    await screenshots(page, '05-collisions');

    // Keep the server's version: the laptop gets the desktop's content.
    await c.getByRole('button', { name: "Keep server's" }).click();
    await eventually(async () => (await laptop.readIf('c-server.txt')) === theirs('c-server.txt'), 20_000, "the server's version on the laptop");
    await card('c-server.txt').waitFor({ state: 'detached' });
    expect(await page.locator('.notice-ok').textContent()).toBeTruthy();

    // Keep both: the laptop's version becomes a copy beside the server's, on both machines.
    await card('c-both.txt').getByRole('button', { name: 'Keep both' }).click();
    await eventually(async () => (await laptop.readIf('c-both.txt')) === theirs('c-both.txt'), 20_000, "the server's version at the path");
    const copyName = () => readdirSync(laptop.dir).find((f) => f.startsWith('c-both (') && f.endsWith('.txt'));
    await eventually(() => copyName() !== undefined, 10_000, 'the collision copy');
    expect(copyName()).toContain('laptop');
    expect(await laptop.read(copyName()!)).toBe(mine('c-both.txt'));
    await eventually(() => existsSync(desktop!.file(copyName()!)), 20_000, 'the copy on the desktop');

    // An admin allows overwriting: "Keep mine" becomes available live.
    const org = t.server.admin.defaultOrganizationId;
    const pol = await call(t, 'POST', `api/2/organization/${org}/policy/update`, { token: admin, form: { user_overwrite_collisions: 'true' } });
    expect(pol.status, JSON.stringify(pol.body)).toBe(200);
    const keepMine = card('c-mine.txt').getByRole('button', { name: 'Keep mine' });
    await eventually(async () => !(await keepMine.isDisabled()), 20_000, '"Keep mine" enabled');
    await keepMine.click();
    await eventually(async () => (await desktop!.readIf('c-mine.txt')) === mine('c-mine.txt'), 20_000, "the laptop's version on the desktop");
    expect(await laptop.read('c-mine.txt')).toBe(mine('c-mine.txt'));
    await page.getByTestId('no-collisions').waitFor();
    expect((await stateOf(laptop)).collisions).toBe(0);
    expect(await page.locator('nav a[data-screen="collisions"] .count').count()).toBe(0);
  });
});

describe('collisions, all at once', () => {
  it('where the policy allows it: keep all server versions from the UI', async () => {
    const names = ['d-1.txt', 'd-2.txt'];
    const mine = (n: string) => `laptop's ${n} again`;
    const theirs = (n: string) => `desktop's ${n}, bulk`;
    const org = t.server.admin.defaultOrganizationId;
    const pol = await call(t, 'POST', `api/2/organization/${org}/policy/update`, { token: admin, form: { user_bulk_resolve_warnings: 'true' } });
    expect(pol.status, JSON.stringify(pol.body)).toBe(200);
    await eventually(async () => (await stateOf(laptop)).policy?.user_bulk_resolve_warnings === true, 20_000, 'the bulk policy on the laptop');
    await makeCollisions(names, mine, theirs);

    await goTo('collisions', 'Collisions');
    const all = page.getByRole('button', { name: 'Keep all server versions' });
    await all.waitFor();
    expect(await page.getByRole('heading', { name: 'Resolve all 2' }).count()).toBe(1);
    expect(await page.getByRole('button', { name: 'Keep all mine' }).isDisabled()).toBe(false);
    await screenshots(page, '05b-collisions-bulk');
    await all.click();
    await page.locator('.notice-ok').filter({ hasText: 'Resolved 2 collisions.' }).waitFor({ timeout: 20_000 });
    for (const n of names) await eventually(async () => (await laptop.readIf(n)) === theirs(n), 20_000, `the server's ${n} on the laptop`);
    await page.getByTestId('no-collisions').waitFor();
    expect((await stateOf(laptop)).collisions).toBe(0);
  });
});

describe('transfers and bandwidth', () => {
  it("a throttled upload shows its progress; the admin's limit and exception window appear on the chart", async () => {
    await waitSynced(laptop);
    // 64 KiB/s through the documented v1 management endpoint: 3 MiB take long enough to watch.
    expect((await v1Update({ throttled: 'true', bandwidth_throttle: '64' })).status).toBe(200);
    await eventually(async () => (await stateOf(laptop)).status?.throttle?.limit === 64 * KiB, 15_000, 'the 64 KiB/s throttle');
    await laptop.write('big.bin', randomBytes(3 * 1024 * KiB));

    await goTo('transfers', 'Transfers');
    const item = page.locator('li.transfer[data-path="big.bin"]');
    await item.waitFor({ timeout: 15_000 });
    expect(await item.getAttribute('data-direction')).toBe('up');
    expect(await item.textContent()).toContain('Uploading');
    expect(await item.locator('[data-fact="progress"]').textContent()).toContain('3.00 MiB');
    // The speed shown is measured, not a placeholder.
    await eventually(async () => (await item.locator('[data-fact="speed"]').textContent())?.endsWith('KiB/s') === true, 10_000, 'a speed');
    const transfer = (await stateOf(laptop)).status.transfers.find((x: { path: string }) => x.path === 'big.bin');
    expect(transfer).toMatchObject({ direction: 'up', size: 3 * 1024 * KiB, done: expect.any(Number) });
    // Progress moves: the bar's value and the text grow.
    const v0 = Number(await item.locator('progress').getAttribute('value'));
    await eventually(async () => Number(await item.locator('progress').getAttribute('value')) > v0, 10_000, 'progress');
    expect(await item.locator('[data-fact="progress"]').textContent()).toMatch(/ of 3\.00 MiB \(\d+ %\)$/);
    await eventually(async () => (await item.locator('[data-fact="eta"]').textContent()) !== '—', 10_000, 'a time left');
    await screenshots(page, '06-transfers');

    // 200 KiB/s, and an exception window at 400 KiB/s starting 40 s from now (UTC, as the agent's schedule).
    const W = Math.ceil((Date.now() + 40_000) / 1000) * 1000;
    const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);
    const res = await v1Update({ bandwidth_throttle: '200', throttle_exception_start: hms(W), throttle_exception_end: hms(W + 3_600_000), throttle_exception_throttle: '400' });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    await eventually(async () => (await stateOf(laptop)).status?.throttle?.next_change === new Date(W).toISOString(), 15_000, 'the window scheduled');

    await goTo('bandwidth', 'Bandwidth');
    const chart = page.getByTestId('bandwidth-chart');
    await chart.waitFor();
    await eventually(async () => (await page.locator('[data-fact="limit"]').textContent()) === '200 KiB/s', 15_000, 'the limit in force');
    await eventually(async () => (await chart.locator(`rect.band[data-window-start="${new Date(W).toISOString()}"]`).count()) === 1, 35_000, 'the window on the chart');
    expect(await page.locator('[data-fact="throttle"]').textContent()).toBe('200 KiB/s');
    expect(await page.locator('[data-fact="exception"]').textContent()).toBe(`every day ${hms(W)}–${hms(W + 3_600_000)} at 400 KiB/s`);
    const desc = await chart.locator('desc').textContent();
    expect(desc).toContain('limit 200 KiB/s');
    expect(desc).toContain('at 400 KiB/s');
    // The limit is drawn as a line, the upload as a non-empty series.
    expect(((await chart.locator('path[data-series="limit"]').getAttribute('d')) ?? '').length).toBeGreaterThan(10);
    expect(((await chart.locator('path[data-series="up"]').getAttribute('d')) ?? '').length).toBeGreaterThan(10);
    await eventually(async () => (await page.locator('[data-fact="now"]').textContent())?.includes('KiB/s') === true, 10_000, 'an upload rate');
    // A few seconds at the new limit, so that the picture shows the step.
    await sleep(3_000);
    expect(await stateOf(laptop).then((x) => x.status.transfers.some((tr: { path: string }) => tr.path === 'big.bin'))).toBe(true);
    await screenshots(page, '07-bandwidth');

    // Throttling off: the upload finishes and leaves the transfers screen.
    expect((await v1Update({ throttled: 'false', throttle_exception_start: '', throttle_exception_end: '', throttle_exception_throttle: '' })).status).toBe(200);
    await eventually(() => serverSize('big.bin') === 3 * 1024 * KiB, 30_000, 'big.bin on the server');
    await eventually(async () => (await page.locator('[data-fact="limit"]').textContent()) === 'unlimited', 15_000, 'no limit');
    await goTo('transfers', 'Transfers');
    await page.getByTestId('no-transfers').waitFor({ timeout: 15_000 });
  });
});

describe('activity and settings', () => {
  it('activity lists what happened; settings show the server and its trusted certificate', async () => {
    await goTo('activity', 'Activity');
    const rows = page.locator('[data-testid="activity"] tbody tr');
    await eventually(async () => (await rows.filter({ hasText: 'big.bin' }).count()) > 0, 15_000, 'big.bin in the activity');
    expect(await rows.filter({ hasText: 'c-mine.txt' }).filter({ hasText: 'Resolved: kept yours' }).count()).toBe(1);
    expect(await rows.filter({ hasText: 'c-both.txt' }).filter({ hasText: 'Resolved: kept both' }).count()).toBe(1);
    await screenshots(page, '08-activity');

    await goTo('settings', 'Settings');
    expect(await page.locator('[data-fact="server"]').textContent()).toBe(t.url);
    expect(await page.locator('[data-fact="fingerprint"]').textContent()).toBe(t.server.fingerprint);
    const startAtLogin = page.getByLabel('Start AXIS CloudSync when I log in');
    expect(await startAtLogin.isChecked()).toBe(false);
    await startAtLogin.check();
    await eventually(async () => (await stateOf(laptop)).settings.start_at_login === true, 10_000, 'start at login saved');
    await screenshots(page, '09-settings');

    // Keyboard: the navigation is reachable with Tab and follows Enter.
    await page.evaluate('document.activeElement && document.activeElement.blur()');
    await page.keyboard.press('Tab');
    for (let i = 0; i < 10 && (await page.evaluate('document.activeElement && document.activeElement.getAttribute("data-screen")')) !== 'roots'; i++) {
      await page.keyboard.press('Tab');
    }
    expect(await page.evaluate('document.activeElement.getAttribute("data-screen")')).toBe('roots');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { level: 1, name: 'Roots' }).waitFor();

    // No CSP violation, script error or remote request during the whole session.
    expect(realProblems(ui.problems)).toEqual([]);
  });
});

describe('sign in, email mode', () => {
  it('says where the code went, sends a new one on request, and signs in with it', async () => {
    const other = newPerson(t);
    const token = await accessToken(t, other.email, PASSWORD);
    expect((await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: PASSWORD, mode: 'email' } })).status).toBe(200);
    const enable = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password: PASSWORD, mode: 'email', auth_code: lastMessageTo(t, other.email).code! } });
    expect(enable.status, JSON.stringify(enable.body)).toBe(200);

    const tablet = await startUiAgent('tablet');
    const tui = await openUi(browser, tablet);
    try {
      const p = tui.page;
      await p.getByLabel('Server address').fill(t.url);
      await p.getByLabel('Username or email').fill(other.email);
      await p.getByLabel('Password').fill(PASSWORD);
      await p.getByRole('button', { name: 'Sign in' }).click();
      await p.getByRole('button', { name: 'Trust this certificate and sign in' }).click();
      await p.getByRole('heading', { level: 1, name: 'Enter the code we emailed you' }).waitFor();
      const hint = await p.getByTestId('code-hint').textContent();
      expect(hint).toContain('It may take a minute to arrive.');
      // The address the code went to, partly masked.
      const [local, domain] = other.email.split('@') as [string, string];
      expect(hint).toContain(`We sent a code to ${local[0]}…${local[local.length - 1]}@${domain}.`);
      expect(hint).not.toContain(other.email);
      const first = lastMessageTo(t, other.email);

      const sent = outbox(t).filter((m) => m.recipient === other.email).length;
      await p.getByRole('button', { name: 'Send a new code' }).click();
      await p.getByRole('status').filter({ hasText: 'A new code is on its way by email.' }).waitFor();
      await eventually(() => outbox(t).filter((m) => m.recipient === other.email).length === sent + 1, 10_000, 'a new email');
      const second = lastMessageTo(t, other.email);
      expect(second.id).toBeGreaterThan(first.id);
      await screenshots(p, '03b-code-email');

      await p.getByLabel('Verification code').fill(second.code!);
      await p.getByRole('button', { name: 'Verify' }).click();
      await p.getByRole('heading', { level: 1, name: 'Roots' }).waitFor({ timeout: 20_000 });
      expect((await stateOf(tablet)).login).toMatchObject({ state: 'logged_in', username: other.email });
      expect(realProblems(tui.problems)).toEqual([]);
    } finally {
      await tui.context.close();
      await tablet.stop();
    }
  });
});
