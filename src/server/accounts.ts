// Creating organizations, people and roots (shared by first-start bootstrap and the API).
import type { OrganizationRow, PersonRow, RootRow, ServerContext } from './context.js';
import { hashPassword } from './credentials.js';
import { defaultPolicy, type Policy } from './policy.js';
import { apiTime } from './time.js';
import { stmt } from './db.js';

export interface NewOrganization {
  name: string;
  slug: string;
  parent_id: number | null;
  email?: string;
  hostname?: string;
  description?: string;
  policy?: Partial<Policy>;
  trial_until?: string | null;
}

export function createOrganization(ctx: ServerContext, o: NewOrganization): OrganizationRow {
  const info = stmt(ctx.db, 
      `INSERT INTO organizations (parent_id, name, slug, description, email, hostname, created, trial_until, policy)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(o.parent_id, o.name, o.slug, o.description ?? '', o.email ?? '', o.hostname ?? '', apiTime(ctx.clock()), o.trial_until ?? null, JSON.stringify({ ...defaultPolicy(), ...o.policy }));
  return stmt(ctx.db, `SELECT * FROM organizations WHERE id = ?`).get(info.lastInsertRowid) as OrganizationRow;
}

export interface NewPerson {
  company_id: number;
  email: string;
  password: string;
  first_name?: string;
  last_name?: string;
  username?: string;
  site_admin?: boolean;
  system_admin?: boolean;
  space_quota?: number | null;
  mobile_phone?: string | null;
  /** Create the person's personal sync root ("Files"). Default true. */
  create_root?: boolean;
}

export function createPerson(ctx: ServerContext, p: NewPerson): PersonRow {
  const hash = hashPassword(p.password);
  return ctx.db.transaction(() => {
    const info = stmt(ctx.db, 
        `INSERT INTO persons (company_id, email, username, first_name, last_name, password_hash, site_admin, system_admin, space_quota, mobile_phone, created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(p.company_id, p.email, p.username ?? '', p.first_name ?? '', p.last_name ?? '', hash, p.site_admin ? 1 : 0, p.system_admin ? 1 : 0, p.space_quota ?? null, p.mobile_phone ?? null, apiTime(ctx.clock()));
    const id = Number(info.lastInsertRowid);
    if (p.create_root !== false) {
      const root = createRoot(ctx, { company_id: p.company_id, person_id: id, name: 'Files', root_type: 'sync' });
      stmt(ctx.db, `UPDATE persons SET root_id = ? WHERE id = ?`).run(root.id, id);
    }
    return stmt(ctx.db, `SELECT * FROM persons WHERE id = ?`).get(id) as PersonRow;
  })();
}

export function createRoot(ctx: ServerContext, r: { company_id: number; person_id: number | null; name: string; root_type: RootRow['root_type']; description?: string }): RootRow {
  const info = stmt(ctx.db, `INSERT INTO roots (company_id, person_id, name, root_type, description, created) VALUES (?, ?, ?, ?, ?, ?)`)
    .run(r.company_id, r.person_id, r.name, r.root_type, r.description ?? '', apiTime(ctx.clock()));
  return stmt(ctx.db, `SELECT * FROM roots WHERE id = ?`).get(info.lastInsertRowid) as RootRow;
}
