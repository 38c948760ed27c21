import { describe, expect, it } from "vitest";
import { memoryLogger } from "../../../common/src/log.js";
import { MemoryPorts } from "./memory-ports.js";
import { installableOf, nixSystem, type SelfUpdateSpec } from "./types.js";
import { runSelfUpdate, type UpdateContext } from "./updater.js";

const spec: SelfUpdateSpec = { source: "github:acme/flotilla/0123456789abcdef0123456789abcdef01234567", schedule: "0 4 * * *", randomDelayMs: 0, healthDeadlineMs: 120_000 };
const ctx = (over: Partial<UpdateContext> = {}): UpdateContext => ({ spec, startedFrom: "/nix/store/v1", system: "x86_64-linux", log: memoryLogger(), ...over });

describe("runSelfUpdate", () => {
  it("builds, self-tests, records the pending update before switching the profile, and asks for a restart", async () => {
    const p = new MemoryPorts();
    let recordAtSwitch: unknown = null;
    const set = p.setProfile.bind(p);
    p.setProfile = async (path) => {
      recordAtSwitch = structuredClone(p.record.pending);
      await set(path);
    };
    const r = await runSelfUpdate(ctx(), p);
    expect(r).toEqual({ kind: "restart", target: "/nix/store/v2" });
    expect(p.profileSets).toEqual(["/nix/store/v2"]);
    expect(recordAtSwitch).toMatchObject({ target: "/nix/store/v2", previous: "/nix/store/v1", version: "2.0.0", deadlineMs: 120_000 });
    expect(p.story()).toEqual(["started/SelfUpdateBuilt", "started/SelfTestPassed", "started/AgentProfileSwitched"]);
    expect(p.events.every((e) => e.phase === "selfUpdate" && e.rev === null)).toBe(true);
    expect(p.events[2]).toMatchObject({ generation: "/nix/store/v2", previous: { rev: null, generation: "/nix/store/v1" } });
  });

  it("skips, reported once, when the build is the running agent or the profile already holds it", async () => {
    const p = new MemoryPorts();
    p.buildResult = "/nix/store/v1";
    expect(await runSelfUpdate(ctx(), p)).toEqual({ kind: "skipped", reason: "AgentUpToDate" });
    expect(await runSelfUpdate(ctx(), p)).toEqual({ kind: "skipped", reason: "AgentUpToDate" });
    expect(p.story()).toEqual(["skipped/AgentUpToDate"]);
    p.profile = "/nix/store/v2";
    p.buildResult = "/nix/store/v2";
    await runSelfUpdate(ctx(), p);
    expect(p.story()).toEqual(["skipped/AgentUpToDate", "skipped/AgentUpToDate"]);
    expect(p.profileSets).toEqual([]);
  });

  it("never installs a target that failed before: its own record or the start wrapper's failed=", async () => {
    const p = new MemoryPorts();
    p.record.failed = ["/nix/store/v2"];
    expect((await runSelfUpdate(ctx(), p)).kind).toBe("skipped");
    const q = new MemoryPorts();
    q.wrapperFailedPath = "/nix/store/v2";
    expect(await runSelfUpdate(ctx(), q)).toEqual({ kind: "skipped", reason: "PreviouslyFailed" });
    expect(q.events[0]!.message).toMatch(/start wrapper judged it crash-looping/);
    expect([...p.profileSets, ...q.profileSets]).toEqual([]);
  });

  it("refuses without the start wrapper (FLOTILLA_AGENT_STARTED_FROM unset): a switched profile would never run", async () => {
    const p = new MemoryPorts();
    expect(await runSelfUpdate(ctx({ startedFrom: null }), p)).toEqual({ kind: "skipped", reason: "SelfUpdateUnsupported" });
    expect(p.builds).toBe(0);
  });

  it("reports a failed build, self-test or profile switch and changes nothing", async () => {
    const p = new MemoryPorts();
    p.buildResult = new Error("exit 1: error: flake has no attribute");
    expect(await runSelfUpdate(ctx(), p)).toMatchObject({ kind: "failed", reason: "BuildFailed" });
    p.buildResult = "/nix/store/v2";
    p.selfTestResult = { ok: false, version: "2.0.0", detail: '{"ok":false,"checks":[{"name":"remote","ok":false}]}' };
    expect(await runSelfUpdate(ctx(), p)).toMatchObject({ kind: "failed", reason: "SelfTestFailed" });
    p.selfTestResult = { ok: true, version: "2.0.0", detail: "{}" };
    p.failSetProfile = true;
    expect(await runSelfUpdate(ctx(), p)).toMatchObject({ kind: "failed", reason: "ProfileSwitchFailed" });
    expect(p.record.pending).toBeNull();
    expect(p.profile).toBe("/nix/store/v1");
    expect(p.events.filter((e) => e.outcome === "failed").map((e) => e.error?.reason)).toEqual(["BuildFailed", "SelfTestFailed", "ProfileSwitchFailed"]);
  });

  it("builds <source>#packages.<system>.flotilla unless an attribute is given", () => {
    expect(installableOf(spec, "x86_64-linux")).toBe(`${spec.source}#packages.x86_64-linux.flotilla`);
    expect(installableOf({ ...spec, attribute: "packages.x86_64-linux.agent" }, "x")).toBe(`${spec.source}#packages.x86_64-linux.agent`);
    expect(nixSystem("x64", "linux")).toBe("x86_64-linux");
    expect(nixSystem("arm64", "linux")).toBe("aarch64-linux");
  });
});
