/**
 * SQLite store (better-sqlite3): one file in the data dir, WAL journal,
 * versioned migrations. Single-process: the lock is an in-process mutex and
 * SQLite's own write lock (BEGIN IMMEDIATE) covers the rest. One controller
 * per file is enforced by `<file>.lock` (see holdProcessLock).
 */
import Database from "better-sqlite3";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { MIGRATIONS } from "./migrations.js";
import { emptyHostState, foldHostState, type HostState } from "./host-state.js";
import { actionFilter, commitInfoJson, leaseOf, verdictToObserved, rowToAction, rowToCommit, rowToDecision, type ActionRow, type CommitRow, type DecisionRow, type LeaseRow } from "./rows.js";
import { SeqConflictError, StoreError, type ActionQuery, type ActionRecord, type NewActionRecord, type AppendResult, type AuditQuery, type CommitRecord, type DecisionRecord, type NewDecisionRecord, type NewMessage, type OutboxRow, type PullRequestInfo, type Store, type StoredEvent, type HostLogQuery, type HostLogRecord, type StoreOptions } from "./types.js";
import type { RebootLease } from "../reboot/semaphore.js";
import { HOST_LOG_COLUMNS, logRows, logTailsPerHost, rowToHostLog, type HostLogRow } from "./host-logs.js";

export class SqliteStore implements Store {
  readonly kind = "sqlite" as const;
  private readonly db: Database.Database;
  private readonly processLock: Database.Database | null;
  private lockChain: Promise<unknown> = Promise.resolve();

  private readonly keepLogs: number;

  constructor(readonly path: string, opts: StoreOptions = {}) {
    this.keepLogs = logTailsPerHost(opts);
    try {
      if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    } catch (cause) {
      throw new StoreError(`cannot open SQLite database ${path}: ${(cause as Error).message}`, { cause });
    }
    this.processLock = path === ":memory:" ? null : holdProcessLock(path);
    try {
      this.db = new Database(path);
      this.db.pragma("journal_mode = WAL");
      this.db.pragma("synchronous = NORMAL");
      this.db.pragma("busy_timeout = 5000");
    } catch (cause) {
      this.processLock?.close();
      throw new StoreError(`cannot open SQLite database ${path}: ${(cause as Error).message}`, { cause });
    }
  }

