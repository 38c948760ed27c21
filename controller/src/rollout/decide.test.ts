import { describe, expect, it } from "vitest";
import { decide, gateFor, type DecideInput, type ObservedEvent } from "./decide.js";
import { buildFleet } from "../testing/fleet-builder.js";
import { verdictOf } from "../ingest/message.js";
import { verdictToObserved } from "../store/rows.js";

const C = "c".repeat(40);
const OLD = "a".repeat(40);
const T0 = Date.parse("2026-01-01T00:00:00Z");
let seq = 0;
const ev = (host: string, at: number, over: Partial<ObservedEvent> = {}): ObservedEvent => ({
  host, seq: ++seq, timeMs: T0 + at, rev: C, phase: "done", outcome: "succeeded", reason: "Succeeded", generation: `/nix/store/${host}-gen`, ...over,
});
const fleet = buildFleet([
  { name: "canary", members: ["canary-1"], soakMs: 60_000 },
  { name: "web", members: ["web-1", "web-2", "web-3", "web-4"], maxUnavailable: 1 },
  { name: "db", members: ["db-1"] },
]);
const allSeen = (at: number) => Object.fromEntries(fleet.hosts.map((h) => [h.name, T0 + at]));
const input = (over: Partial<DecideInput>): DecideInput => ({ fleet, rev: C, observedAtMs: T0, supersededBy: null, events: [], lastSeenMs: allSeen(0), decisions: [], now: T0, ...over });

