// Operator actions in the pure engine: pause, resume, abort, approve (approval: manual), hold.
import { describe, expect, it } from "vitest";
import { decide, gateFor, type DecideInput, type ObservedEvent } from "./decide.js";
import { afterPauses, heldHosts, latestRetry, type ActionFact } from "./operator.js";
import { buildFleet } from "../testing/fleet-builder.js";

const C = "c".repeat(40);
const T0 = Date.parse("2026-01-01T00:00:00Z");
let seq = 0;
let ids = 0;
const ev = (host: string, at: number, over: Partial<ObservedEvent> = {}): ObservedEvent => ({
  host, seq: ++seq, timeMs: T0 + at, rev: C, phase: "done", outcome: "succeeded", reason: "Succeeded", generation: `/nix/store/${host}-gen`, ...over,
});
const act = (action: ActionFact["action"], at: number, over: Partial<ActionFact> = {}): ActionFact => ({
  id: ++ids, action, rev: ["hold", "release"].includes(action) ? null : C, wave: null, host: null, reason: `because ${action}`, actor: "ops", timeMs: T0 + at, ...over,
});
const fleet = buildFleet([
  { name: "canary", members: ["canary-1"], soakMs: 10_000 },
  { name: "web", members: ["web-1", "web-2"] },
]);
const seen = (at: number) => Object.fromEntries(fleet.hosts.map((h) => [h.name, T0 + at]));
const input = (over: Partial<DecideInput>): DecideInput => ({ fleet, rev: C, observedAtMs: T0, supersededBy: null, events: [], lastSeenMs: seen(0), decisions: [], now: T0, ...over });

