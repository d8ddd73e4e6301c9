// src/main's message and web rules: the agent's ready message, restart backoff, the SSE
// parser, the State parser, and where the window may go and where the token may be sent.
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { ActivityEntry as AgentActivity, State as AgentState } from '../../src/agent/control/state.js';
import { DEFAULT_RESTART_POLICY, nextRestart, parseReady } from '../../src/main/agent-protocol.js';
import { parseActivityEntry, parseAgentState, pushActivity, type ActivityView, type AgentStateView } from '../../src/main/agent-state.js';
import { SseParser } from '../../src/main/sse.js';
import { isAgentUrl, navigationAllowed, originOf, withAgentAuthorization, windowUrl } from '../../src/main/web-security.js';

const TOKEN = 'ab'.repeat(32);

describe('ready message', () => {
  it('accepts the agent announcing its loopback control API', () => {
    expect(parseReady({ type: 'ready', url: 'http://127.0.0.1:51234/', port: 51234, token: TOKEN })).toEqual({ type: 'ready', url: 'http://127.0.0.1:51234/', port: 51234, token: TOKEN });
    // localhost is accepted but always used as 127.0.0.1.
    expect(parseReady({ type: 'ready', url: 'http://localhost:4000', port: 4000, token: TOKEN })?.url).toBe('http://127.0.0.1:4000/');
  });

  it('refuses anything else: other hosts, schemes, ports, tokens, shapes', () => {
    const ok = { type: 'ready', url: 'http://127.0.0.1:51234/', port: 51234, token: TOKEN };
    const bad: unknown[] = [
      null,
      'ready',
      { ...ok, type: 'stop' },
      { ...ok, url: 'http://192.168.1.5:51234/' },
      { ...ok, url: 'https://127.0.0.1:51234/' },
      { ...ok, url: 'http://evil.example:51234/' },
      { ...ok, url: 'http://127.0.0.1:51235/' },
      { ...ok, url: 'http://user:pw@127.0.0.1:51234/' },
      { ...ok, url: 'not a url' },
      { ...ok, port: 0 },
      { ...ok, port: 70000 },
      { ...ok, port: '51234' },
      { ...ok, token: 'short' },
      { ...ok, token: `${TOKEN}; x` },
      { ...ok, token: undefined },
    ];
    for (const m of bad) expect(parseReady(m), JSON.stringify(m)).toBeUndefined();
  });
});

describe('restart backoff', () => {
  it('doubles from 1 s up to 60 s while the agent keeps dying quickly', () => {
    let failures = 0;
    const delays: number[] = [];
    for (let i = 0; i < 9; i++) {
      const d = nextRestart(failures, 500);
      failures = d.failures;
      delays.push(d.delayMs);
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]);
  });

  it('starts over after a run that lasted', () => {
    expect(nextRestart(7, DEFAULT_RESTART_POLICY.stableMs)).toEqual({ delayMs: 1000, failures: 1 });
    expect(nextRestart(7, DEFAULT_RESTART_POLICY.stableMs - 1)).toEqual({ delayMs: 60000, failures: 8 });
    expect(nextRestart(1000, 0).delayMs).toBe(60000); // no overflow
    expect(nextRestart(0, 0, { baseMs: 50, maxMs: 120, stableMs: 10 })).toEqual({ delayMs: 50, failures: 1 });
  });
});

