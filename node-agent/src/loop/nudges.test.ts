// Nudges on a manual clock and a scripted Watch: a nudge cuts the daemon's
// sleep short (also one that arrived while a cycle ran), each controller head
// wakes the loop once, and no answer (instant, failing, or none) makes the
// long-poll spin.
import { afterEach, describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import type { Nudge } from "../../../schemas/src/api.js";
import type { Clock, Watch } from "../ports.js";
import { Nudges } from "./nudges.js";

const A = "a".repeat(40);
const B = "b".repeat(40);
const C = "c".repeat(40);

/** Time moves only in advance(); sleeps resolve when their moment is reached (or their signal aborts). */
class ManualClock implements Clock {
  t = 0;
  private timers: { at: number; resolve: () => void }[] = [];
  now = () => new Date(this.t);
  random = () => 0;
  sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted || ms <= 0) return resolve();
      const onAbort = () => ((this.timers = this.timers.filter((x) => x !== timer)), resolve());
      const timer = { at: this.t + ms, resolve: () => (signal?.removeEventListener("abort", onAbort), resolve()) };
      this.timers.push(timer);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (;;) {
      const next = this.timers.filter((x) => x.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.timers = this.timers.filter((x) => x !== next);
      this.t = next.at;
      next.resolve();
      await settle();
    }
    this.t = end;
  }
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

/** A Watch whose answers the test gives, one per request. */
function scripted() {
  const calls: (string | null)[] = [];
  let answer: ((n: Nudge | Error) => void) | null = null;
  const watch: Watch = {
    wait: (since, _t, signal) => {
      calls.push(since);
      return new Promise((resolve, reject) => {
        answer = (n) => (n instanceof Error ? reject(n) : resolve(n));
        signal.addEventListener("abort", () => resolve({ head: null, changed: false }), { once: true });
      });
    },
  };
  return {
    watch,
    calls,
    async answer(n: Nudge | Error) {
      await settle();
      answer!(n);
      await settle();
    },
  };
}

const stops: AbortController[] = [];
afterEach(() => stops.splice(0).forEach((s) => s.abort()));

function setup(watch: Watch) {
  const clock = new ManualClock();
  const log = memoryLogger("watch");
  const stop = new AbortController();
  stops.push(stop);
  const nudges = new Nudges({ watch, clock, log, spreadMs: 0 });
  return { clock, log, stop, nudges };
}

describe("nudges", () => {
  it("wakes the sleeping loop when the controller sees a new head, then waits from that head", async () => {
    const w = scripted();
    const { clock, stop, nudges } = setup(w.watch);
    nudges.known(A);
    void nudges.follow(stop.signal);
    let woke: boolean | null = null;
    void nudges.sleep(60_000, stop.signal).then((n) => (woke = n));
    await w.answer({ head: B, changed: true });
    expect(woke).toBe(true);
    expect(clock.t).toBe(0);
    await clock.advance(1_000);
    expect(w.calls).toEqual([A, B]);
    // The agent's own head does not replace the controller's once it has named one.
    nudges.known(C);
    await w.answer({ head: B, changed: false });
    await clock.advance(1_000);
    expect(w.calls).toEqual([A, B, B]);
  });

  it("remembers a nudge that arrived while no one slept, and wakes at once for an open gate", async () => {
    const w = scripted();
    const { clock, stop, nudges } = setup(w.watch);
    nudges.known(A);
    void nudges.follow(stop.signal);
    await w.answer({ head: A, changed: true, gate: true });
    expect(await nudges.sleep(60_000, stop.signal)).toBe(true);
    // Consumed: the next sleep runs its full length.
    let done = false;
    void nudges.sleep(60_000, stop.signal).then(() => (done = true));
    await clock.advance(59_000);
    expect(done).toBe(false);
    await clock.advance(1_000);
    expect(done).toBe(true);
  });

  it("does not spin on a controller that answers at once: long-polls start at least a second apart", async () => {
    let calls = 0;
    const watch: Watch = { wait: async () => ({ head: String(++calls % 10).repeat(40), changed: true }) };
    const { clock, stop, nudges } = setup(watch);
    void nudges.follow(stop.signal);
    await clock.advance(10_000);
    expect(calls).toBeGreaterThanOrEqual(10);
    expect(calls).toBeLessThanOrEqual(11);
  });

  it("backs off exponentially while the controller fails, and resets when it answers again", async () => {
    let calls = 0;
    let failing = true;
    const watch: Watch = {
      wait: async () => {
        calls++;
        if (failing) throw new Error("connect ECONNREFUSED 127.0.0.1:1");
        return { head: A, changed: false };
      },
    };
    const { clock, log, stop, nudges } = setup(watch);
    void nudges.follow(stop.signal);
    // random() = 0: delays of 0.5, 1, 2, 4, 8, 16, 30 s (half of 1, 2, 4… s, at most 60 s):
    // attempts at 0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5 s, then at 61.5 s.
    await clock.advance(60_000);
    expect(calls).toBe(7);
    expect(log.lines.filter((l) => l.startsWith("warn"))).toHaveLength(1);
    failing = false;
    await clock.advance(30_000);
    const after = calls;
    await clock.advance(5_000);
    expect(calls - after).toBeGreaterThanOrEqual(4);
    expect(log.lines.some((l) => /controller watch answering again/.test(l))).toBe(true);
  });

  it("with no controller configured, looks again only now and then", async () => {
    let calls = 0;
    const watch: Watch = { wait: async () => (calls++, null) };
    const { clock, stop, nudges } = setup(watch);
    void nudges.follow(stop.signal);
    await clock.advance(120_000);
    expect(calls).toBe(3);
  });
});
