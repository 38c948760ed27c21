/**
 * The notifier: `emit(event)` queues an event for every target that wants
 * it and returns at once; it never blocks its caller and never throws. Each
 * target has its own bounded queue and one worker that delivers in order
 * (the next event waits until the one before it was delivered or dropped),
 * retrying a failed request with exponential backoff up to `maxAttempts`.
 * Nothing is dropped silently: a full queue drops its oldest waiting event,
 * a notification that used up its attempts is dropped — each counted
 * (hooks → metrics) and logged.
 *
 * With an outbox (the store's notify_outbox table), every queued event is
 * also written there, leased to this controller, and deleted once delivered
 * or given up; what is still queued at shutdown stays there with its lease
 * released, and the next start (or another controller on the same
 * PostgreSQL database, on its next claim) delivers it. A controller that
 * dies keeps its lease until it runs out (LEASE_MS); then it is claimed the
 * same way. Delivery is therefore at least once: receivers deduplicate by
 * the event id.
 *
 * Logs name the target, never its URL or secret (a Slack URL is a secret).
 */
import type { Logger } from "../../../common/src/log.js";
import { requestBody, requestHeaders } from "./format.js";
import type { Store } from "../store/types.js";
import type { NotifyEvent, NotifyEventKind, NotifyOptions, NotifyTargetOptions } from "./types.js";

/** How long a controller's claim on its outbox rows lasts without renewal; renewed every third of it. */
export const LEASE_MS = 60_000;
/** How often orphaned outbox rows (a stopped or dead controller's) are looked for. */
export const CLAIM_INTERVAL_MS = 10_000;

export interface NotifyOutbox {
  store: Pick<Store, "outboxAdd" | "outboxRemove" | "outboxRenew" | "outboxClaim">;
  /** This controller's id (the lease holder). */
  owner: string;
}

export type DropReason = "queue-full" | "attempts" | "shutdown" | "unconfigured";

export interface NotifierHooks {
  delivered?(target: string, kind: NotifyEventKind): void;
  failedAttempt?(target: string, kind: NotifyEventKind): void;
  dropped?(target: string, kind: NotifyEventKind, reason: DropReason): void;
}

export interface NotifierDeps {
  options: NotifyOptions;
  log: Logger;
  /** Jitter source (0 ≤ x < 1). */
  random?: () => number;
  /** Persist the queues (absent: memory only; what is queued at shutdown is dropped, counted and logged). */
  outbox?: NotifyOutbox | null;
  now?: () => number;
}

interface Item {
  event: NotifyEvent;
  /** Its outbox row id once written (null: not persisted). */
  row: Promise<number | null>;
}

interface TargetQueue {
  target: NotifyTargetOptions;
  waiting: Item[];
  /** Being delivered (or waiting for its next attempt). */
  active: Item | null;
  worker: Promise<void> | null;
}

export class Notifier {
  hooks: NotifierHooks = {};
  private readonly queues: TargetQueue[];
  private readonly abort = new AbortController();
  private closed = false;
  private idleWaiters: (() => void)[] = [];
  private pendingRows: { target: string; event: NotifyEvent; resolve: (id: number | null) => void }[] = [];
  private flushing: Promise<void> | null = null;
  private timers: NodeJS.Timeout[] = [];
  private claiming: Promise<void> | null = null;
  private readonly now: () => number;

  constructor(private readonly deps: NotifierDeps) {
    this.queues = deps.options.targets.map((target) => ({ target, waiting: [], active: null, worker: null }));
    this.now = deps.now ?? Date.now;
  }

  /** With an outbox: takes over what a previous run (or a dead peer) left undelivered, then keeps looking and renews its lease. */
  async start(): Promise<void> {
    if (!this.deps.outbox) return;
    await this.claim();
    const claimTimer = setInterval(() => void this.claim(), CLAIM_INTERVAL_MS);
    const renewTimer = setInterval(() => {
      this.deps.outbox!.store.outboxRenew(this.deps.outbox!.owner, this.now() + LEASE_MS).catch((e) => this.deps.log.warn("renewing the notification outbox lease failed", { error: (e as Error).message }));
    }, LEASE_MS / 3);
    claimTimer.unref();
    renewTimer.unref();
    this.timers.push(claimTimer, renewTimer);
  }