describe('SSE parser', () => {
  it('parses events as the control API sends them', () => {
    const p = new SseParser();
    const out = p.push(': ping\n\nevent: state\ndata: {"a":1}\n\nevent: bandwidth\ndata: {"t":1}\n\n');
    expect(out).toEqual([
      { event: 'state', data: '{"a":1}', id: undefined },
      { event: 'bandwidth', data: '{"t":1}', id: undefined },
    ]);
  });

  it('joins data lines, defaults the event name, keeps the last id, ignores unknown fields', () => {
    const p = new SseParser();
    expect(p.push('id: 7\ndata: one\ndata:two\nretry: 10\nfoo: bar\n\n')).toEqual([{ event: 'message', data: 'one\ntwo', id: '7' }]);
    expect(p.push('data\n\n')).toEqual([{ event: 'message', data: '', id: '7' }]);
    // An event with no data is not dispatched (and its name does not leak into the next).
    expect(p.push('event: state\n\ndata: x\n\n')).toEqual([{ event: 'message', data: 'x', id: '7' }]);
  });

  it('handles any chunking and all three line endings', () => {
    const text = 'event: state\r\ndata: {"n":1}\r\n\r\nevent: activity\rdata: {"n":2}\r\revent: state\ndata: {"n":3}\n\n';
    const whole = new SseParser().push(text);
    expect(whole.map((e) => e.data)).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
    for (let size = 1; size <= 7; size++) {
      const p = new SseParser();
      const got = [];
      for (let i = 0; i < text.length; i += size) got.push(...p.push(text.slice(i, i + size)));
      expect(got, `chunks of ${size}`).toEqual(whole);
    }
  });
});

describe('State and activity parsing', () => {
  const state = {
    agent: { version: '0.1.0', pid: 1, started: '2026-11-23T10:00:00Z' },
    login: { state: 'logged_in', server: 'https://s', username: 'u', display_name: 'U', email: 'e', machine_id: 1 },
    status: { running: true, pid: 1, updated: 'x', roots: [{ id: 1, name: 'r', type: 'sync', path: '/p', synced: true, queued: 0, collisions: 0, state: 'idle', paused: false, last_error: null }], transfers: [], delta: { available: true, reason: null } },
    server_roots: [],
    policy: null,
    settings: { server: 'https://s', fingerprint: null, sync_dir: '/p', paused: false, manual_collisions: true, start_at_login: true },
    collisions: 2,
  };

  it('accepts the documented State and keeps its fields', () => {
    const s = parseAgentState(state);
    expect(s?.collisions).toBe(2);
    expect(s?.settings.start_at_login).toBe(true);
    expect(parseAgentState({ ...state, status: null, login: { state: 'logged_out', server: null } })?.status).toBeNull();
  });

  it('refuses bodies that are not a State', () => {
    expect(parseAgentState(null)).toBeUndefined();
    expect(parseAgentState({ error: { code: 'unauthorized', message: 'x' } })).toBeUndefined();
    expect(parseAgentState({ ...state, login: { state: 'weird' } })).toBeUndefined();
    expect(parseAgentState({ ...state, collisions: '2' })).toBeUndefined();
    expect(parseAgentState({ ...state, settings: { ...state.settings, paused: 'no' } })).toBeUndefined();
    expect(parseAgentState({ ...state, status: { roots: 'x', transfers: [] } })).toBeUndefined();
    expect(parseAgentState({ ...state, status: { ...state.status, roots: [{ id: 1 }] } })).toBeUndefined();
  });

  it('parses activity entries, root-less ones included', () => {
    expect(parseActivityEntry({ id: 1, root_id: 2, time: 't', kind: 'upload', path: 'a', detail: null })).toEqual({ id: 1, root_id: 2, time: 't', kind: 'upload', path: 'a', detail: null });
    expect(parseActivityEntry({ id: 1, root_id: null, time: 't', kind: 'login', path: null, detail: 'ok' })).toEqual({ id: 1, root_id: null, time: 't', kind: 'login', path: null, detail: 'ok' });
    expect(parseActivityEntry({ id: '1', root_id: 2, time: 't', kind: 'upload', path: 'a' })).toBeUndefined();
    expect(parseActivityEntry({ id: 1, root_id: 2, time: 't', kind: 'upload', path: 5 })).toBeUndefined();
  });

  it('keeps the newest five, newest first, each once', () => {
    const e = (id: number): ActivityView => ({ id, root_id: 1, time: 't', kind: 'k', path: `f${id}`, detail: null });
    let list: ActivityView[] = [];
    for (const id of [1, 2, 3, 4, 5, 6, 7]) list = pushActivity(list, e(id));
    expect(list.map((x) => x.id)).toEqual([7, 6, 5, 4, 3]);
    list = pushActivity(list, e(6)); // seen again (stream reconnect)
    expect(list.map((x) => x.id)).toEqual([7, 6, 5, 4, 3]);
    list = pushActivity(list, e(2)); // older than all: not among the newest five
    expect(list.map((x) => x.id)).toEqual([7, 6, 5, 4, 3]);
  });
});