describe("decide", () => {
  it("opens wave 0 at once and keeps the others pending", () => {
    const d = decide(input({}));
    expect(d.waves.map((w) => w.state)).toEqual(["progressing", "pending", "pending"]);
    expect(d.transitions).toEqual([expect.objectContaining({ wave: "canary", state: "progressing", effectiveMs: T0 })]);
    expect(gateFor(fleet, d, "web-1", T0).decision).toBe("wait");
  });

  it("soaks a healthy canary, then opens the next wave after the soak (agent timestamps)", () => {
    const events = [ev("canary-1", 10_000)];
    const soaking = decide(input({ events, now: T0 + 30_000, lastSeenMs: allSeen(30_000) }));
    expect(soaking.waves[0]!.state).toBe("soaking");
    expect(soaking.waves[0]!.soakUntilMs).toBe(T0 + 70_000);
    const g = gateFor(fleet, soaking, "web-1", T0 + 30_000);
    expect(g).toMatchObject({ decision: "wait", retryAfterMs: 40_000 });
    const open = decide(input({ events, now: T0 + 70_000, lastSeenMs: allSeen(70_000) }));
    expect(open.waves.map((w) => w.state)).toEqual(["promoted", "progressing", "pending"]);
    expect(gateFor(fleet, open, "web-1", T0 + 70_000).decision).toBe("open");
    expect(gateFor(fleet, open, "db-1", T0 + 70_000).decision).toBe("wait");
  });

  it("does not count health measured on another generation (stale health)", () => {
    const stale = ev("canary-1", 1_000, { health: [{ check: "http", ok: true, time: new Date(T0).toISOString(), rev: OLD, generation: "/nix/store/old" }] });
    const d = decide(input({ events: [stale], now: T0 + 3_600_000, lastSeenMs: allSeen(3_600_000) }));
    expect(d.waves[0]!.state).toBe("progressing");
  });

  it("halts on a failed canary: later waves never open, gate says halted", () => {
    const events = [ev("canary-1", 5_000, { phase: "rolledBack", outcome: "succeeded", reason: "RolledBack" })];
    const d = decide(input({ events, now: T0 + 3_600_000, lastSeenMs: allSeen(3_600_000) }));
    expect(d.state).toBe("halted");
    expect(d.waves.map((w) => w.state)).toEqual(["halted", "halted", "halted"]);
    expect(d.waves[1]!.openedAtMs).toBeNull();
    expect(gateFor(fleet, d, "web-2", T0).decision).toBe("halted");
    expect(d.transitions.map((t) => `${t.wave}:${t.state}`)).toEqual(["canary:progressing", "canary:halted", ":halted"]);
    expect(d.summary).toMatch(/^halted: canary 0\/1 healthy \(1 failed\)/);
  });

  // Issue 9 §3: the agent's recovery after one kill -9 mid-switch is not a failure of the revision.
  const interrupted = (host: string, at: number, blamed: boolean | undefined): ObservedEvent[] => [
    ev(host, at, { phase: "activating", outcome: "failed", reason: "Interrupted", generation: null, ...(blamed === undefined ? {} : { blamed }) }),
    ev(host, at + 1, { phase: "rollingBack", outcome: "started", reason: "Interrupted", generation: null, ...(blamed === undefined ? {} : { blamed }) }),
    ev(host, at + 2_000, { phase: "rolledBack", outcome: "succeeded", reason: "RolledBack", ...(blamed === undefined ? {} : { blamed }) }),
  ];

  it("does not halt on an interruption the agent forgives (blamed: false), and counts the redeploy that follows", () => {
    const events = [...interrupted("canary-1", 1_000, false), ev("canary-1", 10_000)];
    const d = decide(input({ events, now: T0 + 70_000, lastSeenMs: allSeen(70_000) }));
    expect(d.state).not.toBe("halted");
    expect(d.waves[0]).toMatchObject({ state: "promoted", failed: [], healthy: ["canary-1"] });
    expect(gateFor(fleet, d, "web-1", T0 + 70_000).decision).toBe("open");
  });

  it("halts when the agent blames the revision for repeated interruptions (blamed: true)", () => {
    const events = [...interrupted("canary-1", 1_000, false), ...interrupted("canary-1", 5_000, true)];
    const d = decide(input({ events, now: T0 + 70_000, lastSeenMs: allSeen(70_000) }));
    expect(d.state).toBe("halted");
    expect(d.waves[0]!.failed).toEqual(["canary-1"]);
  });

  it("follows the agent's blame on any failure event, and the phase rule when an older agent sends none", () => {
    // A rolledBack the agent blames halts even with outcome "succeeded"...
    const blamed = decide(input({ events: [ev("canary-1", 1_000, { phase: "rolledBack", outcome: "succeeded", reason: "RolledBack", blamed: true })], now: T0 + 10_000 }));
    expect(blamed.state).toBe("halted");
    // ...an agent without the field is judged by phase and outcome, except its Interrupted recovery events.
    const legacy = decide(input({ events: [...interrupted("canary-1", 1_000, undefined).slice(0, 2), ev("canary-1", 10_000)], now: T0 + 70_000, lastSeenMs: allSeen(70_000) }));
    expect(legacy.state).not.toBe("halted");
    const legacyFail = decide(input({ events: [ev("canary-1", 1_000, { phase: "verifying", outcome: "failed", reason: "HealthCheckFailed" })], now: T0 + 10_000 }));
    expect(legacyFail.state).toBe("halted");
  });

  it("tolerates maxUnavailable failures and unreachable hosts, but needs the rest", () => {
    const events = [ev("canary-1", 0), ev("web-1", 70_000), ev("web-2", 71_000), ev("web-3", 72_000, { outcome: "failed", phase: "verifying", reason: "HealthCheckFailed" })];
    const now = 80_000;
    const d1 = decide(input({ events, now: T0 + now, lastSeenMs: allSeen(now) }));
    expect(d1.waves[1]!.state).toBe("progressing"); // web-4 not healthy yet: 2 of need 3
    const d2 = decide(input({ events: [...events, ev("web-4", 75_000)], now: T0 + now, lastSeenMs: allSeen(now) }));
    expect(d2.waves.map((w) => w.state)).toEqual(["promoted", "promoted", "progressing"]);
    // web-4 unreachable now: unavailable, wave waits (never halts)
    const seen = { ...allSeen(now), "web-4": T0 - 1_000_000 };
    const d3 = decide(input({ events: [...events, ev("web-4", 75_000)], now: T0 + now, lastSeenMs: seen }));
    expect(d3.waves[1]).toMatchObject({ state: "progressing", unreachable: ["web-4"] });
    expect(d3.state).toBe("progressing");
  });

  it("latches recorded promotions", () => {
    const events = [ev("canary-1", 0)];
    const seen = { ...allSeen(100_000), "canary-1": T0 - 10_000_000 };
    const d = decide(input({ events, now: T0 + 100_000, lastSeenMs: seen, decisions: [{ rev: C, wave: "canary", state: "promoted", effectiveMs: T0 + 60_000 }] }));
    expect(d.waves[0]!.state).toBe("promoted");
    expect(d.waves[1]!.state).toBe("progressing");
  });

  it("shows a latched halt with the reason recorded when it was decided", () => {
    const halted = { rev: C, wave: "", state: "halted", effectiveMs: T0 + 5_000, reason: "wave canary: 1 of 1 failed (canary-1), more than maxUnavailable 0" };
    const d = decide(input({ now: T0 + 100_000, lastSeenMs: allSeen(100_000), decisions: [halted] }));
    expect(d.waves.map((w) => w.state)).toEqual(["halted", "halted", "halted"]);
    expect(d.waves[1]!.reason).toBe("rollout halted: wave canary: 1 of 1 failed (canary-1), more than maxUnavailable 0");
  });

  it("excludes pinned hosts: never gated, never counted", () => {
    const pinned = buildFleet([{ name: "canary", members: ["canary-1"] }, { name: "web", members: ["web-1", "web-2"] }], { pins: { "canary-1": OLD } });
    const d = decide({ fleet: pinned, rev: C, observedAtMs: T0, supersededBy: null, events: [], lastSeenMs: {}, decisions: [], now: T0 });
    expect(d.waves[0]).toMatchObject({ state: "promoted", counted: [], pinned: ["canary-1"] });
    expect(gateFor(pinned, d, "canary-1", T0).decision).toBe("pinned");
    expect(gateFor(pinned, d, "web-1", T0).decision).toBe("open");
  });

  it("marks unfinished waves superseded by a newer head", () => {
    const d = decide(input({ supersededBy: "d".repeat(40), now: T0 + 10 }));
    expect(d.state).toBe("superseded");
    expect(gateFor(fleet, d, "web-1", T0).decision).toBe("superseded");
  });

  it("clamps agent timestamps from the future to now", () => {
    const d = decide(input({ events: [ev("canary-1", 120_000)], now: T0 + 1_000 }));
    expect(d.waves[0]).toMatchObject({ state: "soaking", completeSinceMs: T0 + 1_000 });
  });

  it("does not count an unverified boot deploy (pendingReboot) as healthy unless the wave accepts it", () => {
    const staged = [ev("canary-1", 10_000, { reason: "PendingReboot", pendingReboot: true })];
    const at = { now: T0 + 120_000, lastSeenMs: allSeen(120_000) };
    const strict = decide(input({ events: staged, ...at }));
    expect(strict.waves[0]).toMatchObject({ state: "progressing", healthy: [] });
    expect(gateFor(fleet, strict, "web-1", at.now).decision).toBe("wait");
    // Through the store's verdict rows too (what the controller really reads).
    const verdict = verdictOf({ type: "event", host: "canary-1", seq: 1, time: new Date(T0 + 10_000).toISOString(), agentVersion: "t", phase: "done", outcome: "succeeded", reason: "PendingReboot", rev: C, generation: "/nix/store/g", pendingReboot: true });
    expect(verdict).toBe("pendingReboot");
    const viaRow = [verdictToObserved(C, { host: "canary-1", verdict: verdict!, t: T0 + 10_000 })];
    expect(decide(input({ events: viaRow, ...at })).waves[0]!.healthy).toEqual([]);
    // After the reboot the agent verifies it: then it counts.
    const verified = [...staged, ev("canary-1", 50_000)];
    expect(decide(input({ events: verified, ...at })).waves.map((w) => w.state)).toEqual(["promoted", "progressing", "pending"]);
    // A wave that accepts pending reboots counts the staged member from when it staged.
    const lenient = buildFleet([
      { name: "canary", members: ["canary-1"], soakMs: 60_000, acceptPendingReboot: true },
      { name: "web", members: ["web-1"] },
    ]);
    const d = decide({ ...input({ events: viaRow, ...at }), fleet: lenient });
    expect(d.waves.map((w) => w.state)).toEqual(["promoted", "progressing"]);
    expect(d.waves[0]!.completeSinceMs).toBe(T0 + 10_000);
  });
});

