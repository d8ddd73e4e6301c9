// Response validation of the API client (src/api/schemas.ts): documented bodies pass (extra
// fields are tolerated), malformed ones become a ProtocolError naming endpoint and field.
import { describe, expect, it } from 'vitest';
import { loginFailure } from '../../src/api/client.js';
import { AuthError, ProtocolError } from '../../src/api/errors.js';
import {
  ChildrenPageSchema,
  ErrorBodySchema,
  FileSchema,
  FolderSchema,
  ModifiedSinceSchema,
  parseBody,
  parseJson,
  PersonSchema,
  RevisionSchema,
  RootSchema,
  TokenResponseSchema,
  V1AuthResponseSchema,
} from '../../src/api/schemas.js';

const file = {
  type: 'file',
  id: 7,
  revision_id: 12,
  root_id: 1,
  name: 'file.ext',
  path: '/path/to/file.ext',
  is_deleted: false,
  created: '2015-01-01T01:02:03',
  modified: '2015-01-01T02:03:04',
  size: 12205,
  size_formatted: '11.92k',
  is_locked: false,
  permissions: ['FILE_VIEW', 'FILE_READ', 'FILE_WRITE'],
  sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
};
const folder = { type: 'folder', id: 3, root_id: 1, name: 'docs', path: '/docs', is_deleted: false, is_locked: false };

describe('documented bodies pass', () => {
  it('token response (the documented shape)', () => {
    const t = parseBody(TokenResponseSchema, { access_token: 'a', expires_in: 3600, token_type: 'Bearer', refresh_token: 'r', scope: 'full' }, 'POST /oauth2/token');
    expect(t).toEqual({ access_token: 'a', expires_in: 3600, token_type: 'Bearer', refresh_token: 'r', scope: 'full' });
  });

  it('v1 auth: success and the two-step answer', () => {
    expect(parseBody(V1AuthResponseSchema, { success: true, session_token: 'GWOb' }, 'POST /1/auth/')).toEqual({ success: true, session_token: 'GWOb' });
    expect(parseBody(V1AuthResponseSchema, { message: 'Missing auth_code parameter', two_step_mode: 'email', success: false }, 'POST /1/auth/')).toMatchObject({ success: false, two_step_mode: 'email' });
  });

  it('file, folder, root with children, revision; unknown fields are dropped', () => {
    expect(parseBody(FileSchema, { ...file, some_future_field: { x: 1 } }, 'e')).toEqual(file);
    expect(parseBody(FolderSchema, { ...folder, children: [file, folder] }, 'e').children).toHaveLength(2);
    const root = parseBody(RootSchema, { type: 'root', id: 1, name: 'Files', path: '/', is_locked: false, root_type: 'sync', space_used: 10, hash: 'h', children: [file] }, 'e');
    expect(root.children?.[0]?.type).toBe('file');
    const rev = { type: 'revision', id: 3747, file_id: 1953, root_id: 1, created: '2019-12-05T14:12:11', modified: '2019-12-05T14:12:11', full_size: 11200, delta_size: null, file_size: 14679 };
    expect(parseBody(RevisionSchema, rev, 'e')).toMatchObject({ id: 3747, delta_size: null });
  });

  it('children pages and modified_since', () => {
    const page = parseBody(ChildrenPageSchema, { page: 1, page_size: 20, max_page: 3, results: [folder, file], total: 42 }, 'e');
    expect(page.results.map((r) => r.type)).toEqual(['folder', 'file']);
    expect(parseBody(ModifiedSinceSchema, { results: [file] }, 'e').results).toHaveLength(1);
  });

  it('person: roots as root objects (root_type) or v1-style (type); display name filled in', () => {
    const p = parseBody(
      PersonSchema,
      {
        type: 'person',
        id: 2,
        email: 'a@example.test',
        first_name: 'A',
        last_name: 'B',
        display_name: '',
        username: '',
        roots: [
          { type: 'root', id: 1, name: 'Files', root_type: 'sync', path: '/' },
          { type: 'share', id: 2, name: 'Team Share 1' },
        ],
        company_policy: { anything: true },
      },
      'GET /api/2/person',
    );
    expect(p.display_name).toBe('A B');
    expect(p.roots).toEqual([
      { id: 1, name: 'Files', type: 'sync' },
      { id: 2, name: 'Team Share 1', type: 'share' },
    ]);
  });

  it('error bodies keep extension fields', () => {
    expect(ErrorBodySchema.parse({ error: 'revision_conflict', error_description: 'x', current_revision_id: 9 })).toMatchObject({ current_revision_id: 9 });
  });
});