describe('window security rules', () => {
  const agent = { origin: 'http://127.0.0.1:51234', token: TOKEN };

  it('knows the agent origin exactly: scheme, host and port', () => {
    expect(originOf('http://127.0.0.1:51234/#/roots')).toBe('http://127.0.0.1:51234');
    expect(originOf('about:blank')).toBeUndefined();
    expect(originOf('file:///etc/passwd')).toBeUndefined();
    expect(originOf('::')).toBeUndefined();
    expect(isAgentUrl('http://127.0.0.1:51234/api/state', agent.origin)).toBe(true);
    expect(isAgentUrl('http://127.0.0.1:51235/api/state', agent.origin)).toBe(false);
    expect(isAgentUrl('http://localhost:51234/api/state', agent.origin)).toBe(false);
    expect(isAgentUrl('https://127.0.0.1:51234/', agent.origin)).toBe(false);
    expect(isAgentUrl('http://127.0.0.1:51234@evil.example/', agent.origin)).toBe(false);
    expect(isAgentUrl('http://127.0.0.1:51234/', undefined)).toBe(false);
  });

  it('adds the bearer token to requests for the agent only', () => {
    expect(withAgentAuthorization({ Accept: '*/*' }, 'http://127.0.0.1:51234/api/events', agent)).toEqual({ Accept: '*/*', Authorization: `Bearer ${TOKEN}` });
    expect(withAgentAuthorization({ Accept: '*/*' }, 'https://evil.example/x', agent)).toEqual({ Accept: '*/*' });
    expect(withAgentAuthorization({ Accept: '*/*' }, 'http://127.0.0.1:9999/', agent)).toEqual({ Accept: '*/*' });
    // No agent yet (restarting): nothing is added.
    expect(withAgentAuthorization({ Accept: '*/*' }, 'http://127.0.0.1:51234/api/state', undefined)).toEqual({ Accept: '*/*' });
  });

  it('replaces a page-supplied Authorization for the agent and strips our token from anything else', () => {
    expect(withAgentAuthorization({ authorization: 'Bearer forged' }, 'http://127.0.0.1:51234/api/state', agent)).toEqual({ Authorization: `Bearer ${TOKEN}` });
    expect(withAgentAuthorization({ Authorization: `Bearer ${TOKEN}` }, 'https://evil.example/', agent)).toEqual({});
    expect(withAgentAuthorization({ Authorization: 'Basic other' }, 'https://other.example/', agent)).toEqual({ Authorization: 'Basic other' });
  });

  it('lets the window navigate only within the agent origin', () => {
    expect(navigationAllowed('http://127.0.0.1:51234/#/collisions', agent.origin)).toBe(true);
    expect(navigationAllowed('https://example.com/', agent.origin)).toBe(false);
    expect(navigationAllowed('file:///tmp/x.html', agent.origin)).toBe(false);
    expect(navigationAllowed('javascript:alert(1)', agent.origin)).toBe(false);
    expect(navigationAllowed('http://127.0.0.1:51234/', undefined)).toBe(false);
  });

  it('builds the window URL for a route of the UI', () => {
    expect(windowUrl('http://127.0.0.1:51234/')).toBe('http://127.0.0.1:51234/');
    expect(windowUrl('http://127.0.0.1:51234/', 'collisions')).toBe('http://127.0.0.1:51234/#/collisions');
    expect(windowUrl('http://127.0.0.1:51234/#/old', '/activity')).toBe('http://127.0.0.1:51234/#/activity');
  });
});

describe("main's view of the control API matches what the agent sends", () => {
  it('the agent State and ActivityEntry are assignable to the views main reads (compile-time check, run by tsc)', () => {
    // src/main keeps structural copies of the JSON contract (docs/control-api.md) so it does not
    // load the agent's modules; these assertions fail the type check when the two drift apart.
    expectTypeOf<AgentState>().toExtend<AgentStateView>();
    expectTypeOf<AgentActivity>().toExtend<ActivityView>();
    expect(true).toBe(true);
  });
});
