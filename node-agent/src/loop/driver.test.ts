// The driver and handlers on in-memory ports (fakes at the port boundary,
// a manual clock): the crash-convergence rules and the loud rollbackFailed
// state, without git or nix. Integration tests cover the real adapters.
import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import { normalizeFleet } from "../../../common/src/fleet/normalize.js";
import { FleetFile } from "../../../schemas/src/fleet.js";
import type { AgentDeps, Clock, Reporter, System } from "../ports.js";
import { SecretsError } from "../errors.js";
import { Driver } from "./driver.js";
import type { EventDraft } from "./events.js";
import type { AgentState } from "./phases.js";

const HEAD = "a".repeat(40);
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
const OLD = "b".repeat(40);

/**
 * The state an agent finds when it restarts in `activating`: HEAD's switch
 * to /nix/store/new was begun over OLD (/nix/store/old), after `interrupted`
 * earlier interruptions of the same revision.
 */
function crashedInActivating(o: { interrupted?: number; trustedHead?: string } = {}): AgentState {
  const n = o.interrupted ?? 0;
  return {
    version: 2,
    host: "h1",
    current: { rev: OLD, generation: "/nix/store/old" },
    trustedHead: o.trustedHead ?? OLD,
    lastHead: HEAD,
    noticedHead: null,
    failedRevs: [],
    lastOutcome: null,
    interruptions: n ? { rev: HEAD, count: n } : null,
    updatedAt: "",
    cycle: {
      phase: "activating",
      target: { rev: HEAD, head: HEAD, kind: "nixos", resolution: "head", remote: "file:///r" },
      startedAt: "",
      durations: {},
      generation: "/nix/store/new",
      previous: { rev: OLD, generation: "/nix/store/old" },
      reach: { remote: "file:///r", controller: false },
      attempt: n + 1,
    },
  } as AgentState;
}

function world(opts: {
  activate?: () => Promise<void>;
  rollback?: () => Promise<void>;
  profile?: string | null;
  /** What the host says it runs after a restart (System.applied); absent: the fake cannot tell. */
  applied?: { rev: string | null; generation: string; complete: boolean };
  state?: AgentState;
  /** Throws from the state store's save (e.g. ENOSPC) when it returns an error. */
  saveFails?: (s: AgentState) => Error | null;
}) {
  const fleet = normalizeFleet(FleetFile.parse({ version: 1, hosts: [{ name: "h1", kind: "nixos", hostKey: KEY }] })).fleet!;
  let saved: AgentState | null = opts.state ?? null;
  let profile: string | null = opts.profile === undefined ? "/nix/store/old" : opts.profile;
  const events: EventDraft[] = [];
  const calls: string[] = [];
  let retry: { rev: string | null } | null = null;
  let t = 0;
  const clock: Clock = { now: () => new Date(1_700_000_000_000 + t), random: () => 0, sleep: async (ms) => void (t += ms) };
  const nixos: System = {
    build: async () => "/nix/store/new",
    current: async () => profile,
    activate: async () => {
      calls.push("activate");
      await opts.activate?.();
      profile = "/nix/store/new";
    },
    rollback: async (_h, prev) => {
      calls.push("rollback");
      await opts.rollback?.();
      profile = prev.generation;
    },
    prune: async () => {},
    ...(opts.applied ? { applied: async () => opts.applied! } : {}),
  };
  const reporter: Reporter = {
    event: async (e) => void events.push(e),
    heartbeat: async () => {},
    flush: async () => true,
    probe: async () => true,
    queueLength: () => 0,
    setController: () => {},
    controller: () => null,
  };
  const deps: AgentDeps = {
    settings: { host: "h1", controller: null, connectivityTimeoutMs: 1000, maxInterruptions: 2, agentVersion: "test" },
    log: memoryLogger(),
    clock,
    store: {
      load: async () => saved,
      save: async (s) => {
        const e = opts.saveFails?.(s);
        if (e) throw e;
        saved = structuredClone(s);
      },
      pendingRetry: async () => retry,
      clearRetry: async () => void (retry = null),
    },
    source: {
      init: async () => {},
      head: async () => ({ remote: "file:///r", sha: HEAD }),
      fetch: async () => {},
      hasCommit: async () => true,
      isAncestor: async () => true,
      loadFleet: async () => ({ fleet, errors: [] }),
      verifySignature: async () => ({ ok: true, detail: "" }),
      flakeRef: async (rev) => `ref?rev=${rev}`,
      checkout: async () => "/tmp",
      reachable: async () => true,
      forget: async () => {},
    },
    systems: { nixos, legacy: nixos },
    hooks: { run: async () => {} },
    health: { verify: async () => [] },
    reporter,
    gate: { ask: async () => null },
    secrets: { install: async () => null, rollback: async () => {}, prune: async () => {} },
  };
  return { deps, events, calls, saved: () => saved!, profile: () => profile, requestRetry: (rev: string | null) => (retry = { rev }) };
}

