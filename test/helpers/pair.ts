// Two real agents of one account (two homes, two sync folders) against a fresh reference
// server, logged in and running: the setup of the two-agent end-to-end tests.
import type { PersonRow } from '../../src/server/context.js';
import type { ReferenceServerOptions } from '../../src/server/app.js';
import { TestAgent } from './agents.js';
import { newPerson } from './files.js';
import { startTestServer, type TestServer } from './server.js';

export interface AgentPair {
  t: TestServer;
  person: PersonRow;
  a: TestAgent;
  b: TestAgent;
  /** Stops both agents, then the server; removes the agents' temp folders. */
  stop(): Promise<void>;
}

export async function startAgentPair(
  names: [string, string],
  o: { server?: Partial<ReferenceServerOptions>; env?: NodeJS.ProcessEnv } = {},
): Promise<AgentPair> {
  const t = await startTestServer(o.server);
  const person = newPerson(t);
  const account = { email: person.email, password: 'user-password-1' };
  const [a, b] = names.map((name) => new TestAgent(name, { url: t.url, fingerprint: t.server.fingerprint }, account)) as [TestAgent, TestAgent];
  if (o.env) a.env = b.env = { ...o.env };
  const stop = async () => {
    await Promise.all([a.dispose(), b.dispose()]);
    await t.stop();
  };
  try {
    await Promise.all([a.login(), b.login()]);
    await Promise.all([a.start(), b.start()]);
  } catch (err) {
    await stop().catch(() => undefined);
    throw err;
  }
  return { t, person, a, b, stop };
}
