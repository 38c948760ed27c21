/**
 * PostgreSQL store (`--database postgres://…`): the same schema and
 * semantics as SQLite, safe for several controllers sharing one database.
 * Ingest locks the host's row (SELECT … FOR UPDATE); rollout evaluation runs
 * under a session advisory lock; decisions are unique by (rev, wave, state).
 */
import pg from "pg";
import { MIGRATIONS } from "./migrations.js";
import { emptyHostState, foldHostState, type HostState } from "./host-state.js";
import { actionFilter, commitInfoJson, leaseOf, verdictToObserved, rowToAction, rowToCommit, rowToDecision, type ActionRow, type CommitRow, type DecisionRow, type LeaseRow } from "./rows.js";
import { SeqConflictError, StoreError, type ActionQuery, type ActionRecord, type NewActionRecord, type AppendResult, type AuditQuery, type CommitRecord, type DecisionRecord, type NewDecisionRecord, type NewMessage, type OutboxRow, type PullRequestInfo, type Store, type StoredEvent, type HostLogQuery, type HostLogRecord, type StoreOptions } from "./types.js";
import type { RebootLease } from "../reboot/semaphore.js";
import { HOST_LOG_COLUMNS, logRows, logTailsPerHost, rowToHostLog, type HostLogRow } from "./host-logs.js";

const BIGINT_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: string) => (oid === BIGINT_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as "text"))) as typeof pg.types.getTypeParser,
};

export class PostgresStore implements Store {
  readonly kind = "postgres" as const;
  private readonly pool: pg.Pool;

  private readonly keepLogs: number;

