import { describe, expect, it } from "vitest";
import type { AgentMessage } from "../../../schemas/src/api.js";
import { emptyHostState, foldHostState } from "./host-state.js";

const A = "a".repeat(40);
const B = "b".repeat(40);
const T = Date.parse("2026-12-02T08:00:00.000Z");
let seq = 0;
const at = (s: number) => new Date(T + s * 1000).toISOString();

function event(phase: string, outcome: string, rev: string, extra: Record<string, unknown> = {}): AgentMessage {
  return { type: "event", host: "web-1", seq: ++seq, time: at(seq), agentVersion: "t", phase, outcome, reason: "R", rev, generation: `/nix/store/${rev.slice(0, 8)}`, ...extra } as AgentMessage;
}
function heartbeat(failedRevs: string[] | undefined, phase = "idle"): AgentMessage {
  return {
    type: "heartbeat", host: "web-1", seq: ++seq, time: at(seq), agentVersion: "t", phase,
    currentRev: A, currentGeneration: "/nix/store/aaaaaaaa", targetRev: A, healthy: true, queueLength: 0, ...(failedRevs ? { failedRevs } : {}),
  } as AgentMessage;
}

describe("foldHostState: failed revisions", () => {
  it("a revision that later deploys and verifies (an operator's retry) is no longer listed as failed", () => {
    const s = foldHostState(emptyHostState("web-1"), [event("rolledBack", "succeeded", B, { previous: { rev: A, generation: "/nix/store/aaaaaaaa" } }), event("done", "succeeded", B)], T);
    expect(s.currentRev).toBe(B);
    expect(s.failedRevs).toEqual([]);
  });

  it("a heartbeat's list is the agent's own: it replaces what the events accumulated (the agent forgot a revision on retry)", () => {
    const failed = foldHostState(emptyHostState("web-1"), [event("rolledBack", "succeeded", B, { previous: { rev: A, generation: "/nix/store/aaaaaaaa" } })], T);
    expect(failed.failedRevs).toEqual([B]);
    expect(foldHostState(failed, [heartbeat([])], T).failedRevs).toEqual([]);
    expect(foldHostState(failed, [heartbeat([A, B])], T).failedRevs).toEqual([A, B]);
    // An older agent that sends no list keeps what the events said.
    expect(foldHostState(failed, [heartbeat(undefined)], T).failedRevs).toEqual([B]);
  });

  it("a heartbeat sent while a rollback is in flight does not erase the failure just reported (the agent remembers it when the rollback ends)", () => {
    const failed = foldHostState(emptyHostState("web-1"), [event("activating", "failed", B)], T);
    expect(failed.failedRevs).toEqual([B]);
    expect(foldHostState(failed, [heartbeat([], "rollingBack")], T).failedRevs).toEqual([B]);
    expect(foldHostState(failed, [heartbeat([A], "activating")], T).failedRevs).toEqual([B, A]);
  });
});
