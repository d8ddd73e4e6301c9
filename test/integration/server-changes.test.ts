// The change feed extension: GET /api/2/files/<root_id>/changes (cursor, paging, long poll).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Got } from 'got';
import { filesClient, json, newPerson, rootOf, upload } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

interface Change {
  id: number;
  type: 'file' | 'folder';
  name: string;
  path: string;
  parent_id: number | null;
  is_deleted: boolean;
  seq: number;
  sha256?: string;
  revision_id?: number;
}
interface Feed {
  cursor: number;
  has_more: boolean;
  results: Change[];
}

let t: TestServer;
let api: Got;
let rootId: number;
let other: Got;

beforeAll(async () => {
  t = await startTestServer();
  const p = newPerson(t);
  api = filesClient(t, p);
  rootId = rootOf(t, p).id;
  other = filesClient(t, newPerson(t));
});
afterAll(async () => t?.stop());

const feed = async (params: Record<string, string | number>, client = api): Promise<{ status: number; body: Feed }> => {
  const res = await client.get(`${rootId}/changes`, { searchParams: params });
  return { status: res.statusCode, body: json(res) as unknown as Feed };
};

describe('change feed', () => {
  let cursor = 0;

  it('lists every change in order with parent ids and a cursor', async () => {
    const folder = json(await api.post(`${rootId}/create_folder`, { form: { name: 'docs' } }));
    const up = await upload(api, `${rootId}/folder/${folder.id}/upload`, 'hello', { filename: 'a.txt' });
    expect(up.statusCode).toBe(200);
    const { status, body } = await feed({ cursor: 0 });
    expect(status).toBe(200);
    expect(body.results.map((c) => [c.type, c.path, c.parent_id])).toEqual([
      ['folder', '/docs', null],
      ['file', '/docs/a.txt', folder.id],
    ]);
    expect(body.results[1]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(body.cursor).toBe(body.results[1]!.seq);
    expect(body.has_more).toBe(false);
    cursor = body.cursor;
  });

  it('returns nothing new at the current cursor without waiting when timeout is 0', async () => {
    const { body } = await feed({ cursor });
    expect(body).toEqual({ cursor, has_more: false, results: [] });
  });

  it('pages with limit and has_more', async () => {
    const { body } = await feed({ cursor: 0, limit: 1 });
    expect(body.results).toHaveLength(1);
    expect(body.has_more).toBe(true);
    const next = await feed({ cursor: body.cursor, limit: 1 });
    expect(next.body.results[0]!.path).toBe('/docs/a.txt');
  });

  it('long-polls: a waiting request returns as soon as another client changes the root', async () => {
    const waiting = feed({ cursor, timeout: 20 });
    await new Promise((r) => setTimeout(r, 300));
    const started = Date.now();
    const folder = json(await api.post(`${rootId}/create_folder`, { form: { name: 'new' } }));
    const { body } = await waiting;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(body.results.map((c) => c.id)).toEqual([folder.id]);
    cursor = body.cursor;
  });

  it('reports deletions and moves of a folder', async () => {
    const { body: all } = await feed({ cursor: 0 });
    const docs = all.results.find((c) => c.path === '/docs')!;
    const target = all.results.find((c) => c.path === '/new')!;
    expect((await api.post(`${rootId}/folder/${docs.id}/move`, { form: { to_folder_id: String(target.id) } })).statusCode).toBe(200);
    const moved = await feed({ cursor });
    expect(moved.body.results.map((c) => [c.id, c.path, c.parent_id])).toEqual([[docs.id, '/new/docs', target.id]]);
    expect((await api.post(`${rootId}/folder/${target.id}/delete`)).statusCode).toBe(200);
    const deleted = await feed({ cursor: moved.body.cursor });
    expect(deleted.body.results.every((c) => c.is_deleted)).toBe(true);
    expect(new Set(deleted.body.results.map((c) => c.path))).toEqual(new Set(['/new', '/new/docs', '/new/docs/a.txt']));
  });

  it('refuses bad parameters and other people', async () => {
    expect((await feed({ cursor: -1 })).status).toBe(400);
    expect((await feed({ cursor: 'x' })).status).toBe(400);
    expect((await feed({ cursor: 0, limit: 0 })).status).toBe(400);
    expect((await feed({ cursor: 0, timeout: 61 })).status).toBe(400);
    const denied = await feed({ cursor: 0 }, other);
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({ error: 'forbidden' });
  });
});
