/**
 * Nudges: keeps one long-poll open to the controller (the Watch port) and cuts
 * the daemon's sleep between polls short when the controller has seen a new
 * head or this host's wave gate opened, so a merge reaches a canary within
 * about a second instead of a poll interval. The interval poll with jitter
 * stays the fallback: a nudge only ever shortens a sleep, and a controller
 * outage only means the agent polls on its interval, as it did before.
 *
 * Never a spin, whatever the controller answers:
 *  - the next long-poll waits "since" the head the controller last named, not
 *    the agent's own (the two may differ for good reasons: another remote, a
 *    controller that lags), so each controller head wakes the loop once;
 *  - long-polls start at least `minGapMs` apart, even when answered at once;
 *  - failures (refused, HTTP errors, answers that are not a Nudge) back off
 *    exponentially with jitter, up to `maxBackoffMs`.
 * A wake for a new head is spread over `spreadMs` so that a large fleet does
 * not reach the git remote in the same instant; a gate wake (only that wave's
 * hosts get one) is immediate.
 */
import type { Logger } from "../../../common/src/log.js";
import type { Nudge, RetryDirective } from "../../../schemas/src/api.js";
import type { Clock, Watch } from "../ports.js";

export interface NudgesOptions {
  watch: Watch;
  clock: Clock;
  log: Logger;
  /** The long-poll asked of the controller (which caps it, at 60 s by default). Default 30 s. */
  timeoutMs?: number;
  /** Least time between the starts of two long-polls. Default 1 s. */
  minGapMs?: number;
  /** Backoff after failures: 1 s, 2 s, 4 s… up to this. Default 60 s. */
  maxBackoffMs?: number;
  /** A head nudge wakes the loop after a random delay below this. Default 500 ms. */
  spreadMs?: number;
  /** With no controller configured, look again this often. Default 60 s. */
  idleRecheckMs?: number;
  /** An operator retry directive arrived with a watch answer (the driver applies each id once). */
  onRetry?: (d: RetryDirective) => void;
  /** Has this directive been applied already? (then it does not wake the loop) */
  applied?: (id: number) => boolean;
}

/** A signal that aborts with `parent` or on `abort()`, detached from `parent` by `dispose()` (no listener left behind). */
function linked(parent: AbortSignal): { signal: AbortSignal; abort: () => void; dispose: () => void } {
  const ac = new AbortController();
  const abort = () => ac.abort();
  if (parent.aborted) ac.abort();
  else parent.addEventListener("abort", abort, { once: true });
  return { signal: ac.signal, abort, dispose: () => parent.removeEventListener("abort", abort) };
}

export class Nudges {
  private since: string | null = null;
  private sinceFromController = false;
  private pending = false;
  private wake: (() => void) | null = null;
  private failures = 0;

  constructor(private readonly o: NudgesOptions) {}

  /** The head the agent's last poll saw; the first long-poll waits from there. */
  known(head: string | null): void {
    if (head && !this.sinceFromController) this.since = head;
  }

  /** Follows the controller until `signal` aborts. Never throws: failures are logged and backed off. */
  async follow(signal: AbortSignal): Promise<void> {
    const { clock, log } = this.o;
    const minGap = this.o.minGapMs ?? 1_000;
    while (!signal.aborted) {
      const started = clock.now().getTime();
      let n: Nudge | null;
      try {
        n = await this.o.watch.wait(this.since, this.o.timeoutMs ?? 30_000, signal);
      } catch (e) {
        if (signal.aborted) return;
        this.failures++;
        const delay = this.backoff();
        // The first failure of an outage is worth a warning; the rest would flood the journal.
        log[this.failures === 1 ? "warn" : "debug"]("controller watch failed; polling on the interval meanwhile", {
          error: (e as Error).message,
          failures: this.failures,
          retryMs: delay,
        });
        await clock.sleep(delay, signal);
        continue;
      }
      if (n === null) {
        await clock.sleep(this.o.idleRecheckMs ?? 60_000, signal);
        continue;
      }
      if (this.failures) log.info("controller watch answering again", { after: this.failures });
      this.failures = 0;
      if (n.head) {
        this.since = n.head;
        this.sinceFromController = true;
      }
      const retry = n.retry && !this.o.applied?.(n.retry.id) ? n.retry : null;
      if (retry) {
        log.info("nudged: an operator retry", { id: retry.id, rev: retry.rev });
        this.o.onRetry?.(retry);
        this.fire();
      } else if (n.gate) {
        log.info("nudged: the wave gate opened, or an operator acted", { head: n.head });
        this.fire();
      } else if (n.changed) {
        log.info("nudged: the controller saw a new head", { head: n.head });
        const spread = Math.floor(clock.random() * (this.o.spreadMs ?? 500));
        if (spread > 0) void clock.sleep(spread, signal).then(() => this.fire());
        else this.fire();
      }
      const rest = minGap - (clock.now().getTime() - started);
      if (rest > 0) await clock.sleep(rest, signal);
    }
  }

  /** Sleeps `ms`, or less when a nudge arrives (or arrived while the last cycle ran). True when nudged. */
  async sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    if (!this.pending) {
      const l = linked(signal);
      this.wake = l.abort;
      try {
        await this.o.clock.sleep(ms, l.signal);
      } finally {
        this.wake = null;
        l.dispose();
      }
    }
    const nudged = this.pending;
    this.pending = false;
    return nudged;
  }

  private fire(): void {
    this.pending = true;
    this.wake?.();
  }

  private backoff(): number {
    const max = this.o.maxBackoffMs ?? 60_000;
    const base = Math.min(1_000 * 2 ** Math.min(this.failures - 1, 16), max);
    // Jitter in [base/2, base): controllers coming back are not hit by the whole fleet at once.
    return Math.floor(base / 2 + (this.o.clock.random() * base) / 2);
  }
}
