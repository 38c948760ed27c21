import { describe, expect, it } from "vitest";
import { MAX_TIMER_MS, timerDelay } from "../../../schemas/src/duration.js";
import { systemClock } from "./clock.js";

describe("systemClock.sleep", () => {
  it("sleeps (does not fire at once) for a delay beyond Node's timer limit, until aborted", async () => {
    // 25 days: Node would turn it into 1 ms (TimeoutOverflowWarning), so a poll loop would spin.
    const stop = new AbortController();
    let woke = false;
    const slept = systemClock.sleep(25 * 86_400_000, stop.signal).then(() => (woke = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(woke).toBe(false);
    stop.abort();
    await slept;
    expect(woke).toBe(true);
  });

  it("clamps timer delays to the largest Node accepts", () => {
    expect(timerDelay(25 * 86_400_000)).toBe(MAX_TIMER_MS);
    expect(timerDelay(Number.POSITIVE_INFINITY)).toBe(MAX_TIMER_MS);
    expect(timerDelay(Number.NaN)).toBe(0);
    expect(timerDelay(-5)).toBe(0);
    expect(timerDelay(1500)).toBe(1500);
  });
});