describe("driver", () => {
  it("deploys the head and verifies it", async () => {
    const w = world({});
    const r = await new Driver(w.deps).runCycle();
    expect(r.code).toBe("ok");
    expect(w.saved().current).toEqual({ rev: HEAD, generation: "/nix/store/new" });
    expect(w.events.map((e) => `${e.phase}/${e.outcome}`)).toEqual(["fetched/succeeded", "built/succeeded", "activating/started", "activating/succeeded", "verifying/succeeded", "done/succeeded"]);
  });

  it("after a crash in `activating` rolls back to the recorded previous path, then tries the target again", async () => {
    const w = world({ state: crashedInActivating(), profile: "/nix/store/new" });
    const r = await new Driver(w.deps).runCycle();
    const story = w.events.map((e) => `${e.phase}/${e.outcome}/${e.reason}`);
    expect(story.slice(0, 3)).toEqual(["activating/failed/Interrupted", "rollingBack/started/Interrupted", "rolledBack/succeeded/RolledBack"]);
    // The events say the revision is not blamed, so the controller does not count them as failures.
    expect(w.events.slice(0, 3).map((e) => e.blamed)).toEqual([false, false, false]);
    expect(story).toContain("done/succeeded/Succeeded");
    expect(r.code).toBe("ok");
    expect(w.saved().failedRevs).toEqual([]);
  });

  describe("after a restart in `activating`, asks the host what it runs before rolling back", () => {
    it("a completed switch (legacy: the app run recorded it) is verified, not rolled back or switched again", async () => {
      const w = world({ state: crashedInActivating(), profile: "/nix/store/new", applied: { rev: HEAD, generation: "/nix/store/new", complete: true } });
      const r = await new Driver(w.deps).runCycle();
      expect(r.code).toBe("ok");
      expect(w.calls).toEqual([]);
      expect(w.events.map((e) => `${e.phase}/${e.outcome}`).slice(0, 3)).toEqual(["activating/succeeded", "verifying/succeeded", "done/succeeded"]);
      expect(w.saved().current).toEqual({ rev: HEAD, generation: "/nix/store/new" });
      expect(w.saved().failedRevs).toEqual([]);
    });

    it("a switch that got as far as the target (NixOS: /run/current-system) is run again to complete it, not rolled back", async () => {
      const w = world({ state: crashedInActivating(), profile: "/nix/store/new", applied: { rev: null, generation: "/nix/store/new", complete: false } });
      const r = await new Driver(w.deps).runCycle();
      expect(r.code).toBe("ok");
      expect(w.calls).toEqual(["activate"]);
      expect(w.events.map((e) => `${e.phase}/${e.outcome}/${e.reason}`)[0]).toBe("activating/started/Interrupted");
      expect(w.events.some((e) => e.blamed)).toBe(false);
      expect(w.saved().current).toEqual({ rev: HEAD, generation: "/nix/store/new" });
      expect(w.saved().interruptions).toBeNull();
    });

    it("a host that runs something else, or another revision's record, is rolled back as before", async () => {
      for (const applied of [
        { rev: null, generation: "/nix/store/old", complete: false },
        { rev: "c".repeat(40), generation: "/nix/store/new", complete: true },
      ]) {
        const w = world({ state: crashedInActivating(), profile: "/nix/store/new", applied });
        await new Driver(w.deps).runCycle();
        expect(w.calls[0]).toBe("rollback");
        expect(w.events.map((e) => `${e.phase}/${e.outcome}/${e.reason}`).slice(0, 2)).toEqual(["activating/failed/Interrupted", "rollingBack/started/Interrupted"]);
      }
    });

    it("a switch interrupted again after being run again counts as a second interruption: rolled back and blamed", async () => {
      const again = { ...crashedInActivating(), interruptions: { rev: HEAD, count: 1 } } as AgentState;
      const w = world({ state: again, profile: "/nix/store/new", applied: { rev: null, generation: "/nix/store/new", complete: false } });
      await new Driver(w.deps).runCycle();
      expect(w.calls[0]).toBe("rollback");
      expect(w.events[0]?.blamed).toBe(true);
    });
  });

  it("blames a revision whose activation is interrupted maxInterruptions times in a row, and says so in its events", async () => {
    const w = world({ state: crashedInActivating({ interrupted: 1, trustedHead: HEAD }), profile: "/nix/store/new" });
    const r = await new Driver(w.deps).runCycle();
    expect(w.events.slice(0, 3).map((e) => `${e.phase}/${e.outcome}/${e.blamed}`)).toEqual(["activating/failed/true", "rollingBack/started/true", "rolledBack/succeeded/true"]);
    expect(w.saved().failedRevs.map((f) => f.rev)).toEqual([HEAD]);
    expect(w.saved().interruptions).toBeNull();
    expect(r.code).toBe("failed");
  });

  it("a state that cannot be saved after a completed switch is verified once space returns, not rolled back", async () => {
    let full = true;
    let rollbacks = 0;
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
    const w = world({ saveFails: (s) => (full && s.cycle.phase === "verifying" ? enospc : null), rollback: async () => void rollbacks++ });
    const d = new Driver(w.deps);
    const r1 = await d.runCycle();
    expect(r1.code).toBe("error");
    expect(r1.message).toMatch(/ENOSPC/);
    expect(w.saved().cycle.phase).toBe("activating"); // the disk still says activating…
    expect(w.profile()).toBe("/nix/store/new"); // …but the switch completed
    expect((await d.runCycle()).code).toBe("error"); // still full: nothing else happens
    full = false;
    const r2 = await d.runCycle();
    expect(r2.code).toBe("ok");
    expect(rollbacks).toBe(0);
    expect(w.saved()).toMatchObject({ cycle: { phase: "done" }, current: { rev: HEAD, generation: "/nix/store/new" }, failedRevs: [] });
    const story = w.events.map((e) => `${e.phase}/${e.outcome}/${e.reason}`);
    expect(story.filter((e) => /Interrupted|rollingBack|rolledBack/.test(e))).toEqual([]);
    expect(story.filter((e) => e === "activating/succeeded/Progressing")).toHaveLength(1); // queued once, never lost or repeated
    expect((w.deps.log as ReturnType<typeof memoryLogger>).lines.some((l) => /interrupted by a restart/.test(l))).toBe(false);
  });

  it("a stop request never lands between saving `activating` and the switch", async () => {
    const stop = new AbortController();
    const w = world({});
    w.deps.afterSave = async (phase) => {
      if (phase === "activating") stop.abort();
    };
    const r = await new Driver(w.deps).runCycle(stop.signal);
    expect(r.code).toBe("error");
    expect(w.saved().cycle.phase).toBe("verifying"); // the switch ran and its outcome is recorded
    expect(w.profile()).toBe("/nix/store/new");
    expect(w.events.map((e) => `${e.phase}/${e.outcome}`).slice(-2)).toEqual(["activating/started", "activating/succeeded"]);
  });

  it("a failed rollback is its own loud, stalled state until an operator retries", async () => {
    let broken = true;
    const w = world({
      activate: async () => {
        throw new Error("switch exploded");
      },
      rollback: async () => {
        if (broken) throw Object.assign(new Error("profile locked"), { reason: "RollbackFailed" });
      },
    });
    const d = new Driver(w.deps);
    const r = await d.runCycle();
    expect(r.code).toBe("stalled");
    expect(w.saved().cycle.phase).toBe("rollbackFailed");
    expect(w.events.at(-1)).toMatchObject({ phase: "rollbackFailed", outcome: "failed", reason: "RollbackFailed" });
    expect((w.deps.log as ReturnType<typeof memoryLogger>).lines.some((l) => /^error .*ROLLBACK FAILED/.test(l))).toBe(true);
    // Stays stalled: the next cycle does not poll or deploy.
    expect((await d.runCycle()).code).toBe("stalled");
    broken = false;
    w.requestRetry(null);
    const after = await d.runCycle();
    expect(w.saved().cycle.phase).toBe("rolledBack");
    expect(w.profile()).toBe("/nix/store/old");
    expect(after.code).toBe("failed");
  });

  it("a first deploy that fails after switching ends in firstDeployFailed (no rollback, no ROLLBACK FAILED); retry deploys it again", async () => {
    let broken = true;
    let rollbacks = 0;
    const w = world({
      profile: null,
      rollback: async () => void rollbacks++,
    });
    w.deps.health.verify = async (_checks, on) => [{ check: "app", ok: !broken, time: "2026-01-01T00:00:00.000Z", rev: on.rev, generation: on.generation }];
    const d = new Driver(w.deps);
    const r = await d.runCycle();
    expect(r.code).toBe("stalled");
    expect(r.reason).toBe("NoPreviousGeneration");
    expect(r.message).toMatch(/nothing to roll back to/);
    expect(w.saved().cycle).toMatchObject({ phase: "firstDeployFailed", generation: "/nix/store/new", error: { reason: "HealthCheckFailed" } });
    expect(w.saved().failedRevs).toEqual([expect.objectContaining({ rev: HEAD, generation: "/nix/store/new" })]);
    expect(w.events.at(-1)).toMatchObject({ phase: "firstDeployFailed", outcome: "failed", reason: "NoPreviousGeneration", blamed: true });
    expect(rollbacks).toBe(0);
    expect((w.deps.log as ReturnType<typeof memoryLogger>).lines.some((l) => /ROLLBACK FAILED/.test(l))).toBe(false);
    // Still stalled on the same head (the failed revision is not retried by itself).
    expect((await d.runCycle()).code).toBe("stalled");
    broken = false;
    w.requestRetry(null);
    const after = await d.runCycle();
    expect(after.code).toBe("ok");
    expect(w.saved()).toMatchObject({ cycle: { phase: "done" }, current: { rev: HEAD, generation: "/nix/store/new" }, failedRevs: [] });
  });

  it("a failure before anything was switched ends in failed: no rollback, nothing blamed on the running system", async () => {
    let rollbacks = 0;
    const refused = Object.assign(new SecretsError("secret db-password: no key of this host can decrypt secrets/db.yaml", { unchanged: true }));
    const w = world({ rollback: async () => void rollbacks++ });
    w.deps.secrets.install = async () => {
      throw refused;
    };
    const r = await new Driver(w.deps).runCycle();
    expect(r.code).toBe("failed");
    expect(r.reason).toBe("SecretsFailed");
    expect(w.saved().cycle).toMatchObject({ phase: "failed", error: { reason: "SecretsFailed" } });
    expect(w.saved().failedRevs.map((f) => f.rev)).toEqual([HEAD]);
    expect(rollbacks).toBe(0);
    expect(w.profile()).toBe("/nix/store/old");
    expect(w.events.map((e) => `${e.phase}/${e.outcome}`).slice(-2)).toEqual(["activating/started", "failed/failed"]);
  });
});
