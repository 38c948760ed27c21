/**
 * The controller's storage port: agent messages (idempotent by host+seq),
 * per-host state, commits seen on the branch, recorded rollout decisions.
 * Two implementations share one schema: SQLite (default) and PostgreSQL.
 */
import type { RebootLease } from "../reboot/semaphore.js";
import type { AgentMessage, OperatorActionKind, StepLog } from "../../../schemas/src/api.js";
import type { ObservedEvent } from "../rollout/decide.js";
import type { ActionFact } from "../rollout/operator.js";
import type { HostState } from "./host-state.js";

export interface NewMessage {
  host: string;
  seq: number;
  type: "event" | "heartbeat";
  timeMs: number;
  receivedMs: number;
  rev: string | null;
  phase: string;
  outcome: string | null;
  reason: string | null;
  generation: string | null;
  payload: string;
  sig: string;
  /** For events: does it prove the host healthy on `rev`, or failed it (rollout/decide.ts rules)? */
  /** pendingReboot: operation boot, staged for the next boot and not verified (healthy only where the wave accepts it). */
  verdict: "healthy" | "failed" | "pendingReboot" | null;
  message: AgentMessage;
  /** An event's output tail, stored apart from `payload` (which then holds the signed payload minus `log`). */
  log?: StepLog;
}

/** One stored output tail (GET /api/v1/hosts/{host}/logs). */
export interface HostLogRecord {
  host: string;
  seq: number;
  timeMs: number;
  rev: string | null;
  phase: string;
  outcome: string;
  step: string;
  text: string;
  truncated: boolean;
}

export interface HostLogQuery {
  /** A full revision or a hex prefix of one. */
  rev?: string;
  /** The newest this many (newest first). */
  limit: number;
}

export interface StoreOptions {
  /** Output tails kept per host (the newest); default DEFAULT_LOG_TAILS_PER_HOST; 0 keeps none. */
  logTailsPerHost?: number | undefined;
}

export const DEFAULT_LOG_TAILS_PER_HOST = 50;

export interface AppendResult {
  accepted: number;
  duplicates: number;
  lastSeq: number;
}

export interface PullRequestInfo {
  number: number;
  title: string;
  author: string | null;
  mergedBy: string | null;
  url: string | null;
}

export interface CommitRecord {
  sha: string;
  /** Order of first observation on the branch (increasing). */
  position: number;
  observedMs: number;
  author: string;
  authorEmail: string;
  committer: string;
  timeMs: number;
  subject: string;
  parents: string[];
  /** Why the fleet file at this commit is unusable, if it is. */
  fleetError: string | null;
  pr: PullRequestInfo | null;
}

export interface DecisionRecord {
  id: number;
  rev: string;
  wave: string;
  state: string;
  effectiveMs: number;
  recordedMs: number;
  reason: string;
  controller: string;
}

export type NewDecisionRecord = Omit<DecisionRecord, "id">;

/** An operator action as stored (operator_actions): the fact the rollout engine reads. */
export type ActionRecord = ActionFact;

export type NewActionRecord = Omit<ActionRecord, "id">;

export interface ActionQuery {
  host?: string;
  rev?: string;
  /** Only these kinds. */
  actions?: readonly OperatorActionKind[];
  sinceMs?: number;
  /** The newest this many (newest first). Default 10,000. */
  limit?: number;
}

export interface StoredEvent {
  host: string;
  seq: number;
  timeMs: number;
  receivedMs: number;
  payload: string;
}

/** A notification waiting in the outbox (notify/outbox.ts). */
export interface OutboxRow {
  id: number;
  target: string;
  /** The NotifyEvent as JSON. */
  event: string;
}

export interface AuditQuery {
  sinceMs?: number;
  host?: string;
  /** The newest this many rows (auditEvents and auditDecisions return newest first). Default 10,000. */
  limit?: number;
}

