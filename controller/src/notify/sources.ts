/**
 * Where notifications come from: the coordinator hands over what it already
 * has (decisions it recorded, messages it stored, host states on its tick,
 * operator actions) and this module turns them into events for the
 * notifier. Every entry point returns at once and never throws: a commit
 * subject that needs a store read is looked up in the background.
 *
 * Exactly once across controllers: rollout events come only from decisions
 * this controller inserted (decisions are unique by rev, wave, state);
 * host-stalled only from messages this controller stored (a message is
 * stored once); host-stale episodes are claimed in the store's meta table
 * under the store's lock, keyed by the host's last-seen time.
 */
import { randomUUID } from "node:crypto";
import type { AgentMessage } from "../../../schemas/src/api.js";
import type { Fleet } from "../../../common/src/fleet/model.js";
import type { Logger } from "../../../common/src/log.js";
import { formatDuration } from "../../../schemas/src/duration.js";
import type { RolloutDecision } from "../rollout/decide.js";
import type { HostState } from "../store/host-state.js";
import type { CommitRecord, DecisionRecord, Store } from "../store/types.js";
import type { Notifier } from "./notifier.js";
import type { NotifyEvent, OperatorActionInfo } from "./types.js";

const MAX_SUBJECT = 100;
const MAX_REASON = 1000;
const MAX_HOSTS = 100;

/** "6m5s": whole seconds (a last-seen age to the millisecond reads badly). */
function formatDurationMs(ms: number): string {
  return formatDuration(Math.max(1000, Math.round(ms / 1000) * 1000));
}

export interface NotifySourcesDeps {
  notifier: Pick<Notifier, "emit" | "wants">;
  store: Pick<Store, "commit" | "withLock" | "getMeta" | "setMeta">;
  log: Logger;
  publicUrl: string | null;
}

function clip(s: string, n: number): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

export function dashboardLink(publicUrl: string | null, rev: string | null): string | null {
  if (!publicUrl) return null;
  const base = publicUrl.replace(/\/+$/, "");
  return rev ? `${base}/?rev=${rev}` : `${base}/`;
}

function base(publicUrl: string | null, rev: string | null, subject: string | null): Pick<NotifyEvent, "id" | "rev" | "subject" | "url"> {
  return { id: randomUUID(), rev, subject: subject === null ? null : clip(subject, MAX_SUBJECT), url: dashboardLink(publicUrl, rev) };
}

/** rollout-halted / rollout-complete for the rollout-level decisions among `inserted`. */
export function rolloutEvents(publicUrl: string | null, commit: CommitRecord, inserted: readonly DecisionRecord[], decision: RolloutDecision): NotifyEvent[] {
  const out: NotifyEvent[] = [];
  for (const d of inserted) {
    if (d.wave !== "") continue;
    const time = new Date(d.effectiveMs).toISOString();
    if (d.state === "halted") {
      const failedWave = decision.waves.find((w) => w.failed.length > w.maxUnavailable);
      const hosts = [...new Set(decision.waves.flatMap((w) => w.failed))].slice(0, MAX_HOSTS);
      out.push({ ...base(publicUrl, commit.sha, commit.subject), kind: "rollout-halted", hosts, reason: clip(d.reason, MAX_REASON), time, ...(failedWave ? { wave: failedWave.name } : {}) });
    } else if (d.state === "complete") {
      out.push({ ...base(publicUrl, commit.sha, commit.subject), kind: "rollout-complete", hosts: [], reason: clip(`${d.reason}: ${decision.summary}`, MAX_REASON), time });
    }
  }
  return out;
}

/** host-stalled for each stored `rollbackFailed` event: the host needs a human. */
export function stalledEvents(publicUrl: string | null, host: string, fresh: readonly AgentMessage[], subjectOf: (rev: string | null) => string | null = () => null): NotifyEvent[] {
  const out: NotifyEvent[] = [];
  for (const m of fresh) {
    if (m.type !== "event" || m.phase !== "rollbackFailed") continue;
    const why = m.error ? `${m.error.reason}: ${m.error.message}` : `${m.reason}${m.message ? `: ${m.message}` : ""}`;
    out.push({ ...base(publicUrl, m.rev, subjectOf(m.rev)), kind: "host-stalled", hosts: [host], reason: clip(`rollback failed (${why}); the host needs an operator`, MAX_REASON), time: m.time });
  }
  return out;
}

export function staleEvent(publicUrl: string | null, h: HostState, unreachableAfterMs: number, now: number, subject: string | null): NotifyEvent {
  return {
    ...base(publicUrl, h.currentRev, subject),
    kind: "host-stale",
    hosts: [h.host],
    reason: `no report or heartbeat for ${formatDurationMs(now - h.lastSeenMs)} (policy.unreachableAfter ${formatDurationMs(unreachableAfterMs)})`,
    time: new Date(h.lastSeenMs + unreachableAfterMs).toISOString(),
  };
}

export function operatorActionEvent(publicUrl: string | null, a: OperatorActionInfo, subject: string | null = null): NotifyEvent {
  const what = [a.action, a.wave ? `wave ${a.wave}` : null, a.host ? `host ${a.host}` : null].filter(Boolean).join(" ");
  return {
    ...base(publicUrl, a.rev ?? null, subject),
    kind: "operator-action",
    hosts: a.host ? [a.host] : [],
    reason: clip(`${a.actor}: ${what}: ${a.reason}`, MAX_REASON),
    time: a.time,
    ...(a.wave ? { wave: a.wave } : {}),
    action: a,
  };
}

