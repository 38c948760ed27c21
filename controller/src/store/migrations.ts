/**
 * Versioned schema migrations, one list for both databases. Each step is
 * applied once, in order, and recorded in schema_migrations.
 */
export interface Migration {
  version: number;
  name: string;
  sql(dialect: "sqlite" | "postgres"): string[];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: "messages, hosts, commits, decisions, meta",
    sql: (d) => [
      `CREATE TABLE messages (
        host TEXT NOT NULL, seq BIGINT NOT NULL, type TEXT NOT NULL,
        time_ms BIGINT NOT NULL, received_ms BIGINT NOT NULL,
        rev TEXT, phase TEXT NOT NULL, outcome TEXT, reason TEXT, generation TEXT,
        payload TEXT NOT NULL, sig TEXT NOT NULL,
        PRIMARY KEY (host, seq))`,
      `CREATE INDEX messages_event_rev ON messages (rev) WHERE type = 'event'`,
      `CREATE INDEX messages_event_time ON messages (time_ms) WHERE type = 'event'`,
      `CREATE TABLE hosts (host TEXT PRIMARY KEY, last_seq BIGINT NOT NULL, last_seen_ms BIGINT NOT NULL, state TEXT NOT NULL)`,
      `CREATE TABLE commits (sha TEXT PRIMARY KEY, position BIGINT NOT NULL, observed_ms BIGINT NOT NULL, info TEXT NOT NULL, pr TEXT)`,
      `CREATE INDEX commits_position ON commits (position)`,
      `CREATE TABLE decisions (
        id ${d === "sqlite" ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"},
        rev TEXT NOT NULL, wave TEXT NOT NULL, state TEXT NOT NULL,
        effective_ms BIGINT NOT NULL, recorded_ms BIGINT NOT NULL, reason TEXT NOT NULL, controller TEXT NOT NULL,
        UNIQUE (rev, wave, state))`,
      `CREATE INDEX decisions_recorded ON decisions (recorded_ms)`,
      `CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
    ],
  },
  {
    version: 2,
    name: "messages.verdict: healthy/failed per event, so gating reads one row per host",
    sql: () => [
      `ALTER TABLE messages ADD COLUMN verdict TEXT`,
      // Rows stored before this migration: the same rules, minus the check of each health result's generation.
      `UPDATE messages SET verdict = 'failed' WHERE type = 'event' AND (outcome = 'failed' OR phase IN ('failed', 'rollingBack', 'rolledBack', 'rollbackFailed'))`,
      `UPDATE messages SET verdict = 'healthy' WHERE type = 'event' AND verdict IS NULL AND phase = 'done' AND outcome = 'succeeded' AND generation IS NOT NULL`,
      `CREATE INDEX messages_verdict ON messages (rev, verdict, host) WHERE verdict IS NOT NULL`,
    ],
  },
  {
    version: 3,
    name: "gate_nonces: used gate-question nonces until their question's time window closes (replay refused across restarts and controllers)",
    sql: () => [
      `CREATE TABLE gate_nonces (host TEXT NOT NULL, nonce TEXT NOT NULL, expires_ms BIGINT NOT NULL, PRIMARY KEY (host, nonce))`,
      `CREATE INDEX gate_nonces_expires ON gate_nonces (expires_ms)`,
    ],
  },
  {
    version: 4,
    name: "operator_actions: pause, resume, abort, approve, retry, hold, release with who, when and why",
    sql: (d) => [
      `CREATE TABLE operator_actions (
        id ${d === "sqlite" ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"},
        action TEXT NOT NULL, rev TEXT, wave TEXT, host TEXT,
        reason TEXT NOT NULL, actor TEXT NOT NULL, time_ms BIGINT NOT NULL)`,
      `CREATE INDEX operator_actions_rev ON operator_actions (rev, id)`,
      `CREATE INDEX operator_actions_host ON operator_actions (host, id)`,
    ],
  },
  {
    version: 5,
    name: "reboot_leases: the fleet-wide reboot semaphore (one lease per host, with owner generation and expiry)",
    sql: () => [`CREATE TABLE reboot_leases (host TEXT PRIMARY KEY, generation TEXT NOT NULL, acquired_ms BIGINT NOT NULL, expires_ms BIGINT NOT NULL, booted TEXT)`],
  },
  {
    version: 6,
    name: "host_logs: the agents' step output tails, the newest limits.logTailsPerHost per host (not kept in messages.payload)",
    sql: () => [
      `CREATE TABLE host_logs (
        host TEXT NOT NULL, seq BIGINT NOT NULL, time_ms BIGINT NOT NULL,
        rev TEXT, phase TEXT NOT NULL, outcome TEXT NOT NULL, step TEXT NOT NULL,
        truncated SMALLINT NOT NULL, text TEXT NOT NULL,
        PRIMARY KEY (host, seq))`,
    ],
  },
  {
    version: 8,
    name: "notify_outbox: notifications not yet delivered, leased by the controller sending them (a restart or another controller resumes them)",
    sql: (d) => [
      `CREATE TABLE notify_outbox (
        id ${d === "sqlite" ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"},
        target TEXT NOT NULL, event TEXT NOT NULL, created_ms BIGINT NOT NULL,
        owner TEXT NOT NULL, lease_until_ms BIGINT NOT NULL)`,
      `CREATE INDEX notify_outbox_lease ON notify_outbox (lease_until_ms)`,
      `CREATE INDEX notify_outbox_owner ON notify_outbox (owner)`,
    ],
  },
];

export const LATEST_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
