import { it } from 'vitest';
import { randomFillSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { TestAgent, sleep, eventually } from '../helpers/agents.js';
import { newPerson } from '../helpers/files.js';
import { startTestServer } from '../helpers/server.js';
it('big', async () => {
  const t = await startTestServer();
  const p = newPerson(t);
  const acc = { email: p.email, password: 'user-password-1' };
  const a = new TestAgent('ba', { url: t.url, fingerprint: t.server.fingerprint }, acc);
  const b = new TestAgent('bb', { url: t.url, fingerprint: t.server.fingerprint }, acc);
  a.env = { AXIS_AGENT_LOG: 'debug' }; b.env = { AXIS_AGENT_LOG: 'debug' };
  await Promise.all([a.login(), b.login()]);
  await Promise.all([a.start(), b.start()]);
  const buf = Buffer.allocUnsafe(128 * 1024 * 1024); randomFillSync(buf);
  const t0 = Date.now();
  writeFileSync(a.file('big.bin'), buf);
  for (let i = 0; i < 60; i++) {
    const sa = await a.status(); const sb = await b.status();
    console.log(((Date.now() - t0) / 1000).toFixed(1), JSON.stringify(sa.roots[0]?.state), JSON.stringify(sa.transfers), sa.throttle, '|', sb.roots[0]?.state, JSON.stringify(sb.transfers), sb.throttle);
    if (b.exists('big.bin') && sb.roots[0]?.state === 'idle' && sb.transfers.length === 0) break;
    await sleep(2000);
  }
  console.log(a.log.split('\n').filter((l) => !/"level":20/.test(l)).join('\n').slice(-3000));
  console.log(b.log.split('\n').filter((l) => !/"level":20/.test(l)).join('\n').slice(-3000));
  await a.stop(); await b.stop(); await t.stop();
}, 300_000);