export class NotifySources {
  /** host → last-seen time of the staleness episode already handled by this process. */
  private readonly staleSeen = new Map<string, number>();
  private checkingStale = false;
  /**
   * Background work (subject lookups, stale claims) runs one step at a time
   * in call order, so events reach the notifier in the order they happened.
   */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: NotifySourcesDeps) {}

  /** Called with the decisions this controller inserted (inside the rollout's lock: no I/O here). */
  rolloutDecided(commit: CommitRecord, inserted: readonly DecisionRecord[], decision: RolloutDecision): void {
    this.guard("rollout", () => {
      if (!this.deps.notifier.wants("rollout-halted") && !this.deps.notifier.wants("rollout-complete")) return;
      const events = rolloutEvents(this.deps.publicUrl, commit, inserted, decision);
      this.later("rollout", () => events.forEach((e) => this.deps.notifier.emit(e)));
    });
  }

  /** Called with the messages one ingest stored (not the duplicates). */
  ingested(host: string, fresh: readonly AgentMessage[]): void {
    this.guard("ingest", () => {
      if (!this.deps.notifier.wants("host-stalled")) return;
      if (!fresh.some((m) => m.type === "event" && m.phase === "rollbackFailed")) return;
      this.later("ingest", async () => {
        const subjectOf = await this.withSubjects(fresh.map((m) => (m.type === "event" ? m.rev : null)));
        for (const e of stalledEvents(this.deps.publicUrl, host, fresh, subjectOf)) this.deps.notifier.emit(e);
      });
    });
  }

  /** Called on the periodic tick: notifies each host that went stale, once per episode. */
  hostsChecked(hosts: readonly HostState[], fleet: Fleet | null, now: number): void {
    this.guard("stale", () => {
      if (!fleet || this.checkingStale || !this.deps.notifier.wants("host-stale")) return;
      const after = fleet.policy.unreachableAfterMs;
      const inFleet = new Set(fleet.hosts.map((h) => h.name));
      const fresh: HostState[] = [];
      for (const h of hosts) {
        if (!inFleet.has(h.host) || h.lastSeenMs <= 0) continue; // never heard of: not an episode
        if (now - h.lastSeenMs <= after) this.staleSeen.delete(h.host);
        else if (this.staleSeen.get(h.host) !== h.lastSeenMs) fresh.push(h);
      }
      if (fresh.length === 0) return;
      this.checkingStale = true;
      this.later("stale", () => this.claimStale(fresh, after, now).finally(() => (this.checkingStale = false)));
    });
  }

  /** For the operator-action hook (wired where the actions are recorded). */
  operatorAction(a: OperatorActionInfo): void {
    this.guard("operator-action", () => {
      if (!this.deps.notifier.wants("operator-action")) return;
      this.later("operator-action", async () => {
        const subjectOf = await this.withSubjects([a.rev ?? null]);
        this.deps.notifier.emit(operatorActionEvent(this.deps.publicUrl, a, subjectOf(a.rev ?? null)));
      });
    });
  }

  private async claimStale(hosts: HostState[], after: number, now: number): Promise<void> {
    try {
      for (const h of hosts) {
        const key = `notify.stale.${h.host}`;
        const value = String(h.lastSeenMs);
        // One controller per episode, across restarts: the claim is in the database.
        const claimed = await this.deps.store.withLock("notify:stale", async () => {
          if ((await this.deps.store.getMeta(key)) === value) return false;
          await this.deps.store.setMeta(key, value);
          return true;
        });
        this.staleSeen.set(h.host, h.lastSeenMs);
        if (!claimed) continue;
        const subjectOf = await this.withSubjects([h.currentRev]);
        this.deps.notifier.emit(staleEvent(this.deps.publicUrl, h, after, now, subjectOf(h.currentRev)));
      }
    } catch (e) {
      // Not marked as seen: the next tick tries again.
      this.deps.log.warn("checking stale hosts for notifications failed", { error: (e as Error).message });
    }
  }

  /** Commit subjects of `revs` (null where unknown or the lookup fails: a notification without a subject beats none). */
  private async withSubjects(revs: readonly (string | null)[]): Promise<(rev: string | null) => string | null> {
    const subjects = new Map<string, string>();
    for (const rev of new Set(revs)) {
      if (!rev) continue;
      try {
        const c = await this.deps.store.commit(rev);
        if (c) subjects.set(rev, c.subject);
      } catch (e) {
        this.deps.log.debug("commit lookup for a notification failed", { rev: rev.slice(0, 12), error: (e as Error).message });
      }
    }
    return (rev) => (rev ? (subjects.get(rev) ?? null) : null);
  }

  /** Resolves when the background work queued so far is done (before the store closes). */
  async settle(): Promise<void> {
    for (let c = this.chain; ; c = this.chain) {
      await c;
      if (c === this.chain) return;
    }
  }

  private later(what: string, fn: () => Promise<void> | void): void {
    this.chain = this.chain.then(fn).catch((e) => this.deps.log.error("building a notification failed", { source: what, error: (e as Error).message }));
  }

  private guard(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      try {
        this.deps.log.error("building a notification failed", { source: what, error: (e as Error).message });
      } catch {
        // never reach the caller
      }
    }
  }
}