describe("decide with operator actions", () => {
  it("pause: no wave opens while paused and no host starts C; resume opens what would have opened, at the resume", () => {
    const events = [ev("canary-1", 1_000)];
    const paused = decide(input({ events, actions: [act("pause", 5_000)], now: T0 + 60_000, lastSeenMs: seen(60_000) }));
    expect(paused.state).toBe("progressing");
    expect(paused.paused).toMatchObject({ actor: "ops", reason: "because pause" });
    expect(paused.waves.map((w) => w.state)).toEqual(["soaking", "pending"]);
    expect(paused.waves[1]!.reason).toMatch(/^paused by operator ops: because pause; waits for canary/);
    expect(gateFor(fleet, paused, "web-1", T0 + 60_000)).toMatchObject({ decision: "paused", reason: expect.stringContaining("paused by operator ops") });
    // first-wave hosts are told too (they obey it although they need no gate)
    expect(gateFor(fleet, paused, "canary-1", T0 + 60_000).decision).toBe("paused");
    expect(paused.transitions.some((t) => t.wave === "canary" && t.state === "promoted")).toBe(false);

    const resumed = decide(input({ events, actions: [act("pause", 5_000), act("resume", 90_000)], now: T0 + 100_000, lastSeenMs: seen(100_000) }));
    expect(resumed.paused).toBeNull();
    expect(resumed.waves.map((w) => w.state)).toEqual(["promoted", "progressing"]);
    expect(resumed.waves[0]!.promotedAtMs).toBe(T0 + 90_000); // the soak ended at 11 s, during the pause
    expect(gateFor(fleet, resumed, "web-1", T0 + 100_000).decision).toBe("open");
  });

  it("a pause after a promotion does not close what opened; a soak ending outside any pause promotes as usual", () => {
    expect(afterPauses(100, [{ fromMs: 200, toMs: 300 }])).toBe(100);
    expect(afterPauses(250, [{ fromMs: 200, toMs: 300 }])).toBe(300);
    expect(afterPauses(250, [{ fromMs: 200, toMs: 300 }, { fromMs: 300, toMs: null }])).toBeNull();
    const d = decide(input({ events: [ev("canary-1", 1_000)], actions: [act("pause", 20_000)], now: T0 + 60_000, lastSeenMs: seen(60_000) }));
    expect(d.waves.map((w) => w.state)).toEqual(["promoted", "progressing"]);
    expect(gateFor(fleet, d, "web-1", T0 + 60_000).decision).toBe("paused"); // but no new host starts C
  });

  it("abort: C halts 'halted by operator <actor>: <reason>', latched, and no host takes it", () => {
    const d = decide(input({ events: [ev("canary-1", 1_000)], actions: [act("abort", 3_000, { reason: "wrong config" })], now: T0 + 60_000, lastSeenMs: seen(60_000) }));
    expect(d.state).toBe("halted");
    expect(d.aborted).toMatchObject({ actor: "ops", reason: "wrong config" });
    expect(d.waves.map((w) => w.state)).toEqual(["halted", "halted"]);
    expect(d.waves[1]!.reason).toBe("rollout halted: halted by operator ops: wrong config");
    expect(d.transitions).toContainEqual(expect.objectContaining({ wave: "", state: "halted", effectiveMs: T0 + 3_000, reason: "halted by operator ops: wrong config" }));
    expect(d.summary).toMatch(/^halted: /);
    for (const h of ["canary-1", "web-1"]) expect(gateFor(fleet, d, h, T0 + 60_000)).toMatchObject({ decision: "aborted", reason: expect.stringContaining("aborted by operator ops: wrong config") });
  });

  it("approval: manual holds a wave until approved, then it opens no earlier than the approval", () => {
    const manual = buildFleet([
      { name: "canary", members: ["canary-1"] },
      { name: "web", members: ["web-1"], approval: "manual" },
    ]);
    const events = [ev("canary-1", 1_000)];
    const base = { fleet: manual, events, now: T0 + 60_000, lastSeenMs: seen(60_000) };
    const waiting = decide(input(base));
    expect(waiting.waves.map((w) => w.state)).toEqual(["promoted", "pending"]);
    expect(waiting.waves[1]!.approval).toEqual({ state: "required" });
    expect(waiting.waves[1]!.reason).toBe(`waits for approval: flotilla rollout approve ${C.slice(0, 12)} web --reason …`);
    expect(gateFor(manual, waiting, "web-1", T0 + 60_000)).toMatchObject({ decision: "wait", reason: expect.stringContaining("waits for approval") });
    const approved = decide(input({ ...base, actions: [act("approve", 30_000, { wave: "web" })] }));
    expect(approved.waves[1]).toMatchObject({ state: "progressing", openedAtMs: T0 + 30_000, approval: { state: "approved", by: { actor: "ops" } } });
    expect(gateFor(manual, approved, "web-1", T0 + 60_000).decision).toBe("open");
    // an approval given before the previous wave is promoted opens the wave at the promotion
    const early = decide(input({ ...base, events: [ev("canary-1", 40_000)], actions: [act("approve", 30_000, { wave: "web" })] }));
    expect(early.waves[1]!.openedAtMs).toBe(T0 + 40_000);
    // a manual first wave waits too
    const first = buildFleet([{ name: "canary", members: ["canary-1"], approval: "manual" }]);
    const f = decide(input({ fleet: first, lastSeenMs: { "canary-1": T0 } }));
    expect(f.waves[0]).toMatchObject({ state: "pending", openedAtMs: null });
    expect(gateFor(first, f, "canary-1", T0).decision).toBe("wait");
  });

  it("hold: the host's gate answers held (before pinned) until released; it counts as not healthy", () => {
    const pinnedFleet = buildFleet([{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1", "web-2"] }], { pins: { "web-2": "a".repeat(40) } });
    const actions = [act("hold", 0, { host: "web-1" }), act("hold", 100, { host: "web-2" }), act("release", 200, { host: "web-2" }), act("hold", 300, { host: "canary-1" })];
    expect([...heldHosts(actions).keys()].sort()).toEqual(["canary-1", "web-1"]);
    const d = decide(input({ fleet: pinnedFleet, actions, now: T0 + 1_000, lastSeenMs: seen(1_000) }));
    expect(gateFor(pinnedFleet, d, "web-1", T0).decision).toBe("held");
    expect(gateFor(pinnedFleet, d, "canary-1", T0)).toMatchObject({ decision: "held", reason: expect.stringContaining("held by operator ops: because hold") });
    expect(gateFor(pinnedFleet, d, "web-2", T0).decision).toBe("pinned"); // released
    expect(d.waves[0]!.reason).toContain("held: canary-1");
    const pinnedHeld = decide(input({ fleet: pinnedFleet, actions: [act("hold", 0, { host: "web-2" })] }));
    expect(gateFor(pinnedFleet, pinnedHeld, "web-2", T0).decision).toBe("held");
  });

  it("retry: the newest retry of a host is its directive", () => {
    const a = [act("retry", 0, { host: "web-1", rev: "a".repeat(40) }), act("retry", 10, { host: "web-1", rev: C }), act("retry", 20, { host: "web-2", rev: C })];
    expect(latestRetry(a, "web-1")).toEqual({ id: a[1]!.id, rev: C });
    expect(latestRetry(a, "canary-1")).toBeNull();
  });
});
