// Helpers shared by the benchmark scripts (scripts/bench.js, scripts/bench-delta.js).
import fs from 'node:fs';
import https from 'node:https';
import { URLSearchParams } from 'node:url';

/**
 * A request to the reference server with the benchmark's pinned certificate (`server.url`,
 * `server.ca`): an optional form body, an optional bearer token. Resolves with the status and
 * the JSON body (or the text when it is not JSON).
 */
export function api(server, method, p, { form, token } = {}) {
  const body = form ? new URLSearchParams(form).toString() : undefined;
  return new Promise((resolve, reject) => {
    const req = https.request(
      new URL(p, server.url),
      {
        method,
        ca: server.ca,
        headers: {
          accept: 'application/json',
          ...(body ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } : {}),
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => {
          let parsed = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode, body: parsed });
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` (sync or async) until it returns something truthy, which it returns. */
export async function waitFor(check, { timeoutMs = 60_000, intervalMs = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${(timeoutMs / 1000).toFixed(1)} s waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** The file's content, or `fallback` when it cannot be read. */
export function readOr(file, fallback = null) {
  try {
    return fs.readFileSync(file);
  } catch {
    return fallback;
  }
}