  constructor(readonly url: string, opts: { max?: number } & StoreOptions = {}) {
    this.keepLogs = logTailsPerHost(opts);
    this.pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, types });
    this.pool.on("error", () => undefined); // idle client errors surface on the next query
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (cause) {
      throw new StoreError(`cannot connect to PostgreSQL: ${(cause as Error).message}`, { cause });
    }
  }

  private async tx<T>(fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      await client.query("BEGIN");
      const out = await fn(client);
      await client.query("COMMIT");
      return out;
    } catch (e) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async migrate(): Promise<number> {
    return this.withLock("migrate", async () => {
      await this.pool.query("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_ms BIGINT NOT NULL)");
      const done = new Set((await this.pool.query<{ version: number }>("SELECT version FROM schema_migrations")).rows.map((r) => r.version));
      let applied = 0;
      for (const m of MIGRATIONS) {
        if (done.has(m.version)) continue;
        await this.tx(async (c) => {
          for (const stmt of m.sql("postgres")) await c.query(stmt);
          await c.query("INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, $2, $3)", [m.version, m.name, Date.now()]);
        });
        applied++;
      }
      return applied;
    });
  }

  async appendMessages(host: string, msgs: NewMessage[], receivedMs: number): Promise<AppendResult> {
    return this.tx(async (c) => {
      await c.query("INSERT INTO hosts (host, last_seq, last_seen_ms, state) VALUES ($1, 0, 0, $2) ON CONFLICT (host) DO NOTHING", [host, JSON.stringify(emptyHostState(host))]);
      const row = (await c.query<{ last_seq: number; state: string }>("SELECT last_seq, state FROM hosts WHERE host = $1 FOR UPDATE", [host])).rows[0]!;
      const prev: HostState = JSON.parse(row.state);
      const lastSeq = row.last_seq;
      const old = msgs.filter((m) => m.seq <= lastSeq);
      if (old.length > 0) {
        const found = new Map(
          (await c.query<{ seq: number; sig: string }>("SELECT seq, sig FROM messages WHERE host = $1 AND seq = ANY($2::bigint[])", [host, old.map((m) => m.seq)])).rows.map((r) => [r.seq, r.sig]),
        );
        for (const m of old) {
          const sig = found.get(m.seq);
          if (sig !== m.sig) {
            throw new SeqConflictError(msgs.indexOf(m), m.seq, lastSeq, sig
              ? `seq ${m.seq} of host ${host} is already stored with a different payload (replay or reused seq)`
              : `seq ${m.seq} of host ${host} is not above the last stored seq ${lastSeq} (replay)`);
          }
        }
      }
      const fresh = msgs.filter((m) => m.seq > lastSeq);
      if (fresh.length > 0) {
        const col = <K extends keyof NewMessage>(k: K) => fresh.map((m) => m[k]);
        await c.query(
          `INSERT INTO messages (host, seq, type, time_ms, received_ms, rev, phase, outcome, reason, generation, payload, sig, verdict)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])`,
          [col("host"), col("seq"), col("type"), col("timeMs"), col("receivedMs"), col("rev"), col("phase"), col("outcome"), col("reason"), col("generation"), col("payload"), col("sig"), col("verdict")],
        );
      }
      const logs = logRows(fresh, this.keepLogs);
      if (logs.length > 0) {
        const col = (i: number) => logs.map((l) => l[i]);
        await c.query(
          `INSERT INTO host_logs (${HOST_LOG_COLUMNS})
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::smallint[], $9::text[])`,
          [0, 1, 2, 3, 4, 5, 6, 7, 8].map(col),
        );
        // Retention: the newest keepLogs tails of this host (its row lock serializes this per host).
        await c.query("DELETE FROM host_logs WHERE host = $1 AND seq < (SELECT seq FROM host_logs WHERE host = $1 ORDER BY seq DESC LIMIT 1 OFFSET $2)", [host, this.keepLogs - 1]);
      }
      const next = foldHostState(prev, fresh.map((m) => m.message), receivedMs);
      await c.query("UPDATE hosts SET last_seq = $2, last_seen_ms = $3, state = $4 WHERE host = $1", [host, next.lastSeq, next.lastSeenMs, JSON.stringify(next)]);
      return { accepted: fresh.length, duplicates: old.length, lastSeq: next.lastSeq };
    });
  }

  async hostStates(): Promise<HostState[]> {
    return (await this.pool.query<{ state: string }>("SELECT state FROM hosts WHERE last_seen_ms > 0 ORDER BY host")).rows.map((r) => JSON.parse(r.state));
  }

  async hostVersions(): Promise<Map<string, { lastSeq: number; lastSeenMs: number }>> {
    const rows = (await this.pool.query({ text: "SELECT host, last_seq, last_seen_ms FROM hosts WHERE last_seen_ms > 0 ORDER BY host", rowMode: "array" })).rows as [string, number, number][];
    return new Map(rows.map(([h, seq, seen]) => [h, { lastSeq: seq, lastSeenMs: seen }]));
  }

  async hostStatesOf(hosts: readonly string[]): Promise<HostState[]> {
    if (hosts.length === 0) return [];
    const rows = (await this.pool.query<{ state: string }>("SELECT state FROM hosts WHERE host = ANY($1::text[]) AND last_seen_ms > 0", [hosts])).rows;
    return rows.map((r) => JSON.parse(r.state) as HostState);
  }

  async hostState(host: string): Promise<HostState | null> {
    const r = (await this.pool.query<{ state: string }>("SELECT state FROM hosts WHERE host = $1 AND last_seen_ms > 0", [host])).rows[0];
    return r ? JSON.parse(r.state) : null;
  }

  async eventsForRev(rev: string) {
    const rows = (await this.pool.query<{ host: string; verdict: string; t: number }>(
      "SELECT host, verdict, MIN(time_ms) AS t FROM messages WHERE rev = $1 AND verdict IS NOT NULL GROUP BY host, verdict ORDER BY host, verdict",
      [rev],
    )).rows;
    return rows.map((r) => verdictToObserved(rev, r));
  }

  async auditEvents(q: AuditQuery): Promise<StoredEvent[]> {
    const params: unknown[] = [q.sinceMs ?? 0, q.limit ?? 10_000];
    if (q.host) params.push(q.host);
    const rows = (
      await this.pool.query<{ host: string; seq: number; time_ms: number; received_ms: number; payload: string }>(
        `SELECT host, seq, time_ms, received_ms, payload FROM messages WHERE type = 'event' AND time_ms >= $1 ${q.host ? "AND host = $3" : ""} ORDER BY time_ms DESC, host DESC, seq DESC LIMIT $2`,
        params,
      )
    ).rows;
    return rows.map((r) => ({ host: r.host, seq: r.seq, timeMs: r.time_ms, receivedMs: r.received_ms, payload: r.payload }));
  }

  async recordCommit(c: Omit<CommitRecord, "position">): Promise<CommitRecord> {
    return this.tx(async (cl) => {
      await cl.query("LOCK TABLE commits IN SHARE ROW EXCLUSIVE MODE");
      const existing = (await cl.query<CommitRow>("SELECT * FROM commits WHERE sha = $1", [c.sha])).rows[0];
      if (existing) return rowToCommit(existing);
      const r = await cl.query<CommitRow>(
        "INSERT INTO commits (sha, position, observed_ms, info, pr) SELECT $1, COALESCE(MAX(position), 0) + 1, $2, $3, $4 FROM commits RETURNING *",
        [c.sha, c.observedMs, commitInfoJson(c), c.pr ? JSON.stringify(c.pr) : null],
      );
      return rowToCommit(r.rows[0]!);
    });
  }

  async setCommitPr(sha: string, pr: PullRequestInfo): Promise<void> {
    await this.pool.query("UPDATE commits SET pr = $2 WHERE sha = $1", [sha, JSON.stringify(pr)]);
  }

  async commit(sha: string): Promise<CommitRecord | null> {
    const r = (await this.pool.query<CommitRow>("SELECT * FROM commits WHERE sha = $1", [sha])).rows[0];
    return r ? rowToCommit(r) : null;
  }

  async commits(limit: number): Promise<CommitRecord[]> {
    return (await this.pool.query<CommitRow>("SELECT * FROM commits ORDER BY position DESC LIMIT $1", [limit])).rows.map(rowToCommit);
  }

  async recordDecisions(ds: NewDecisionRecord[]): Promise<DecisionRecord[]> {
    if (ds.length === 0) return [];
    return this.tx(async (c) => {
      const out: DecisionRecord[] = [];
      for (const d of ds) {
        const r = await c.query<DecisionRow>(
          "INSERT INTO decisions (rev, wave, state, effective_ms, recorded_ms, reason, controller) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (rev, wave, state) DO NOTHING RETURNING *",
          [d.rev, d.wave, d.state, d.effectiveMs, d.recordedMs, d.reason, d.controller],
        );
        if (r.rows[0]) out.push(rowToDecision(r.rows[0]));
      }
      return out;
    });
  }

  async decisions(rev: string): Promise<DecisionRecord[]> {
    return (await this.pool.query<DecisionRow>("SELECT * FROM decisions WHERE rev = $1 ORDER BY id", [rev])).rows.map(rowToDecision);
  }

  async auditDecisions(q: AuditQuery): Promise<DecisionRecord[]> {
    return (await this.pool.query<DecisionRow>("SELECT * FROM decisions WHERE effective_ms >= $1 ORDER BY effective_ms DESC, id DESC LIMIT $2", [q.sinceMs ?? 0, q.limit ?? 10_000])).rows.map(rowToDecision);
  }

  private localLock: Promise<unknown> = Promise.resolve();

  /**
   * Serialised in-process first, so waiting callers never hold pool
   * connections the lock holder needs; then across processes by a session
   * advisory lock on a dedicated connection.
   */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const run = this.localLock.then(() => this.advisoryLocked(name, fn));
    this.localLock = run.catch(() => undefined);
    return run;
  }

  private async advisoryLocked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const client = await this.connect();
    try {
      await client.query("SELECT pg_advisory_lock(hashtext($1))", [`flotilla:${name}`]);
      try {
        return await fn();
      } finally {
        await client.query("SELECT pg_advisory_unlock(hashtext($1))", [`flotilla:${name}`]);
      }
    } finally {
      client.release();
    }
  }

  async claimNonce(host: string, nonce: string, expiresMs: number): Promise<boolean> {
    const r = await this.pool.query("INSERT INTO gate_nonces (host, nonce, expires_ms) VALUES ($1, $2, $3) ON CONFLICT (host, nonce) DO NOTHING", [host, nonce, expiresMs]);
    return r.rowCount === 1;
  }

  async pruneNonces(nowMs: number): Promise<number> {
    return (await this.pool.query("DELETE FROM gate_nonces WHERE expires_ms < $1", [nowMs])).rowCount ?? 0;
  }

  async recordAction(a: NewActionRecord): Promise<ActionRecord> {
    const r = await this.pool.query<ActionRow>(
      "INSERT INTO operator_actions (action, rev, wave, host, reason, actor, time_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
      [a.action, a.rev, a.wave, a.host, a.reason, a.actor, a.timeMs],
    );
    return rowToAction(r.rows[0]!);
  }

  async actions(q: ActionQuery): Promise<ActionRecord[]> {
    const { where, params } = actionFilter(q);
    let n = 0;
    const text = `SELECT * FROM operator_actions WHERE ${where.replace(/\?/g, () => `$${++n}`)} ORDER BY id DESC LIMIT $${n + 1}`;
    return (await this.pool.query<ActionRow>(text, [...params, q.limit ?? 10_000])).rows.map(rowToAction);
  }

  async commitsByPrefix(prefix: string, limit: number): Promise<CommitRecord[]> {
    const p = prefix.toLowerCase().replace(/[^0-9a-f]/g, "");
    return (await this.pool.query<CommitRow>("SELECT * FROM commits WHERE sha LIKE $1 ORDER BY position DESC LIMIT $2", [`${p}%`, limit])).rows.map(rowToCommit);
  }

  async outboxAdd(rows: readonly { target: string; event: string }[], owner: string, nowMs: number, leaseUntilMs: number): Promise<number[]> {
    if (rows.length === 0) return [];
    const r = await this.pool.query<{ id: number }>(
      "INSERT INTO notify_outbox (target, event, created_ms, owner, lease_until_ms) SELECT t, e, $3, $4, $5 FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(t, e, n) ORDER BY n RETURNING id",
      [rows.map((x) => x.target), rows.map((x) => x.event), nowMs, owner, leaseUntilMs],
    );
    // BIGSERIAL values follow the insert order (ORDER BY n).
    return r.rows.map((x) => x.id).sort((a, b) => a - b);
  }

  async outboxRemove(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.pool.query("DELETE FROM notify_outbox WHERE id = ANY($1::bigint[])", [ids]);
  }

  async outboxRenew(owner: string, leaseUntilMs: number): Promise<void> {
    await this.pool.query("UPDATE notify_outbox SET lease_until_ms = $2 WHERE owner = $1", [owner, leaseUntilMs]);
  }

  async outboxClaim(owner: string, nowMs: number, leaseUntilMs: number, limit: number): Promise<OutboxRow[]> {
    // SKIP LOCKED: two controllers claiming at once take disjoint rows.
    const r = await this.pool.query<OutboxRow>(
      "UPDATE notify_outbox SET owner = $1, lease_until_ms = $3 WHERE id IN (SELECT id FROM notify_outbox WHERE lease_until_ms < $2 ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) RETURNING id, target, event",
      [owner, nowMs, leaseUntilMs, limit],
    );
    return r.rows.sort((a, b) => a.id - b.id);
  }

  async rebootLeases(): Promise<RebootLease[]> {
    return (await this.pool.query<LeaseRow>("SELECT host, generation, acquired_ms, expires_ms, booted FROM reboot_leases ORDER BY host")).rows.map(leaseOf);
  }

  async putRebootLease(l: RebootLease): Promise<void> {
    await this.pool.query(
      "INSERT INTO reboot_leases (host, generation, acquired_ms, expires_ms, booted) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (host) DO UPDATE SET generation = excluded.generation, acquired_ms = excluded.acquired_ms, expires_ms = excluded.expires_ms, booted = excluded.booted",
      [l.host, l.generation, l.acquiredMs, l.expiresMs, l.booted],
    );
  }

  async deleteRebootLease(host: string): Promise<boolean> {
    return (await this.pool.query("DELETE FROM reboot_leases WHERE host = $1", [host])).rowCount === 1;
  }

  async hostLogs(host: string, q: HostLogQuery): Promise<HostLogRecord[]> {
    const rows = await this.pool.query<HostLogRow>(
      `SELECT ${HOST_LOG_COLUMNS} FROM host_logs WHERE host = $1 ${q.rev ? "AND rev LIKE $3" : ""} ORDER BY seq DESC LIMIT $2`,
      [host, q.limit, ...(q.rev ? [`${q.rev}%`] : [])],
    );
    return rows.rows.map(rowToHostLog);
  }

  async getMeta(key: string): Promise<string | null> {
    return (await this.pool.query<{ value: string }>("SELECT value FROM meta WHERE key = $1", [key])).rows[0]?.value ?? null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.pool.query("INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value", [key, value]);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
