import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import { confirmAfterStart, type ConfirmContext } from "./confirm.js";
import { MemoryPorts } from "./memory-ports.js";

const pending = (p: MemoryPorts, over: Record<string, unknown> = {}) => {
  p.record.pending = { target: "/nix/store/v2", previous: "/nix/store/v1", installable: "x#y", version: "2.0.0", switchedAt: new Date(p.time).toISOString(), deadlineMs: 10_000, ...over };
  p.profile = "/nix/store/v2";
};

function ctx(p: MemoryPorts, over: Partial<ConfirmContext> = {}): ConfirmContext & { attempts: number } {
  const c = {
    attempts: 0,
    startedFrom: "/nix/store/v2",
    canReport: async () => false,
    // The manual clock: sleeping moves the ports' time forward.
    sleep: async (ms: number) => {
      p.time += ms;
    },
    log: memoryLogger(),
    ...over,
  };
  const can = c.canReport;
  c.canReport = async () => {
    c.attempts++;
    return can();
  };
  return c;
}

describe("confirmAfterStart", () => {
  it("does nothing without a pending update", async () => {
    const p = new MemoryPorts();
    expect(await confirmAfterStart(ctx(p), p)).toBe("none");
    expect(p.events).toEqual([]);
  });

  it("the new agent confirms once it can report, within the deadline", async () => {
    const p = new MemoryPorts();
    pending(p);
    let n = 0;
    const c = ctx(p, { canReport: async () => ++n >= 3 });
    expect(await confirmAfterStart(c, p)).toBe("confirmed");
    expect(p.story()).toEqual(["succeeded/SelfUpdateConfirmed"]);
    expect(p.events[0]).toMatchObject({ generation: "/nix/store/v2", previous: { generation: "/nix/store/v1" } });
    expect(p.record.pending).toBeNull();
    expect(p.profileSets).toEqual([]);
  });

  it("past the deadline the new agent sets the profile to the recorded previous path and asks for a restart; the previous agent then reports", async () => {
    const p = new MemoryPorts();
    pending(p);
    const c = ctx(p);
    expect(await confirmAfterStart(c, p)).toBe("restore");
    expect(c.attempts).toBe(6); // every 2 s for 10 s, then once more at the deadline
    expect(p.profileSets).toEqual(["/nix/store/v1"]);
    expect(p.record.pending?.restored?.reason).toBe("AgentHealthDeadline");
    expect(p.events).toEqual([]); // it cannot report; the restored agent does

    expect(await confirmAfterStart(ctx(p, { startedFrom: "/nix/store/v1" }), p)).toBe("failed");
    expect(p.story()).toEqual(["failed/SelfUpdateFailed"]);
    expect(p.events[0]!.error).toMatchObject({ reason: "AgentHealthDeadline" });
    expect(p.record).toMatchObject({ pending: null, failed: ["/nix/store/v2"] });
    expect(p.profileSets).toEqual(["/nix/store/v1"]); // already back: not set again
  });

  it("an agent that is not the new one (the wrapper went back after a crash loop) reports the failure and remembers the target", async () => {
    const p = new MemoryPorts();
    pending(p);
    p.profile = "/nix/store/v1"; // the wrapper already set it back
    expect(await confirmAfterStart(ctx(p, { startedFrom: "/nix/store/v1" }), p)).toBe("failed");
    expect(p.events[0]).toMatchObject({ outcome: "failed", reason: "SelfUpdateFailed", error: { reason: "AgentCrashLoop" }, generation: "/nix/store/v2" });
    expect(p.record.failed).toEqual(["/nix/store/v2"]);
    expect(p.profileSets).toEqual([]);
  });

  it("when the wrapper fell back to its package (no confirmed target) the profile is set to the recorded previous path", async () => {
    const p = new MemoryPorts();
    pending(p); // profile still at v2
    expect(await confirmAfterStart(ctx(p, { startedFrom: "/nix/store/fallback" }), p)).toBe("failed");
    expect(p.profileSets).toEqual(["/nix/store/v1"]);
    expect(p.events[0]!.error?.message).toMatch(/agent profile set back to \/nix\/store\/v1/);
  });

  it("stops waiting when the daemon is stopped, leaving the decision to the next start", async () => {
    const p = new MemoryPorts();
    pending(p);
    const stop = new AbortController();
    stop.abort();
    expect(await confirmAfterStart(ctx(p, { signal: stop.signal }), p)).toBe("none");
    expect(p.record.pending).not.toBeNull();
  });
});
