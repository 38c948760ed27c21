/** Property tests of the rollout engine (fast-check). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decide, gateFor, isFailure, needFor, type DecideInput, type ObservedEvent } from "./decide.js";
import { buildFleet } from "../testing/fleet-builder.js";

const C = "c".repeat(40);
const OLD = "a".repeat(40);
const T0 = 1_700_000_000_000;

const waveArb = fc.record({
  size: fc.integer({ min: 1, max: 4 }),
  soakMs: fc.constantFrom(0, 1_000, 60_000),
  maxUnavailable: fc.integer({ min: 0, max: 2 }),
});

const kindArb = fc.constantFrom("healthy", "healthy", "healthy", "stale", "failed", "rolledBack", "started", "otherRev");

const scenarioArb = fc
  .record({
    waves: fc.array(waveArb, { minLength: 1, maxLength: 4 }),
    pinMask: fc.array(fc.boolean(), { minLength: 16, maxLength: 16 }),
    eventsRaw: fc.array(fc.record({ host: fc.nat(15), kind: kindArb, at: fc.integer({ min: 0, max: 300_000 }) }), { maxLength: 30 }),
    seenRaw: fc.array(fc.integer({ min: -500_000, max: 300_000 }), { minLength: 16, maxLength: 16 }),
    now: fc.integer({ min: 0, max: 400_000 }),
  })
  .map(({ waves, pinMask, eventsRaw, seenRaw, now }) => {
    let n = 0;
    const drafts = waves.map((w, i) => ({ name: `w${i}`, members: Array.from({ length: w.size }, () => `h${n++}`), soakMs: w.soakMs, maxUnavailable: w.maxUnavailable }));
    const pins: Record<string, string> = {};
    for (let i = 0; i < n; i++) if (pinMask[i] && i % 3 === 2) pins[`h${i}`] = OLD;
    const fleet = buildFleet(drafts, { pins, unreachableAfterMs: 300_000 });
    const events: ObservedEvent[] = eventsRaw
      .filter((e) => e.host < n)
      .map((e, i) => {
        const host = `h${e.host}`;
        const gen = `/nix/store/${host}-${C.slice(0, 6)}`;
        const base: ObservedEvent = { host, seq: i + 1, timeMs: T0 + e.at, rev: C, phase: "done", outcome: "succeeded", reason: "Succeeded", generation: gen };
        switch (e.kind) {
          case "stale":
            return { ...base, health: [{ check: "x", ok: true, time: new Date(T0).toISOString(), rev: OLD, generation: "/nix/store/old" }] };
          case "failed":
            return { ...base, phase: "verifying", outcome: "failed", reason: "HealthCheckFailed" };
          case "rolledBack":
            return { ...base, phase: "rolledBack", reason: "RolledBack" };
          case "started":
            return { ...base, phase: "activating", outcome: "started", reason: "Progressing" };
          case "otherRev":
            return { ...base, rev: OLD };
          default:
            return base;
        }
      });
    const lastSeenMs: Record<string, number> = {};
    for (let i = 0; i < n; i++) lastSeenMs[`h${i}`] = T0 + seenRaw[i]!;
    const input: DecideInput = { fleet, rev: C, observedAtMs: T0, supersededBy: null, events, lastSeenMs, decisions: [], now: T0 + now };
    return input;
  });

/** Independent oracle: hosts healthy on C by time t (and not failed by now, reachable now). */
function healthyBy(input: DecideInput, members: string[], t: number): number {
  return members.filter((m) => {
    const evs = input.events.filter((e) => e.host === m && e.rev === C);
    if (evs.some(isFailure)) return false;
    const seen = input.lastSeenMs[m];
    if (seen === undefined || input.now - seen > input.fleet.policy.unreachableAfterMs) return false;
    return evs.some((e) => e.phase === "done" && e.outcome === "succeeded" && !(e.health ?? []).some((h) => h.rev !== C) && Math.min(e.timeMs, input.now) <= t);
  }).length;
}

describe("rollout engine properties", () => {
  it("is deterministic and independent of event order", () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer(), (input, salt) => {
        const shuffled = [...input.events].sort((a, b) => ((a.seq * 2654435761 + salt) % 97) - ((b.seq * 2654435761 + salt) % 97));
        expect(decide({ ...input, events: shuffled })).toEqual(decide(input));
        expect(decide(input)).toEqual(decide(structuredClone(input)));
      }),
      { numRuns: 300 },
    );
  });

  it("never opens a wave early", () => {
    fc.assert(
      fc.property(scenarioArb, (input) => {
        const d = decide(input);
        let earliest = input.observedAtMs;
        for (const w of d.waves) {
          if (w.index === 0 || w.openedAtMs === null) continue;
          const prev = d.waves[w.index - 1]!;
          earliest += prev.soakMs;
          expect(w.openedAtMs).toBeLessThanOrEqual(input.now);
          expect(w.openedAtMs).toBeGreaterThanOrEqual(earliest);
          const need = needFor(prev.counted.length, prev.maxUnavailable);
          expect(healthyBy(input, prev.counted, w.openedAtMs - prev.soakMs)).toBeGreaterThanOrEqual(need);
        }
        // and the gate agrees with the wave states
        for (const h of input.fleet.hosts) {
          const g = gateFor(input.fleet, d, h.name, input.now);
          if (g.decision === "open") expect(d.waves.find((w) => w.name === h.wave)!.openedAtMs).not.toBeNull();
        }
      }),
      { numRuns: 500 },
    );
  });

  it("never promotes past a failed canary", () => {
    fc.assert(
      fc.property(scenarioArb, (input) => {
        const d = decide(input);
        const canary = input.fleet.waves[0]!;
        const counted = canary.members.filter((m) => !input.fleet.hosts.find((h) => h.name === m)!.pin);
        const failTimes = counted
          .map((m) => input.events.filter((e) => e.host === m && e.rev === C && isFailure(e)).map((e) => Math.min(e.timeMs, input.now)))
          .filter((ts) => ts.length > 0)
          .map((ts) => Math.min(...ts))
          .sort((a, b) => a - b);
        if (failTimes.length <= canary.maxUnavailable) return;
        const haltAt = failTimes[canary.maxUnavailable]!;
        expect(d.state).toBe("halted");
        for (const w of d.waves.slice(1)) {
          if (w.openedAtMs !== null) expect(w.openedAtMs).toBeLessThanOrEqual(haltAt);
        }
        expect(d.waves[0]!.state === "halted" || (d.waves[0]!.promotedAtMs ?? Infinity) <= haltAt).toBe(true);
        for (const h of input.fleet.hosts.filter((x) => !x.pin)) expect(gateFor(input.fleet, d, h.name, input.now).decision).toBe("halted");
      }),
      { numRuns: 500 },
    );
  });

  it("keeps opened waves open once their decisions are recorded, as time passes", () => {
    fc.assert(
      fc.property(scenarioArb, fc.integer({ min: 1, max: 1_000_000 }), (input, later) => {
        const d1 = decide(input);
        const recorded = d1.transitions.map((t) => ({ rev: t.rev, wave: t.wave, state: t.state, effectiveMs: t.effectiveMs }));
        const d2 = decide({ ...input, decisions: recorded, now: input.now + later });
        for (const w of d1.waves) {
          if (w.openedAtMs !== null) expect(d2.waves[w.index]!.openedAtMs).toBe(w.openedAtMs);
          if (w.state === "promoted") expect(d2.waves[w.index]!.state).toBe("promoted");
        }
        // recording is idempotent: nothing new to record at the same instant
        expect(decide({ ...input, decisions: recorded }).transitions).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});
