/**
 * Long-poll waiters (GET /api/v1/watch): one small record per waiting agent,
 * woken when the branch head moves or when the host's wave gate opens. Kept
 * deliberately cheap: 10,000 waiting agents are one Map entry and one timer each.
 */
import type { Nudge } from "../../../schemas/src/api.js";
import { timerDelay } from "../../../schemas/src/duration.js";

interface Waiter {
  host: string;
  since: string | null;
  resolve: (n: Nudge) => void;
  timer: NodeJS.Timeout;
}

export class WatchHub {
  private readonly waiters = new Set<Waiter>();
  /** The newest head announced to the hub (it may run ahead of the follower's recorded head). */
  private latest: string | null = null;

  constructor(private readonly recordedHead: () => string | null) {}

  private head(): string | null {
    return this.latest ?? this.recordedHead();
  }

  get size(): number {
    return this.waiters.size;
  }

  wait(host: string, since: string | null, timeoutMs: number, signal?: AbortSignal): Promise<Nudge> {
    const head = this.head();
    if (head && head !== since) return Promise.resolve({ head, changed: true });
    return new Promise((resolve) => {
      const done = (n: Nudge) => {
        clearTimeout(w.timer);
        this.waiters.delete(w);
        resolve(n);
      };
      const settle = () => {
        const h = this.head();
        done({ head: h, changed: h !== null && h !== since });
      };
      const w: Waiter = { host, since, resolve: done, timer: setTimeout(settle, timerDelay(timeoutMs)) };
      this.waiters.add(w);
      signal?.addEventListener("abort", settle, { once: true });
    });
  }

  /**
   * The head moved: wake the waiters whose `since` differs and whom `wake`
   * selects (default: all). The others learn of the head when their wave
   * opens (gateChanged) or when their long-poll times out, which spreads
   * their fetches instead of a thundering herd of gate questions.
   */
  headChanged(head: string, wake?: (host: string) => boolean): number {
    this.latest = head;
    let n = 0;
    for (const w of [...this.waiters]) if (w.since !== head && (!wake || wake(w.host))) (w.resolve({ head, changed: true }), n++);
    return n;
  }

  /** A wave opened: wake its hosts so they ask the gate again now. */
  gateChanged(hosts: ReadonlySet<string>): number {
    let n = 0;
    for (const w of [...this.waiters]) if (hosts.has(w.host)) (w.resolve({ head: this.head(), changed: true, gate: true }), n++);
    return n;
  }

  closeAll(): void {
    for (const w of [...this.waiters]) w.resolve({ head: this.head(), changed: false });
  }
}