  /** Queues outbox rows whose lease ran out. */
  claim(): Promise<void> {
    const ob = this.deps.outbox;
    if (!ob || this.closed) return Promise.resolve();
    if (this.claiming) return this.claiming;
    this.claiming = (async () => {
      try {
        const now = this.now();
        const rows = await ob.store.outboxClaim(ob.owner, now, now + LEASE_MS, this.deps.options.queueSize * this.queues.length);
        const gone: number[] = [];
        for (const r of rows) {
          const q = this.queues.find((x) => x.target.name === r.target);
          let event: NotifyEvent;
          try {
            event = JSON.parse(r.event) as NotifyEvent;
          } catch {
            event = { id: `outbox-${r.id}`, kind: "rollout-halted", rev: null, subject: null, hosts: [], reason: "unreadable outbox row", time: new Date(now).toISOString(), url: null };
            this.deps.log.warn("notification dropped", { target: r.target, id: event.id, reason: "its outbox row is not valid JSON" });
            gone.push(r.id);
            continue;
          }
          if (!q || !accepts(q.target, event.kind)) {
            this.deps.log.warn("notification dropped", { target: r.target, kind: event.kind, id: event.id, reason: "the target is no longer configured (or no longer takes this kind)" });
            this.hooks.dropped?.(r.target, event.kind, "unconfigured");
            gone.push(r.id);
            continue;
          }
          this.enqueue(q, { event, row: Promise.resolve(r.id) });
        }
        if (rows.length) this.deps.log.info("resuming notifications from the outbox", { count: rows.length - gone.length });
        await ob.store.outboxRemove(gone);
      } catch (e) {
        this.deps.log.warn("claiming notifications from the outbox failed", { error: (e as Error).message });
      } finally {
        this.claiming = null;
      }
    })();
    return this.claiming;
  }

  /** Does any target take this kind? (Callers skip building events nobody wants.) */
  wants(kind: NotifyEventKind): boolean {
    return this.queues.some((q) => accepts(q.target, kind));
  }

  /** Queues `event` for every target that wants it. Never blocks, never throws. */
  emit(event: NotifyEvent): void {
    try {
      for (const q of this.queues) {
        if (!accepts(q.target, event.kind)) continue;
        const item: Item = { event, row: Promise.resolve(null) };
        if (this.closed) {
          this.drop(q, item, "shutdown");
          continue;
        }
        item.row = this.persist(q.target.name, event);
        this.enqueue(q, item);
      }
    } catch (e) {
      try {
        this.deps.log.error("notification not queued", { kind: event?.kind, error: (e as Error)?.message });
      } catch {
        // a logger that throws must not reach the caller either
      }
    }
  }

  private enqueue(q: TargetQueue, item: Item): void {
    if (q.waiting.length >= this.deps.options.queueSize) this.drop(q, q.waiting.shift()!, "queue-full");
    q.waiting.push(item);
    if (!q.worker) q.worker = this.drain(q);
  }