// Issue 11 item 4: substitute-only hosts never get a wave before their paths are published.
describe("decide: release gating (delivery: substitute)", () => {
  const subFleet = { ...fleet, delivery: { modes: { "canary-1": "substitute" as const, "web-1": "substitute-or-build" as const }, waitMs: 600_000, caches: [], builders: [] } };
  const base = (over: Partial<DecideInput>): DecideInput => input({ fleet: subFleet, ...over });

  it("holds the wave of a substitute-only host while the release is missing", () => {
    const d = decide(base({ release: { state: "missing", hosts: [] } }));
    expect(d.waves[0]).toMatchObject({ state: "pending", openedAtMs: null });
    expect(d.transitions).toEqual([]);
    const g = gateFor(subFleet, d, "canary-1", T0);
    expect(g.decision).toBe("wait");
    expect(g.reason).toBe(`waiting for the release of ${C.slice(0, 12)} (flotilla build --publish)`);
  });

  it("holds it when no release state is given, when it is untrusted, and when it does not list the host", () => {
    expect(gateFor(subFleet, decide(base({})), "canary-1", T0).decision).toBe("wait");
    const untrusted = gateFor(subFleet, decide(base({ release: { state: "untrusted", reason: "signed by a stranger", hosts: [] } })), "canary-1", T0);
    expect(untrusted).toMatchObject({ decision: "wait", reason: expect.stringContaining("untrusted: signed by a stranger") });
    const partial = gateFor(subFleet, decide(base({ release: { state: "built", hosts: ["web-1"] } })), "canary-1", T0);
    expect(partial).toMatchObject({ decision: "wait", reason: expect.stringContaining("does not list canary-1") });
  });

  it("holds it while the controller's builder is building or after its build failed, and says which", () => {
    const building = gateFor(subFleet, decide(base({ release: { state: "building", reason: "building since 3s: 0/2 hosts", hosts: [] } })), "canary-1", T0);
    expect(building).toMatchObject({ decision: "wait", reason: expect.stringContaining("; the controller is building it (building since 3s: 0/2 hosts)") });
    const failed = gateFor(subFleet, decide(base({ release: { state: "failed", reason: "host canary-1: nix build … failed (exit 1):\nerror: builder failed", hosts: [] } })), "canary-1", T0);
    expect(failed).toMatchObject({ decision: "wait", reason: expect.stringMatching(/; the controller's build failed: host canary-1: nix build … failed \(exit 1\):$/) });
  });

  it("opens the wave once the release is built and lists its hosts, no earlier than it was published", () => {
    const d = decide(base({ release: { state: "built", hosts: ["canary-1"], atMs: T0 + 5_000 }, now: T0 + 6_000 }));
    expect(d.waves[0]).toMatchObject({ state: "progressing", openedAtMs: T0 + 5_000 });
    expect(d.transitions).toEqual([expect.objectContaining({ wave: "canary", state: "progressing", effectiveMs: T0 + 5_000 })]);
    expect(gateFor(subFleet, d, "canary-1", T0 + 6_000).decision).toBe("open");
  });

  it("a wave already opened (recorded) stays open if the release ref goes away", () => {
    const decisions = [{ rev: C, wave: "canary", state: "progressing", effectiveMs: T0 }];
    const d = decide(base({ release: { state: "missing", hosts: [] }, decisions }));
    expect(gateFor(subFleet, d, "canary-1", T0).decision).toBe("open");
  });

  it("substitute-or-build and build hosts are not held", () => {
    // web-1 is substitute-or-build: once canary promotes, web opens without a release.
    const events = [ev("canary-1", 10_000)];
    const decisions = [{ rev: C, wave: "canary", state: "progressing", effectiveMs: T0 }];
    const d = decide(base({ release: { state: "missing", hosts: [] }, decisions, events, now: T0 + 70_000, lastSeenMs: allSeen(70_000) }));
    expect(gateFor(subFleet, d, "web-1", T0 + 70_000).decision).toBe("open");
    // A build-delivery fleet ignores the release entirely.
    const plain = decide(input({ release: { state: "missing", hosts: [] } }));
    expect(gateFor(fleet, plain, "canary-1", T0).decision).toBe("open");
  });
});
