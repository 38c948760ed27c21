/**
 * The notifier: `emit(event)` queues an event for every target that wants
 * it and returns at once; it never blocks its caller and never throws. Each
 * target has its own bounded queue and one worker that delivers in order
 * (the next event waits until the one before it was delivered or dropped),
 * retrying a failed request with exponential backoff up to `maxAttempts`.
 * Nothing is dropped silently: a full queue drops its oldest waiting event,
 * a notification that used up its attempts is dropped, and so is what is
 * still queued at shutdown — each counted (hooks → metrics) and logged.
 * Logs name the target, never its URL or secret (a Slack URL is a secret).
 */
import type { Logger } from "../../../common/src/log.js";
import { requestBody, requestHeaders } from "./format.js";
import type { NotifyEvent, NotifyEventKind, NotifyOptions, NotifyTargetOptions } from "./types.js";

export type DropReason = "queue-full" | "attempts" | "shutdown";

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
}

interface TargetQueue {
  target: NotifyTargetOptions;
  waiting: NotifyEvent[];
  /** Being delivered (or waiting for its next attempt). */
  active: NotifyEvent | null;
  worker: Promise<void> | null;
}

export class Notifier {
  hooks: NotifierHooks = {};
  private readonly queues: TargetQueue[];
  private readonly abort = new AbortController();
  private closed = false;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly deps: NotifierDeps) {
    this.queues = deps.options.targets.map((target) => ({ target, waiting: [], active: null, worker: null }));
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
        if (this.closed) {
          this.drop(q, event, "shutdown");
          continue;
        }
        if (q.waiting.length >= this.deps.options.queueSize) this.drop(q, q.waiting.shift()!, "queue-full");
        q.waiting.push(event);
        if (!q.worker) q.worker = this.drain(q);
      }
    } catch (e) {
      try {
        this.deps.log.error("notification not queued", { kind: event?.kind, error: (e as Error)?.message });
      } catch {
        // a logger that throws must not reach the caller either
      }
    }
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
   * flight and drops (counts and logs) what was not delivered: notifications
   * live in memory only (docs/controller.md §7, "Restarts").
   */
  async stop(graceMs = 2_000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.idle(), new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    this.closed = true;
    this.abort.abort();
    await Promise.allSettled(this.queues.map((q) => q.worker));
  }

  private drop(q: TargetQueue, e: NotifyEvent, reason: DropReason): void {
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
  private async deliver(q: TargetQueue, e: NotifyEvent): Promise<void> {
    const { maxAttempts } = this.deps.options;
    for (let attempt = 1; ; attempt++) {
      if (this.closed) return this.drop(q, e, "shutdown");
      const error = await this.post(q.target, e);
      if (error === null) {
        this.deps.log.debug("notification delivered", { target: q.target.name, kind: e.kind, id: e.id, attempt });
        this.hooks.delivered?.(q.target.name, e.kind);
        return;
      }
      if (this.closed) return this.drop(q, e, "shutdown");
      this.hooks.failedAttempt?.(q.target.name, e.kind);
      const last = attempt >= maxAttempts;
      const delayMs = last ? 0 : this.backoffMs(attempt);
      this.deps.log.warn("notification delivery failed", { target: q.target.name, kind: e.kind, id: e.id, attempt, maxAttempts, error, ...(last ? {} : { retryInMs: delayMs }) });
      if (last) return this.drop(q, e, "attempts");
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
