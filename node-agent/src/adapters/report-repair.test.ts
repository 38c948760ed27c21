import { describe, expect, it } from "vitest";
import { MIN_FIELD_CHARS, retimePayload, shrinkPayload, truncateText } from "./report-repair.js";

const event = (o: Record<string, unknown>) => JSON.stringify({ type: "event", host: "h", seq: 1, time: "2026-01-01T00:00:00.000Z", phase: "failed", outcome: "failed", reason: "BuildFailed", ...o });

describe("report repair", () => {
  it("truncates with a marker that keeps the original length across repeated cuts", () => {
    const once = truncateText("x".repeat(1000), 400);
    expect(once).toBe(`${"x".repeat(400)} … [truncated by flotilla-agent: 400 of 1000 characters kept]`);
    expect(truncateText(once, 200)).toBe(`${"x".repeat(200)} … [truncated by flotilla-agent: 200 of 1000 characters kept]`);
    expect(truncateText("short", 200)).toBe("short");
  });

  it("halves the longest free text of an event, never the fields that decide the verdict, down to a floor", () => {
    const health = [{ check: "a", ok: false, detail: "d".repeat(2000), time: "t", rev: "r", generation: "g" }];
    let p: string | null = event({ message: "m".repeat(8000), error: { reason: "BuildFailed", message: "e".repeat(300) }, health });
    const first = JSON.parse(shrinkPayload(p)!);
    expect(first.message).toMatch(/^m{4000} … \[truncated by flotilla-agent: 4000 of 8000 characters kept\]$/);
    expect(first.error).toEqual({ reason: "BuildFailed", message: "e".repeat(300) });
    expect(first.health[0]).toMatchObject({ check: "a", ok: false, detail: "d".repeat(2000) });
    let rounds = 0;
    for (let next = shrinkPayload(p); next; next = shrinkPayload(p)) {
      p = next;
      rounds++;
    }
    const last = JSON.parse(p);
    expect(rounds).toBeLessThan(10);
    expect(last).toMatchObject({ phase: "failed", outcome: "failed", reason: "BuildFailed" });
    expect(last.message.startsWith("m".repeat(MIN_FIELD_CHARS) + " … [truncated by flotilla-agent: 200 of 8000")).toBe(true);
    expect(last.health[0].detail).toMatch(/200 of 2000 characters kept/);
    expect(last.health[0].ok).toBe(false);
  });

  it("cuts an output tail from the front: the last lines stay, truncated is set, a marker line says how much of the original was kept", () => {
    const text = Array.from({ length: 400 }, (_, i) => `output line ${i}`).join("\n") + "\nerror: builder failed";
    let p: string | null = event({ log: { step: "build", text, truncated: false }, message: "short" });
    const first = JSON.parse(shrinkPayload(p)!);
    expect(first.log.step).toBe("build");
    expect(first.log.truncated).toBe(true);
    expect(first.log.text).toMatch(/^\[… truncated by flotilla-agent: last \d+ of \d+ characters kept\]\noutput line \d+\n/);
    expect(first.log.text.endsWith("error: builder failed")).toBe(true);
    expect(first.message).toBe("short");
    // Down to the floor (the step after that drops the tail: the next test).
    for (let next = shrinkPayload(p); next && JSON.parse(next).log; next = shrinkPayload(p)) p = next;
    const last = JSON.parse(p);
    expect(last.log.text.endsWith("error: builder failed")).toBe(true);
    expect(last.log.text.length).toBeLessThan(MIN_FIELD_CHARS + 80);
    expect(last.log.text).toMatch(new RegExp(`of ${text.length} characters kept`));
  });

  it("drops the output tail once every field is at the floor and the event is still refused: the transition arrives without it, never set aside", () => {
    const text = Array.from({ length: 400 }, (_, i) => `output line ${i}`).join("\n");
    let p: string = event({ log: { step: "verify", text, truncated: false }, message: "m".repeat(1000) });
    let steps = 0;
    for (let next = shrinkPayload(p); next; next = shrinkPayload(p)) (p = next), steps++;
    const last = JSON.parse(p);
    expect(last.log).toBeUndefined();
    expect(last.message).toMatch(/truncated by flotilla-agent/);
    expect(p.length).toBeLessThan(JSON.stringify(event({ message: "m".repeat(1000) })).length);
    expect(steps).toBeGreaterThan(1);
  });

  it("has nothing to cut in a heartbeat", () => {
    expect(shrinkPayload(JSON.stringify({ type: "heartbeat", time: "2026-01-01T00:00:00.000Z" }))).toBeNull();
  });

  it("re-times a report stamped ahead of the controller's clock and keeps the first refused stamp", () => {
    const p = event({ time: "2026-01-02T00:00:00.000Z" });
    const r = JSON.parse(retimePayload(p, "2026-01-01T00:00:00.000Z")!);
    expect(r).toMatchObject({ time: "2026-01-01T00:00:00.000Z", skewedTime: "2026-01-02T00:00:00.000Z" });
    const again = JSON.parse(retimePayload(JSON.stringify({ ...r, time: "2026-01-01T12:00:00.000Z" }), "2026-01-01T00:00:00.000Z")!);
    expect(again.skewedTime).toBe("2026-01-02T00:00:00.000Z");
    expect(retimePayload(p, "2026-01-02T00:00:00.500Z")).toBeNull(); // within a second: not ahead
  });
});
