// The reference server's metadata store: SQLite (better-sqlite3, WAL) with numbered migrations.
// File contents live in the content-addressed blob store (blobs.ts), never in SQLite.
import Database, { type Statement } from 'better-sqlite3';
import path from 'node:path';

export type DB = Database.Database;

/** Each entry moves the schema one version up; never edit a released entry, append a new one. */
const MIGRATIONS: string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  INSERT INTO meta(key, value) VALUES ('seq', '0');

  CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    parent_id INTEGER,
    name TEXT NOT NULL,
    slug TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    email TEXT NOT NULL DEFAULT '',
    hostname TEXT NOT NULL DEFAULT '',
    created TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    trial_until TEXT,
    license_expires TEXT,
    bandwidth_throttle INTEGER,
    throttle_exception_start TEXT,
    throttle_exception_end TEXT,
    throttle_exception_dow TEXT,          -- JSON list of integers, 0=Monday
    throttle_exception_days TEXT,         -- 'weekdays' | 'weekends' | NULL
    throttle_exception_throttle INTEGER,
    throttled INTEGER NOT NULL DEFAULT 0,
    policy TEXT NOT NULL                  -- JSON policy object (see policy.ts)
  );

  CREATE TABLE persons (
    id INTEGER PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES organizations(id),
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    username TEXT NOT NULL DEFAULT '',
    first_name TEXT NOT NULL DEFAULT '',
    last_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT NOT NULL,
    site_admin INTEGER NOT NULL DEFAULT 0,
    system_admin INTEGER NOT NULL DEFAULT 0,
    space_quota INTEGER,
    mobile_phone TEXT,
    root_id INTEGER,
    two_step_mode TEXT,                   -- 'email' | 'sms' | 'authenticator' | NULL
    two_step_secret TEXT,                 -- base32 TOTP secret when mode is authenticator
    two_step_pending_mode TEXT,
    two_step_pending_secret TEXT,
    backup_key TEXT,
    created TEXT NOT NULL
  );

  -- Only SHA-256 hashes of tokens are stored.
  CREATE TABLE tokens (
    token_hash TEXT PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('session', 'access', 'refresh')),
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    created TEXT NOT NULL,
    expires TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    family TEXT                            -- ties an access token to the refresh token that made it
  );
  CREATE INDEX tokens_person ON tokens(person_id);

  -- One-time codes sent by email or sms (hashes only).
  CREATE TABLE auth_codes (
    id INTEGER PRIMARY KEY,
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,                -- 'login' | 'enable' | 'disable'
    mode TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    expires TEXT NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
  );

  -- Messages the server "sends" (email, sms): kept here and as files in <data>/outbox/.
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    person_id INTEGER,
    channel TEXT NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    code TEXT,
    created TEXT NOT NULL
  );

  CREATE TABLE roots (
    id INTEGER PRIMARY KEY,
    company_id INTEGER NOT NULL REFERENCES organizations(id),
    person_id INTEGER,
    name TEXT NOT NULL,
    root_type TEXT NOT NULL CHECK (root_type IN ('sync', 'share', 'backup')),
    description TEXT NOT NULL DEFAULT '',
    is_locked INTEGER NOT NULL DEFAULT 0,
    lock_expires TEXT,
    lock_person_id INTEGER,
    deleted INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL
  );

  -- People subscribed to a root other than its owner (Team Shares).
  CREATE TABLE root_members (
    root_id INTEGER NOT NULL REFERENCES roots(id),
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    role TEXT NOT NULL DEFAULT 'COLLABORATOR',
    PRIMARY KEY (root_id, person_id)
  );

  -- Files and folders. parent_id NULL = top level of the root. Deleted nodes stay (is_deleted=1)
  -- so their revisions and the change feed survive. name_key is the case-folded NFC name.
  CREATE TABLE nodes (
    id INTEGER PRIMARY KEY,
    root_id INTEGER NOT NULL REFERENCES roots(id),
    parent_id INTEGER REFERENCES nodes(id),
    name TEXT NOT NULL,
    name_key TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('file', 'folder')),
    is_deleted INTEGER NOT NULL DEFAULT 0,
    is_locked INTEGER NOT NULL DEFAULT 0,
    lock_expires TEXT,
    lock_person_id INTEGER,
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    revision_id INTEGER,
    size INTEGER NOT NULL DEFAULT 0,
    seq INTEGER NOT NULL DEFAULT 0        -- change sequence number of the last change
  );
  CREATE UNIQUE INDEX nodes_live_name ON nodes(root_id, ifnull(parent_id, 0), name_key) WHERE is_deleted = 0;
  CREATE INDEX nodes_parent ON nodes(root_id, parent_id);
  CREATE INDEX nodes_seq ON nodes(root_id, seq);
  CREATE INDEX nodes_modified ON nodes(root_id, modified);

  CREATE TABLE revisions (
    id INTEGER PRIMARY KEY,
    file_id INTEGER NOT NULL REFERENCES nodes(id),
    root_id INTEGER NOT NULL REFERENCES roots(id),
    blob TEXT NOT NULL,                   -- SHA-256 hex of the content in the blob store
    created TEXT NOT NULL,
    modified TEXT NOT NULL,
    file_size INTEGER NOT NULL,
    full_size INTEGER NOT NULL,
    delta_size INTEGER,
    person_id INTEGER
  );
  CREATE INDEX revisions_file ON revisions(file_id);
  `,
  `
  -- Extension (delta transfer): librsync signatures of stored contents, computed once.
  CREATE TABLE signatures (
    blob TEXT NOT NULL,                   -- SHA-256 of the content the signature describes
    block_len INTEGER NOT NULL,
    strong_len INTEGER NOT NULL,
    sig_blob TEXT NOT NULL,               -- the signature, itself stored in the blob store
    PRIMARY KEY (blob, block_len, strong_len)
  );
  `,
  // Machines (documented machine object + registration/credential extension), their health
  // reports and the agent command channel (see src/server/machines.ts).
  `
  CREATE TABLE machines (
    id INTEGER PRIMARY KEY,
    guid TEXT NOT NULL UNIQUE,            -- lower-case UUID chosen by the agent
    person_id INTEGER NOT NULL REFERENCES persons(id) ON DELETE CASCADE,
    company_id INTEGER NOT NULL REFERENCES organizations(id),  -- the owner's organization
    dns_name TEXT NOT NULL DEFAULT '',
    nickname TEXT,
    last_login TEXT,
    last_disconnect TEXT,
    security_key_hash TEXT,               -- SHA-256 hex of the security key (the key is shown once)
    key_revoked INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL,
    os_type TEXT NOT NULL,
    os_version TEXT NOT NULL DEFAULT '',
    agent_version TEXT,
    locked INTEGER NOT NULL DEFAULT 0,
    bandwidth_throttle INTEGER,
    throttle_exception_days TEXT,         -- 'weekdays' | 'weekends' | NULL
    throttle_exception_dow TEXT,          -- JSON list of integers, 0=Monday
    throttle_exception_start TEXT,
    throttle_exception_end TEXT,
    throttle_exception_throttle INTEGER,
    throttled INTEGER NOT NULL DEFAULT 0,
    policy_id INTEGER,
    machine_type TEXT NOT NULL DEFAULT 'agent',
    health_report_period_minutes INTEGER,
    health_report_period_minutes_min INTEGER,
    health_report_period_minutes_max INTEGER,
    manual_collisions INTEGER NOT NULL DEFAULT 1
  );
  CREATE INDEX machines_company ON machines(company_id);
  CREATE INDEX machines_person ON machines(person_id);

  -- A machine belongs to its owner's organization, also after the owner moves; its agent is
  -- told to refresh its policy (picked up at its next command poll).
  CREATE TRIGGER persons_company_to_machines AFTER UPDATE OF company_id ON persons
  WHEN NEW.company_id IS NOT OLD.company_id
  BEGIN
    UPDATE machines SET company_id = NEW.company_id WHERE person_id = NEW.id;
    INSERT INTO machine_commands (machine_id, type, params, created)
      SELECT m.id, 'refresh_policy', '{"reason":"owner_moved"}', strftime('%Y-%m-%dT%H:%M:%S', 'now') FROM machines m
      WHERE m.person_id = NEW.id
        AND NOT EXISTS (SELECT 1 FROM machine_commands c WHERE c.machine_id = m.id AND c.type = 'refresh_policy' AND c.status = 'pending');
  END;

  -- Token families (tokens.family) issued by the machine grant: marks those tokens, and the
  -- ones refreshed from them, as the machine's.
  CREATE TABLE machine_token_families (
    family TEXT PRIMARY KEY,
    machine_id INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE
  );
  CREATE INDEX machine_token_families_machine ON machine_token_families(machine_id);

  CREATE TABLE machine_health (
    id INTEGER PRIMARY KEY,
    machine_id INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    created TEXT NOT NULL,
    report TEXT NOT NULL                  -- JSON {subscriptions, synced, transfers}
  );
  CREATE INDEX machine_health_machine ON machine_health(machine_id, id);

  CREATE TABLE machine_commands (
    id INTEGER PRIMARY KEY,
    machine_id INTEGER NOT NULL REFERENCES machines(id) ON DELETE CASCADE,
    type TEXT NOT NULL,
    params TEXT NOT NULL,                 -- JSON object
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'ok', 'error')),
    created TEXT NOT NULL,
    created_by INTEGER,                   -- person id; NULL = the server (automatic refresh_policy)
    delivered TEXT,
    completed TEXT,
    result TEXT,                          -- JSON value reported with status ok
    error TEXT                            -- message reported with status error
  );
  CREATE INDEX machine_commands_machine ON machine_commands(machine_id, status, id);
  `,
  // Running space usage counters (what quotas, space_used and space_usage report), kept by
  // triggers in the transaction of every statement that changes counted bytes, so that no
  // request has to sum the files of a root, person or organization:
  //   root_usage.bytes   = live files (kind 'file', is_deleted 0) of the root, whether or not
  //                        the root itself is deleted;
  //   org_usage.bytes    = root_usage of the organization's live roots (roots.deleted 0);
  //   person_usage.bytes = root_usage of the live roots the person owns (roots.person_id).
  // A missing row means 0. Filled here from the existing rows.
  `
  CREATE TABLE root_usage (root_id INTEGER PRIMARY KEY, bytes INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE org_usage (company_id INTEGER PRIMARY KEY, bytes INTEGER NOT NULL DEFAULT 0);
  CREATE TABLE person_usage (person_id INTEGER PRIMARY KEY, bytes INTEGER NOT NULL DEFAULT 0);

  INSERT INTO root_usage (root_id, bytes)
    SELECT root_id, SUM(size) FROM nodes WHERE kind = 'file' AND is_deleted = 0 GROUP BY root_id;
  INSERT INTO org_usage (company_id, bytes)
    SELECT r.company_id, SUM(u.bytes) FROM root_usage u JOIN roots r ON r.id = u.root_id WHERE r.deleted = 0 GROUP BY r.company_id;
  INSERT INTO person_usage (person_id, bytes)
    SELECT r.person_id, SUM(u.bytes) FROM root_usage u JOIN roots r ON r.id = u.root_id
    WHERE r.deleted = 0 AND r.person_id IS NOT NULL GROUP BY r.person_id;

  -- Nodes: a file counts its size while it is live. Each trigger takes the old row's share
  -- off its root and adds the new row's share to its root (and to the root's organization
  -- and owner while the root is live).
  CREATE TRIGGER nodes_usage_insert AFTER INSERT ON nodes
  WHEN NEW.kind = 'file' AND NEW.is_deleted = 0 AND NEW.size != 0
  BEGIN
    INSERT INTO root_usage (root_id, bytes) VALUES (NEW.root_id, NEW.size)
      ON CONFLICT (root_id) DO UPDATE SET bytes = bytes + excluded.bytes;
    INSERT INTO org_usage (company_id, bytes) SELECT company_id, NEW.size FROM roots WHERE id = NEW.root_id AND deleted = 0
      ON CONFLICT (company_id) DO UPDATE SET bytes = bytes + excluded.bytes;
    INSERT INTO person_usage (person_id, bytes) SELECT person_id, NEW.size FROM roots WHERE id = NEW.root_id AND deleted = 0 AND person_id IS NOT NULL
      ON CONFLICT (person_id) DO UPDATE SET bytes = bytes + excluded.bytes;
  END;

  CREATE TRIGGER nodes_usage_delete AFTER DELETE ON nodes
  WHEN OLD.kind = 'file' AND OLD.is_deleted = 0 AND OLD.size != 0
  BEGIN
    UPDATE root_usage SET bytes = bytes - OLD.size WHERE root_id = OLD.root_id;
    UPDATE org_usage SET bytes = bytes - OLD.size WHERE company_id = (SELECT company_id FROM roots WHERE id = OLD.root_id AND deleted = 0);
    UPDATE person_usage SET bytes = bytes - OLD.size WHERE person_id = (SELECT person_id FROM roots WHERE id = OLD.root_id AND deleted = 0);
  END;

  CREATE TRIGGER nodes_usage_update AFTER UPDATE OF kind, is_deleted, size, root_id ON nodes
  WHEN (CASE WHEN OLD.kind = 'file' AND OLD.is_deleted = 0 THEN OLD.size ELSE 0 END)
       != (CASE WHEN NEW.kind = 'file' AND NEW.is_deleted = 0 THEN NEW.size ELSE 0 END)
    OR OLD.root_id != NEW.root_id
  BEGIN
    UPDATE root_usage SET bytes = bytes - OLD.size
      WHERE root_id = OLD.root_id AND OLD.kind = 'file' AND OLD.is_deleted = 0;
    UPDATE org_usage SET bytes = bytes - OLD.size
      WHERE company_id = (SELECT company_id FROM roots WHERE id = OLD.root_id AND deleted = 0) AND OLD.kind = 'file' AND OLD.is_deleted = 0;
    UPDATE person_usage SET bytes = bytes - OLD.size
      WHERE person_id = (SELECT person_id FROM roots WHERE id = OLD.root_id AND deleted = 0) AND OLD.kind = 'file' AND OLD.is_deleted = 0;
    INSERT INTO root_usage (root_id, bytes) SELECT NEW.root_id, NEW.size WHERE NEW.kind = 'file' AND NEW.is_deleted = 0
      ON CONFLICT (root_id) DO UPDATE SET bytes = bytes + excluded.bytes;
    INSERT INTO org_usage (company_id, bytes) SELECT company_id, NEW.size FROM roots
      WHERE id = NEW.root_id AND deleted = 0 AND NEW.kind = 'file' AND NEW.is_deleted = 0
      ON CONFLICT (company_id) DO UPDATE SET bytes = bytes + excluded.bytes;
    INSERT INTO person_usage (person_id, bytes) SELECT person_id, NEW.size FROM roots
      WHERE id = NEW.root_id AND deleted = 0 AND person_id IS NOT NULL AND NEW.kind = 'file' AND NEW.is_deleted = 0
      ON CONFLICT (person_id) DO UPDATE SET bytes = bytes + excluded.bytes;
  END;

  -- Roots: deleting or restoring a root, or giving it another owner or organization, moves
  -- its whole usage.
  CREATE TRIGGER roots_usage_update AFTER UPDATE OF deleted, person_id, company_id ON roots
  WHEN OLD.deleted IS NOT NEW.deleted OR OLD.person_id IS NOT NEW.person_id OR OLD.company_id IS NOT NEW.company_id
  BEGIN
    UPDATE org_usage SET bytes = bytes - (SELECT bytes FROM root_usage WHERE root_id = OLD.id)
      WHERE company_id = OLD.company_id AND OLD.deleted = 0 AND EXISTS (SELECT 1 FROM root_usage WHERE root_id = OLD.id);
    UPDATE person_usage SET bytes = bytes - (SELECT bytes FROM root_usage WHERE root_id = OLD.id)
      WHERE person_id = OLD.person_id AND OLD.deleted = 0 AND EXISTS (SELECT 1 FROM root_usage WHERE root_id = OLD.id);
    INSERT INTO org_usage (company_id, bytes) SELECT NEW.company_id, bytes FROM root_usage WHERE root_id = NEW.id AND NEW.deleted = 0
      ON CONFLICT (company_id) DO UPDATE SET bytes = bytes + excluded.bytes;
    INSERT INTO person_usage (person_id, bytes) SELECT NEW.person_id, bytes FROM root_usage WHERE root_id = NEW.id AND NEW.deleted = 0 AND NEW.person_id IS NOT NULL
      ON CONFLICT (person_id) DO UPDATE SET bytes = bytes + excluded.bytes;
  END;

  CREATE TRIGGER roots_usage_delete AFTER DELETE ON roots
  BEGIN
    UPDATE org_usage SET bytes = bytes - (SELECT bytes FROM root_usage WHERE root_id = OLD.id)
      WHERE company_id = OLD.company_id AND OLD.deleted = 0 AND EXISTS (SELECT 1 FROM root_usage WHERE root_id = OLD.id);
    UPDATE person_usage SET bytes = bytes - (SELECT bytes FROM root_usage WHERE root_id = OLD.id)
      WHERE person_id = OLD.person_id AND OLD.deleted = 0 AND EXISTS (SELECT 1 FROM root_usage WHERE root_id = OLD.id);
    DELETE FROM root_usage WHERE root_id = OLD.id;
  END;
  `,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function openDatabase(dataDir: string): DB {
  const db = new Database(path.join(dataDir, 'server.sqlite'));
  // One process owns a data directory: with the lock held for the connection's life, SQLite
  // keeps the WAL index in memory and takes no file locks per transaction (benchmark 3: ~28
  // fcntl calls per uploaded file before). A second server on the same directory fails to start
  // (database is locked) instead of sharing it. (Set before WAL mode is entered: that is when
  // SQLite chooses where the WAL index lives.)
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('busy_timeout = 5000');
  try {
    db.pragma('journal_mode = WAL');
  } catch (err) {
    db.close();
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    throw new Error(`another process (a running axis-server?) is using the data directory ${dataDir}: stop it, or start this server with another --data directory`, { cause: err });
  }
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  // Savepoint and statement journals in memory: a batch upload commits each item in a savepoint
  // of one transaction, and with the default (a temp file past 64 KiB) every page an item touched
  // was written to that file again (benchmark 3: ~33 pwrite calls per uploaded small file).
  db.pragma('temp_store = MEMORY');
  migrate(db);
  return db;
}

export function migrate(db: DB): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `the data directory was written by a newer server (schema ${current}, this server knows ${MIGRATIONS.length}); upgrade the server or use another --data directory`,
    );
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
}

/** Most statements kept per database; past it the cache starts over (SQL built per request, e.g. IN lists). */
const STATEMENT_CACHE_MAX = 500;
const statements = new WeakMap<DB, Map<string, Statement>>();

/**
 * The prepared statement for `sql` on `db`, compiled once and then reused (better-sqlite3
 * compiles the SQL on every db.prepare()). Callers must not change a cached statement's
 * modes (pluck, raw, expand, safeIntegers) or keep an iterate() open on it.
 */
export function stmt(db: DB, sql: string): Statement {
  let cache = statements.get(db);
  if (!cache) {
    cache = new Map();
    statements.set(db, cache);
  }
  let st = cache.get(sql);
  if (!st) {
    st = db.prepare(sql);
    if (cache.size >= STATEMENT_CACHE_MAX) cache.clear();
    cache.set(sql, st);
  }
  return st;
}

/** Next value of the server-wide change sequence (call inside a transaction). */
export function nextSeq(db: DB): number {
  const row = stmt(db, `UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'seq' RETURNING value`).get() as { value: string | number };
  return Number(row.value);
}