  async migrate(): Promise<number> {
    this.db.exec("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)");
    const done = new Set((this.db.prepare("SELECT version FROM schema_migrations").all() as { version: number }[]).map((r) => r.version));
    let applied = 0;
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      this.db.transaction(() => {
        for (const stmt of m.sql("sqlite")) this.db.exec(stmt);
        this.db.prepare("INSERT INTO schema_migrations (version, name, applied_ms) VALUES (?, ?, ?)").run(m.version, m.name, Date.now());
      }).immediate();
      applied++;
    }
    return applied;
  }

  async appendMessages(host: string, msgs: NewMessage[], receivedMs: number): Promise<AppendResult> {
    const run = this.db.transaction((): AppendResult => {
      const row = this.db.prepare("SELECT last_seq, state FROM hosts WHERE host = ?").get(host) as { last_seq: number; state: string } | undefined;
      const prev: HostState = row ? JSON.parse(row.state) : emptyHostState(host);
      const lastSeq = row ? Number(row.last_seq) : 0;
      const old = msgs.filter((m) => m.seq <= lastSeq);
      let duplicates = 0;
      if (old.length > 0) {
        const getSig = this.db.prepare("SELECT sig FROM messages WHERE host = ? AND seq = ?");
        for (const m of old) {
          const existing = getSig.get(host, m.seq) as { sig: string } | undefined;
          if (!existing || existing.sig !== m.sig) {
            throw new SeqConflictError(msgs.indexOf(m), m.seq, lastSeq, existing
              ? `seq ${m.seq} of host ${host} is already stored with a different payload (replay or reused seq)`
              : `seq ${m.seq} of host ${host} is not above the last stored seq ${lastSeq} (replay)`);
          }
          duplicates++;
        }
      }
      const fresh = msgs.filter((m) => m.seq > lastSeq);
      const insert = this.db.prepare(
        "INSERT INTO messages (host, seq, type, time_ms, received_ms, rev, phase, outcome, reason, generation, payload, sig, verdict) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      );
      for (const m of fresh) insert.run(m.host, m.seq, m.type, m.timeMs, m.receivedMs, m.rev, m.phase, m.outcome, m.reason, m.generation, m.payload, m.sig, m.verdict);
      const logs = logRows(fresh, this.keepLogs);
      if (logs.length > 0) {
        const add = this.db.prepare(`INSERT INTO host_logs (${HOST_LOG_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
        for (const l of logs) add.run(...l);
        // Retention: the newest keepLogs tails of this host.
        this.db.prepare("DELETE FROM host_logs WHERE host = ? AND seq < (SELECT seq FROM host_logs WHERE host = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)").run(host, host, this.keepLogs - 1);
      }
      const next = foldHostState(prev, fresh.map((m) => m.message), receivedMs);
      this.db
        .prepare("INSERT INTO hosts (host, last_seq, last_seen_ms, state) VALUES (?, ?, ?, ?) ON CONFLICT (host) DO UPDATE SET last_seq = excluded.last_seq, last_seen_ms = excluded.last_seen_ms, state = excluded.state")
        .run(host, next.lastSeq, next.lastSeenMs, JSON.stringify(next));
      return { accepted: fresh.length, duplicates, lastSeq: next.lastSeq };
    });
    return run.immediate();
  }

  async hostStates(): Promise<HostState[]> {
    return (this.db.prepare("SELECT state FROM hosts ORDER BY host").pluck().all() as string[]).map((r) => JSON.parse(r) as HostState);
  }

  async hostVersions(): Promise<Map<string, { lastSeq: number; lastSeenMs: number }>> {
    const rows = this.db.prepare("SELECT host, last_seq, last_seen_ms FROM hosts ORDER BY host").raw().all() as [string, number, number][];
    return new Map(rows.map(([h, seq, seen]) => [h, { lastSeq: Number(seq), lastSeenMs: Number(seen) }]));
  }

  async hostStatesOf(hosts: readonly string[]): Promise<HostState[]> {
    const get = this.db.prepare("SELECT state FROM hosts WHERE host = ?").pluck();
    const out: HostState[] = [];
    for (const h of hosts) {
      const st = get.get(h) as string | undefined;
      if (st) out.push(JSON.parse(st) as HostState);
    }
    return out;
  }

  async hostState(host: string): Promise<HostState | null> {
    const r = this.db.prepare("SELECT state FROM hosts WHERE host = ?").get(host) as { state: string } | undefined;
    return r ? JSON.parse(r.state) : null;
  }

  async eventsForRev(rev: string) {
    const rows = this.db.prepare("SELECT host, verdict, MIN(time_ms) AS t FROM messages WHERE rev = ? AND verdict IS NOT NULL GROUP BY host, verdict ORDER BY host, verdict").all(rev) as { host: string; verdict: string; t: number }[];
    return rows.map((r) => verdictToObserved(rev, r));
  }

  async auditEvents(q: AuditQuery): Promise<StoredEvent[]> {
    const rows = this.db
      .prepare(
        `SELECT host, seq, time_ms, received_ms, payload FROM messages WHERE type = 'event' AND time_ms >= ? ${q.host ? "AND host = ?" : ""} ORDER BY time_ms DESC, host DESC, seq DESC LIMIT ?`,
      )
      .all(...[q.sinceMs ?? 0, ...(q.host ? [q.host] : []), q.limit ?? 10_000]) as { host: string; seq: number; time_ms: number; received_ms: number; payload: string }[];
    return rows.map((r) => ({ host: r.host, seq: Number(r.seq), timeMs: Number(r.time_ms), receivedMs: Number(r.received_ms), payload: r.payload }));
  }

  async recordCommit(c: Omit<CommitRecord, "position">): Promise<CommitRecord> {
    return this.db.transaction(() => {
      const existing = this.db.prepare("SELECT * FROM commits WHERE sha = ?").get(c.sha) as CommitRow | undefined;
      if (existing) return rowToCommit(existing);
      const max = this.db.prepare("SELECT COALESCE(MAX(position), 0) AS p FROM commits").get() as { p: number };
      this.db.prepare("INSERT INTO commits (sha, position, observed_ms, info, pr) VALUES (?, ?, ?, ?, ?)").run(c.sha, Number(max.p) + 1, c.observedMs, commitInfoJson(c), c.pr ? JSON.stringify(c.pr) : null);
      return rowToCommit(this.db.prepare("SELECT * FROM commits WHERE sha = ?").get(c.sha) as CommitRow);
    }).immediate();
  }

  async setCommitPr(sha: string, pr: PullRequestInfo): Promise<void> {
    this.db.prepare("UPDATE commits SET pr = ? WHERE sha = ?").run(JSON.stringify(pr), sha);
  }

  async commit(sha: string): Promise<CommitRecord | null> {
    const r = this.db.prepare("SELECT * FROM commits WHERE sha = ?").get(sha) as CommitRow | undefined;
    return r ? rowToCommit(r) : null;
  }

  async commits(limit: number): Promise<CommitRecord[]> {
    return (this.db.prepare("SELECT * FROM commits ORDER BY position DESC LIMIT ?").all(limit) as CommitRow[]).map(rowToCommit);
  }

  async recordDecisions(ds: NewDecisionRecord[]): Promise<DecisionRecord[]> {
    if (ds.length === 0) return [];
    return this.db.transaction(() => {
      const insert = this.db.prepare(
        "INSERT INTO decisions (rev, wave, state, effective_ms, recorded_ms, reason, controller) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (rev, wave, state) DO NOTHING RETURNING *",
      );
      const out: DecisionRecord[] = [];
      for (const d of ds) {
        const r = insert.get(d.rev, d.wave, d.state, d.effectiveMs, d.recordedMs, d.reason, d.controller) as DecisionRow | undefined;
        if (r) out.push(rowToDecision(r));
      }
      return out;
    }).immediate();
  }

  async decisions(rev: string): Promise<DecisionRecord[]> {
    return (this.db.prepare("SELECT * FROM decisions WHERE rev = ? ORDER BY id").all(rev) as DecisionRow[]).map(rowToDecision);
  }

  async auditDecisions(q: AuditQuery): Promise<DecisionRecord[]> {
    return (this.db.prepare("SELECT * FROM decisions WHERE effective_ms >= ? ORDER BY effective_ms DESC, id DESC LIMIT ?").all(q.sinceMs ?? 0, q.limit ?? 10_000) as DecisionRow[]).map(rowToDecision);
  }

  async withLock<T>(_name: string, fn: () => Promise<T>): Promise<T> {
    const run = this.lockChain.then(fn, fn);
    this.lockChain = run.catch(() => undefined);
    return run;
  }

  async claimNonce(host: string, nonce: string, expiresMs: number): Promise<boolean> {
    return this.db.prepare("INSERT INTO gate_nonces (host, nonce, expires_ms) VALUES (?, ?, ?) ON CONFLICT (host, nonce) DO NOTHING").run(host, nonce, expiresMs).changes === 1;
  }

  async pruneNonces(nowMs: number): Promise<number> {
    return this.db.prepare("DELETE FROM gate_nonces WHERE expires_ms < ?").run(nowMs).changes;
  }

  async recordAction(a: NewActionRecord): Promise<ActionRecord> {
    const r = this.db
      .prepare("INSERT INTO operator_actions (action, rev, wave, host, reason, actor, time_ms) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *")
      .get(a.action, a.rev, a.wave, a.host, a.reason, a.actor, a.timeMs) as ActionRow;
    return rowToAction(r);
  }

  async actions(q: ActionQuery): Promise<ActionRecord[]> {
    const { where, params } = actionFilter(q);
    return (this.db.prepare(`SELECT * FROM operator_actions WHERE ${where} ORDER BY id DESC LIMIT ?`).all(...params, q.limit ?? 10_000) as ActionRow[]).map(rowToAction);
  }

  async commitsByPrefix(prefix: string, limit: number): Promise<CommitRecord[]> {
    const p = prefix.toLowerCase().replace(/[^0-9a-f]/g, "");
    return (this.db.prepare("SELECT * FROM commits WHERE sha LIKE ? ORDER BY position DESC LIMIT ?").all(`${p}%`, limit) as CommitRow[]).map(rowToCommit);
  }

  async outboxAdd(rows: readonly { target: string; event: string }[], owner: string, nowMs: number, leaseUntilMs: number): Promise<number[]> {
    if (rows.length === 0) return [];
    return this.db.transaction(() => {
      const insert = this.db.prepare("INSERT INTO notify_outbox (target, event, created_ms, owner, lease_until_ms) VALUES (?, ?, ?, ?, ?)");
      return rows.map((r) => Number(insert.run(r.target, r.event, nowMs, owner, leaseUntilMs).lastInsertRowid));
    }).immediate();
  }

  async outboxRemove(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    const del = this.db.prepare("DELETE FROM notify_outbox WHERE id = ?");
    this.db.transaction(() => ids.forEach((id) => del.run(id))).immediate();
  }

  async outboxRenew(owner: string, leaseUntilMs: number): Promise<void> {
    this.db.prepare("UPDATE notify_outbox SET lease_until_ms = ? WHERE owner = ?").run(leaseUntilMs, owner);
  }

  async outboxClaim(owner: string, nowMs: number, leaseUntilMs: number, limit: number): Promise<OutboxRow[]> {
    return this.db.transaction(() => {
      const rows = this.db.prepare("SELECT id, target, event FROM notify_outbox WHERE lease_until_ms < ? ORDER BY id LIMIT ?").all(nowMs, limit) as OutboxRow[];
      const take = this.db.prepare("UPDATE notify_outbox SET owner = ?, lease_until_ms = ? WHERE id = ?");
      for (const r of rows) take.run(owner, leaseUntilMs, r.id);
      return rows.map((r) => ({ id: Number(r.id), target: r.target, event: r.event }));
    }).immediate();
  }

  async rebootLeases(): Promise<RebootLease[]> {
    return (this.db.prepare("SELECT host, generation, acquired_ms, expires_ms, booted FROM reboot_leases ORDER BY host").all() as LeaseRow[]).map(leaseOf);
  }

  async putRebootLease(l: RebootLease): Promise<void> {
    this.db
      .prepare("INSERT INTO reboot_leases (host, generation, acquired_ms, expires_ms, booted) VALUES (?, ?, ?, ?, ?) ON CONFLICT (host) DO UPDATE SET generation = excluded.generation, acquired_ms = excluded.acquired_ms, expires_ms = excluded.expires_ms, booted = excluded.booted")
      .run(l.host, l.generation, l.acquiredMs, l.expiresMs, l.booted);
  }

  async deleteRebootLease(host: string): Promise<boolean> {
    return this.db.prepare("DELETE FROM reboot_leases WHERE host = ?").run(host).changes === 1;
  }

  async hostLogs(host: string, q: HostLogQuery): Promise<HostLogRecord[]> {
    const rows = this.db
      .prepare(`SELECT ${HOST_LOG_COLUMNS} FROM host_logs WHERE host = ? ${q.rev ? "AND rev LIKE ?" : ""} ORDER BY seq DESC LIMIT ?`)
      .all(...[host, ...(q.rev ? [`${q.rev}%`] : []), q.limit]) as HostLogRow[];
    return rows.map(rowToHostLog);
  }

  async getMeta(key: string): Promise<string | null> {
    const r = this.db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: string } | undefined;
    return r?.value ?? null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  async close(): Promise<void> {
    this.db.close();
    this.processLock?.close();
  }
}

/**
 * One controller process per SQLite file: an exclusive lock on `<path>.lock`,
 * itself a tiny SQLite database opened with locking_mode=EXCLUSIVE and written
 * once, so SQLite takes and keeps its POSIX write lock until this connection
 * closes. The kernel drops that lock when the process dies, however it dies:
 * the lock cannot go stale. The database itself keeps its normal WAL locking
 * (so `sqlite3 flotilla.db .backup` still works while the controller runs).
 */
function holdProcessLock(path: string): Database.Database {
  const lockPath = `${path}.lock`;
  let db: Database.Database | null = null;
  try {
    db = new Database(lockPath);
    db.pragma("busy_timeout = 0");
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, since_ms BIGINT NOT NULL)");
    db.prepare("INSERT INTO holder (id, pid, since_ms) VALUES (1, ?, ?) ON CONFLICT (id) DO UPDATE SET pid = excluded.pid, since_ms = excluded.since_ms").run(process.pid, Date.now());
    return db;
  } catch (cause) {
    db?.close();
    const code = (cause as { code?: string }).code;
    if (code === "SQLITE_BUSY" || code === "SQLITE_LOCKED") {
      throw new StoreError(
        `another controller is using ${path} (it holds ${lockPath}); one controller per SQLite data dir: stop the other one, or share a PostgreSQL database (--database postgres://…) to run several`,
        { cause },
      );
    }
    throw new StoreError(`cannot lock SQLite database ${path} (${lockPath}): ${(cause as Error).message}`, { cause });
  }
}