  /** Writes the event to the outbox in the next batch; resolves to its row id (null without an outbox or when the write failed). */
  private persist(target: string, event: NotifyEvent): Promise<number | null> {
    if (!this.deps.outbox) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.pendingRows.push({ target, event, resolve });
      if (this.pendingRows.length === 1) setImmediate(() => void this.flushRows());
    });
  }

  private async flushRows(): Promise<void> {
    const ob = this.deps.outbox!;
    const batch = this.pendingRows.splice(0);
    if (batch.length === 0) return;
    const run = (async () => {
      try {
        const now = this.now();
        const ids = await ob.store.outboxAdd(batch.map((b) => ({ target: b.target, event: JSON.stringify(b.event) })), ob.owner, now, now + LEASE_MS);
        batch.forEach((b, i) => b.resolve(ids[i] ?? null));
      } catch (e) {
        this.deps.log.warn("notifications not persisted (delivered from memory only)", { count: batch.length, error: (e as Error).message });
        for (const b of batch) b.resolve(null);
      }
    })();
    this.flushing = run;
    await run;
    if (this.flushing === run) this.flushing = null;
  }

  /** Delivered or given up: its outbox row goes. */
  private forget(item: Item): void {
    const ob = this.deps.outbox;
    if (!ob) return;
    void item.row
      .then((id) => (id === null ? undefined : ob.store.outboxRemove([id])))
      .catch((e) => this.deps.log.warn("removing a notification from the outbox failed (it may be sent again)", { id: item.event.id, error: (e as Error).message }));
  }

  /** Events waiting or in delivery, per target name. */
  pending(): Record<string, number> {
    return Object.fromEntries(this.queues.map((q) => [q.target.name, q.waiting.length + (q.active ? 1 : 0)]));
  }

  /** Resolves when every queue is empty. */
  idle(): Promise<void> {
    if (this.queues.every((q) => !q.worker)) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /**
   * Gives the queues up to `graceMs` to drain, then cancels what is in
   * flight. What was not delivered stays in the outbox, its lease released
   * for the next start; without an outbox (or where writing it failed) it
   * is dropped, counted and logged (docs/controller.md §7, "Restarts").
   */
  async stop(graceMs = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    for (const t of this.timers) clearInterval(t);
    this.closed = true;
    this.abort.abort();
    await this.claiming;
    await Promise.allSettled(this.queues.map((q) => q.worker));
    while (this.flushing) await this.flushing;
    await Promise.all(this.shutdownDrops);
    const ob = this.deps.outbox;
    if (ob) {
      if (this.kept > 0) this.deps.log.info("undelivered notifications left in the outbox for the next start", { count: this.kept });
      await ob.store.outboxRenew(ob.owner, 0).catch((e) => this.deps.log.warn("releasing the notification outbox lease failed (the next start waits for it to run out)", { error: (e as Error).message }));
    }
  }

  private kept = 0;
  private readonly shutdownDrops: Promise<void>[] = [];

  private drop(q: TargetQueue, item: Item, reason: DropReason): void {
    const e = item.event;
    if (reason === "shutdown" && this.deps.outbox) {
      // Kept if it was written; counted as dropped only if it was not.
      this.shutdownDrops.push(
        item.row.then((id) => {
          if (id !== null) this.kept++;
          else this.dropNow(q, e, reason);
        }),
      );
      return;
    }
    this.dropNow(q, e, reason);
    this.forget(item);
  }

  private dropNow(q: TargetQueue, e: NotifyEvent, reason: DropReason): void {
    this.deps.log.warn("notification dropped", { target: q.target.name, kind: e.kind, rev: e.rev?.slice(0, 12) ?? null, hosts: e.hosts.slice(0, 5).join(","), id: e.id, reason: DROP_TEXT[reason] });
    this.hooks.dropped?.(q.target.name, e.kind, reason);
  }

  private async drain(q: TargetQueue): Promise<void> {
    try {
      for (let e = q.waiting.shift(); e; e = q.waiting.shift()) {
        q.active = e;
        if (this.closed) this.drop(q, e, "shutdown");
        else await this.deliver(q, e);
        q.active = null;
      }
    } catch (err) {
      this.deps.log.error("notification worker failed", { target: q.target.name, error: (err as Error).message });
    } finally {
      q.active = null;
      q.worker = null;
      // An emit() after the loop's last shift but before this point would be stranded: restart.
      if (q.waiting.length) q.worker = this.drain(q);
      else if (this.queues.every((x) => !x.worker)) for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  /** Delivers one event, retrying with backoff; resolves when it was delivered or dropped. */
  private async deliver(q: TargetQueue, item: Item): Promise<void> {
    const e = item.event;
    const { maxAttempts } = this.deps.options;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) return this.drop(q, item, "shutdown");
      const error = await this.post(q.target, e);
      if (error === null) {
        this.deps.log.debug("notification delivered", { target: q.target.name, kind: e.kind, id: e.id, attempt });
        this.hooks.delivered?.(q.target.name, e.kind);
        this.forget(item);
        return;
      }
      if (this.closed) return this.drop(q, item, "shutdown");
      this.hooks.failedAttempt?.(q.target.name, e.kind);
      const last = attempt >= maxAttempts;
      const delayMs = last ? 0 : this.backoffMs(attempt);
      this.deps.log.warn("notification delivery failed", { target: q.target.name, kind: e.kind, id: e.id, attempt, maxAttempts, error, ...(last ? {} : { retryInMs: delayMs }) });
      if (last) return this.drop(q, item, "attempts");
      await sleep(delayMs, this.abort.signal);
    }
  }

  /** One POST; null when the target answered 2xx, else why not (URL and secret redacted). */
  private async post(t: NotifyTargetOptions, e: NotifyEvent): Promise<string | null> {
    try {
      const body = requestBody(t, e);
      const res = await fetch(t.url, {
        method: "POST",
        headers: requestHeaders(t, e, body),
        body,
        redirect: "manual",
        signal: AbortSignal.any([this.abort.signal, AbortSignal.timeout(t.timeoutMs)]),
      });
      await res.body?.cancel().catch(() => undefined);
      return res.status >= 200 && res.status < 300 ? null : `HTTP ${res.status}`;
    } catch (err) {
      return redact(describe(err), t);
    }
  }

  private backoffMs(attempt: number): number {
    const min = this.deps.options.minBackoffMs ?? 1_000;
    const base = Math.min(this.deps.options.maxBackoffMs, min * 2 ** Math.min(attempt - 1, 30));
    return Math.round(base * (1 + 0.2 * (this.deps.random ?? Math.random)()));
  }
}

const DROP_TEXT: Record<DropReason, string> = {
  "queue-full": "the target's queue is full (notify.queueSize); the oldest waiting notification is dropped",
  attempts: "every attempt failed (notify.maxAttempts)",
  shutdown: "the controller stopped before it was delivered",
  unconfigured: "its target is no longer configured",
};

function accepts(t: NotifyTargetOptions, kind: NotifyEventKind): boolean {
  return !t.events || t.events.includes(kind);
}

function describe(err: unknown): string {
  const e = err as Error & { cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError") return "timed out";
  if (e?.name === "AbortError") return "cancelled";
  const cause = e?.cause?.code ?? e?.cause?.message;
  return cause ? `${e.message}: ${cause}` : String(e?.message ?? err);
}

/** Error texts may quote the URL (which may hold a token) — never the secret, but be sure. */
function redact(text: string, t: NotifyTargetOptions): string {
  let out = text.split(t.url).join(`<${t.name} url>`);
  if (t.secret) out = out.split(t.secret).join("<secret>");
  return out;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}
