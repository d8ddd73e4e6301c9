// The main process's client of the agent's control API (docs/control-api.md): JSON requests
// and the Server-Sent Events stream, over loopback HTTP with the bearer token. Plain Node.
import http from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { parseActivityEntry, parseAgentState, type ActivityView, type AgentStateView } from './agent-state.js';
import { SseParser } from './sse.js';

export interface ControlEndpoint {
  /** http://127.0.0.1:PORT/ */
  url: string;
  token: string;
}

export interface ControlResponse {
  status: number;
  body: unknown;
}

const REQUEST_TIMEOUT_MS = 15_000;

export function controlRequest(ep: ControlEndpoint, method: 'GET' | 'POST' | 'PUT', pathname: string, body?: unknown): Promise<ControlResponse> {
  const url = new URL(pathname, ep.url);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method,
        headers: {
          Authorization: `Bearer ${ep.token}`,
          Accept: 'application/json',
          ...(payload ? { 'Content-Type': 'application/json', 'Content-Length': String(payload.length) } : {}),
        },
        timeout: REQUEST_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = text === '' ? null : (JSON.parse(text) as unknown);
          } catch {
            // keep the text
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname}: no answer in ${REQUEST_TIMEOUT_MS / 1000} s`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface FeedHandlers {
  state(s: AgentStateView): void;
  activity(a: ActivityView): void;
}

/**
 * Reads `GET /api/events` until the stream ends, fails or `signal` aborts. Resolves 'ended'
 * (the caller reconnects) or 'unsupported' when the agent answers anything but an event
 * stream (the caller polls `GET /api/state` instead).
 */
export function readEvents(ep: ControlEndpoint, handlers: FeedHandlers, signal: AbortSignal): Promise<'ended' | 'unsupported'> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve('ended');
    const req = http.get(new URL('/api/events', ep.url), { headers: { Authorization: `Bearer ${ep.token}`, Accept: 'text/event-stream' }, signal }, (res) => {
      const type = String(res.headers['content-type'] ?? '');
      if (res.statusCode !== 200 || !type.startsWith('text/event-stream')) {
        res.resume();
        return resolve(res.statusCode === 404 || res.statusCode === 200 ? 'unsupported' : 'ended');
      }
      const parser = new SseParser();
      const decoder = new StringDecoder('utf8');
      res.on('data', (chunk: Buffer) => {
        for (const ev of parser.push(decoder.write(chunk))) dispatch(ev.event, ev.data, handlers);
      });
      res.on('end', () => resolve('ended'));
      res.on('error', () => resolve('ended'));
      res.on('close', () => resolve('ended'));
    });
    req.on('error', () => resolve('ended'));
  });
}

function dispatch(event: string, data: string, handlers: FeedHandlers): void {
  let value: unknown;
  try {
    value = JSON.parse(data) as unknown;
  } catch {
    return;
  }
  if (event === 'state') {
    const s = parseAgentState(value);
    if (s) handlers.state(s);
  } else if (event === 'activity') {
    const a = parseActivityEntry(value);
    if (a) handlers.activity(a);
  }
}

export async function fetchState(ep: ControlEndpoint): Promise<AgentStateView | undefined> {
  const r = await controlRequest(ep, 'GET', '/api/state');
  return r.status === 200 ? parseAgentState(r.body) : undefined;
}

export async function fetchActivity(ep: ControlEndpoint, limit: number): Promise<ActivityView[]> {
  const r = await controlRequest(ep, 'GET', `/api/activity?limit=${limit}`);
  if (r.status !== 200 || typeof r.body !== 'object' || r.body === null) return [];
  const list = (r.body as { activity?: unknown }).activity;
  if (!Array.isArray(list)) return [];
  return list.map(parseActivityEntry).filter((a): a is ActivityView => a !== undefined);
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
  });

/**
 * Follows the agent's state until `signal` aborts: the event stream, reconnected after a
 * pause when it drops; `GET /api/state` every pollMs when the agent has no stream.
 */
export async function followAgent(ep: ControlEndpoint, handlers: FeedHandlers, signal: AbortSignal, pollMs = 2000): Promise<void> {
  let delay = 500;
  while (!signal.aborted) {
    const started = Date.now();
    const how = await readEvents(ep, handlers, signal);
    if (signal.aborted) return;
    if (how === 'unsupported') {
      while (!signal.aborted) {
        const s = await fetchState(ep).catch(() => undefined);
        if (s) handlers.state(s);
        await sleep(pollMs, signal);
      }
      return;
    }
    delay = Date.now() - started > 30_000 ? 500 : Math.min(delay * 2, 10_000);
    await sleep(delay, signal);
  }
}