describe('malformed bodies are ProtocolErrors naming endpoint and field', () => {
  const fails = (fn: () => unknown): ProtocolError => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      return err as ProtocolError;
    }
    throw new Error('expected a ProtocolError');
  };

  it('a missing field', () => {
    const { id: _id, ...noId } = file;
    const e = fails(() => parseBody(FileSchema, noId, 'GET /api/2/files/1/7'));
    expect(e.endpoint).toBe('GET /api/2/files/1/7');
    expect(e.message).toContain('GET /api/2/files/1/7');
    expect(e.detail).toContain('id');
  });

  it('a mistyped field deep inside a page', () => {
    const e = fails(() => parseBody(ChildrenPageSchema, { page: 1, page_size: 20, max_page: 1, total: 2, results: [file, { ...file, size: '12k' }] }, 'GET /api/2/files/1/children'));
    expect(e.detail).toContain('results.1.size');
  });

  it('an unknown child type, a bad date, a bad token type, a root without a type', () => {
    expect(fails(() => parseBody(ChildrenPageSchema, { page: 1, page_size: 20, max_page: 1, total: 1, results: [{ ...file, type: 'symlink' }] }, 'e')).detail).toContain('results.0');
    expect(fails(() => parseBody(FileSchema, { ...file, modified: 'yesterday' }, 'e')).detail).toContain('modified');
    expect(fails(() => parseBody(TokenResponseSchema, { access_token: 'a', token_type: 'mac' }, 'e')).detail).toContain('token_type');
    expect(fails(() => parseBody(PersonSchema, { id: 1, email: 'x', roots: [{ id: 1, name: 'r' }] }, 'e')).detail).toContain('roots.0');
  });

  it('not an object at all, and not JSON at all', () => {
    expect(fails(() => parseBody(FileSchema, null, 'e')).detail).toContain('(body)');
    expect(fails(() => parseBody(FileSchema, [file], 'e')).detail).toContain('(body)');
    const e = fails(() => parseJson('<html>502 Bad Gateway</html>', 'GET /api/2/person'));
    expect(e.message).toContain('not JSON');
  });
});

describe('loginFailure (documented login messages)', () => {
  it('maps the documented messages to AuthError kinds', () => {
    const cases: Array<[Parameters<typeof loginFailure>, string, string | undefined]> = [
      [['Missing auth_code parameter', 'email', 'access_denied', false], 'two_step_required', 'email'],
      [['Invalid authentication code', 'authenticator', 'access_denied', true], 'invalid_auth_code', 'authenticator'],
      [['Missing auth_code parameter', 'sms', undefined, true], 'two_step_required', 'sms'],
      [['Invalid username or password', undefined, 'invalid_grant', false], 'invalid_credentials', undefined],
      [[undefined, undefined, 'invalid_grant', false], 'invalid_credentials', undefined],
      [['You must provide a username and password', undefined, undefined, false], 'missing_credentials', undefined],
    ];
    for (const [args, kind, mode] of cases) {
      const e = loginFailure(...args);
      expect(e, JSON.stringify(args)).toBeInstanceOf(AuthError);
      expect(e!.kind).toBe(kind);
      expect(e!.twoStepMode).toBe(mode);
    }
    expect(loginFailure('something else', undefined, 'invalid_request', false)).toBeUndefined();
  });
});
