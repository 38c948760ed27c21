// Operator retries as pure state changes: a controller directive is applied once per id.
import { describe, expect, it } from "vitest";
import { initialState, type AgentState, type Target } from "./phases.js";
import { applyDirective, applyRetry, wasApplied } from "./retry.js";

const A = "a".repeat(40);
const B = "b".repeat(40);
const NOW = "2026-01-01T00:00:00.000Z";
const target: Target = { rev: A, head: A, kind: "nixos", resolution: "head", remote: "file:///fleet" };
const failed = (): AgentState => ({
  ...initialState("web-1", NOW),
  lastHead: A,
  noticedHead: A,
  failedRevs: [{ rev: A, reason: "HealthCheckFailed", time: NOW }, { rev: B, reason: "BuildFailed", time: NOW }],
});

describe("operator retry", () => {
  it("a directive forgets only its revision, makes the next poll re-read the head, and records its id", () => {
    const s = applyDirective(failed(), { id: 7, rev: A }, NOW);
    expect(s.failedRevs.map((f) => f.rev)).toEqual([B]);
    expect(s).toMatchObject({ lastHead: null, noticedHead: null, appliedActions: [7] });
    expect(wasApplied(s, 7)).toBe(true);
    expect(wasApplied(s, 8)).toBe(false);
    // the revision fails again: the same directive is already applied, so the caller does not apply it again
    const again = { ...s, failedRevs: [...s.failedRevs, { rev: A, reason: "HealthCheckFailed", time: NOW }] };
    expect(wasApplied(again, 7)).toBe(true);
  });

  it("leaves rollbackFailed by rolling back again, not blaming the target; a local retry without REV forgets all", () => {
    const stalled: AgentState = {
      ...failed(),
      cycle: { phase: "rollbackFailed", target, startedAt: NOW, durations: {}, generation: "/nix/store/x", previous: { rev: B, generation: "/nix/store/y" }, error: { reason: "HealthCheckFailed", message: "x" }, rollbackError: { reason: "RollbackFailed", message: "y" } },
    };
    const s = applyDirective(stalled, { id: 1, rev: A }, NOW);
    expect(s.cycle).toMatchObject({ phase: "rollingBack", blameTarget: false, attempt: 1, reach: { remote: "file:///fleet", controller: false } });
    expect(applyRetry(failed(), null, NOW).failedRevs).toEqual([]);
  });

  it("keeps a bounded list of applied ids", () => {
    let s = failed();
    for (let id = 1; id <= 60; id++) s = applyDirective(s, { id, rev: A }, NOW);
    expect(s.appliedActions).toHaveLength(50);
    expect(s.appliedActions!.at(-1)).toBe(60);
  });
});