export interface Store {
  readonly kind: "sqlite" | "postgres";
  migrate(): Promise<number>;
  /**
   * Stores one host's messages (ascending seq) atomically. Messages at or
   * below the host's last seq are duplicates when identical, else the whole
   * call fails with SeqConflictError and nothing is stored.
   */
  appendMessages(host: string, msgs: NewMessage[], receivedMs: number): Promise<AppendResult>;
  hostStates(): Promise<HostState[]>;
  hostState(host: string): Promise<HostState | null>;
  /**
   * Per host (ordered by name): last stored seq and controller receive time
   * of its latest message. What gating needs of host state, and the version
   * of each host's state row, so callers re-parse only rows that changed.
   */
  hostVersions(): Promise<Map<string, { lastSeq: number; lastSeenMs: number }>>;
  /** The state rows of these hosts (any order). */
  hostStatesOf(hosts: readonly string[]): Promise<HostState[]>;
  /**
   * What gating needs of the events about `rev`: per host, the first event
   * that proved it healthy on rev and the first that failed it (at most two
   * per host), as ObservedEvents; decide() gives the same answer on these
   * as on the full history.
   */
  eventsForRev(rev: string): Promise<ObservedEvent[]>;
  auditEvents(q: AuditQuery): Promise<StoredEvent[]>;
  recordCommit(c: Omit<CommitRecord, "position">): Promise<CommitRecord>;
  setCommitPr(sha: string, pr: PullRequestInfo): Promise<void>;
  commit(sha: string): Promise<CommitRecord | null>;
  commits(limit: number): Promise<CommitRecord[]>;
  /** Inserts decisions not yet recorded (unique by rev, wave, state); returns the ones this call inserted. */
  recordDecisions(ds: NewDecisionRecord[]): Promise<DecisionRecord[]>;
  decisions(rev: string): Promise<DecisionRecord[]>;
  auditDecisions(q: AuditQuery): Promise<DecisionRecord[]>;
  /** Runs fn while holding a lock shared by every controller using this database. */
  withLock<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /**
   * Records that `host` used `nonce` for a gate question, kept until
   * `expiresMs` (when the question's time leaves the accepted window). False
   * when that nonce was already recorded: a replay.
   */
  claimNonce(host: string, nonce: string, expiresMs: number): Promise<boolean>;
  /** Forgets nonces whose window closed before `nowMs`; returns how many. */
  pruneNonces(nowMs: number): Promise<number>;
  /** Stores an operator action; returns it with its id (ids increase). */
  recordAction(a: NewActionRecord): Promise<ActionRecord>;
  /** Operator actions matching `q`, newest first (by id). */
  actions(q: ActionQuery): Promise<ActionRecord[]>;
  /** Recorded commits whose sha starts with `prefix` (at most `limit`). */
  commitsByPrefix(prefix: string, limit: number): Promise<CommitRecord[]>;
  /** Stores notifications to deliver, leased to `owner` until `leaseUntilMs`; returns their ids in order. */
  outboxAdd(rows: readonly { target: string; event: string }[], owner: string, nowMs: number, leaseUntilMs: number): Promise<number[]>;
  /** Forgets delivered (or given up) notifications. */
  outboxRemove(ids: readonly number[]): Promise<void>;
  /** Extends (or, with 0, releases) the lease on every row `owner` holds. */
  outboxRenew(owner: string, leaseUntilMs: number): Promise<void>;
  /** Takes over up to `limit` rows whose lease ran out before `nowMs` (a stopped or dead controller's), oldest first. */
  outboxClaim(owner: string, nowMs: number, leaseUntilMs: number, limit: number): Promise<OutboxRow[]>;
  /** The host's stored output tails, newest first (see StoreOptions.logTailsPerHost for how many are kept). */
  hostLogs(host: string, q: HostLogQuery): Promise<HostLogRecord[]>;
  getMeta(key: string): Promise<string | null>;
  setMeta(key: string, value: string): Promise<void>;
  /** Reboot leases (controller/src/reboot/semaphore.ts); read and changed under withLock("reboot-leases"). */
  rebootLeases(): Promise<RebootLease[]>;
  /** Inserts or replaces the host's lease. */
  putRebootLease(lease: RebootLease): Promise<void>;
  /** Ends the host's lease; false when it held none. */
  deleteRebootLease(host: string): Promise<boolean>;
  close(): Promise<void>;
}

export class StoreError extends Error {
  override name = "StoreError";
}

/** A seq at or below the host's last stored seq that is not an identical retry. */
export class SeqConflictError extends Error {
  override name = "SeqConflictError";
  constructor(
    readonly index: number,
    readonly seq: number,
    readonly lastSeq: number,
    message: string,
  ) {
    super(message);
  }
}
