// NixOS operations and reboots, end to end on real git and real nix: the
// offline fleet's toplevels link kernel, initrd and kernel-modules into a
// stand-in kernel package (one store path per kernel version); the world's
// run dir stands in for /run (booted-system, current-system), and
// `World.reboot` is the host booting a generation.
import { afterAll, describe, expect, it } from "vitest";
import { readlink } from "node:fs/promises";
import { join } from "node:path";
import { PromMetrics } from "../../node-agent/src/adapters/metrics.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { World } from "./agent/helpers.js";

afterAll(async () => {
  await cleanupTempDirs();
});

/** A host running (and booted into) a first verified commit. */
async function bootedWorld() {
  const w = await World.create();
  const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
  const r = await w.once();
  expect(r.code, r.err).toBe(0);
  const gen1 = (await w.activeGeneration())!;
  await w.reboot(gen1);
  return { w, c1, gen1 };
}

describe("operation boot", () => {
  it("is done but unverified (pendingReboot) until the host boots it; then verified: a bad one rolls back, a good one is healthy", async () => {
    const { w, c1, gen1 } = await bootedWorld();
    const boot = w.fleet({ hosts: [{ name: w.host, operation: "boot" }] });
    const bad = await w.commit({ "fleet.yaml": boot, "markers/canary-1/unhealthy": "" }, "boot a bad generation");
    const r1 = await w.once();
    expect(r1.code, r1.err).toBe(0);
    expect(r1.out).toContain("is staged for the next boot, its health unverified until the host has booted it");
    const gen2 = await w.build(bad);
    expect(await w.activeGeneration()).toBe(gen2); // the bootloader default
    expect((await w.calls()).filter((c) => c.revision === bad).map((c) => c.operation)).toEqual(["boot"]);
    let s = await w.state();
    expect(s.cycle).toMatchObject({ phase: "done", generation: gen2, pendingReboot: true });
    expect(s.current).toEqual({ rev: c1, generation: gen1 }); // what runs, verified
    let events = await w.events();
    // No check ran on the old system under the new generation's name; the done event says it is unverified.
    expect(events.flatMap((e) => e.health ?? []).filter((h) => h.generation === gen2)).toEqual([]);
    expect(events.filter((e) => e.rev === bad && e.phase === "done")).toEqual([expect.objectContaining({ outcome: "succeeded", reason: "PendingReboot", pendingReboot: true, generation: gen2 })]);
    // Nothing changes until the host boots it.
    expect((await w.once()).code).toBe(0);
    expect((await w.state()).cycle).toMatchObject({ phase: "done", pendingReboot: true });

    // The host boots the bad generation: now its checks run on it, fail, and the previous one is staged again.
    await w.reboot(gen2);
    const r2 = await w.once();
    expect(r2.code).toBe(1);
    s = await w.state();
    expect(s.cycle.phase).toBe("rolledBack");
    expect(s.failedRevs.map((f) => f.rev)).toEqual([bad]);
    expect(await w.activeGeneration()).toBe(gen1);
    expect((await w.calls()).filter((c) => c.outPath === gen1).map((c) => c.operation).at(-1)).toBe("boot");
    events = await w.events();
    const verified = events.filter((e) => e.rev === bad && e.phase === "verifying" && e.outcome === "failed");
    expect(verified).toHaveLength(1);
    expect(verified[0]!.health!.filter((h) => !h.ok).every((h) => h.generation === gen2 && h.rev === bad)).toBe(true);
    expect(events.filter((e) => e.rev === bad && e.phase === "rolledBack")).toEqual([expect.objectContaining({ pendingReboot: true })]);

    // A good generation: staged, then verified healthy after the reboot; only then does it count as current.
    await w.reboot(gen1);
    const good = await w.commit({ "markers/canary-1/unhealthy": null }, "fixed");
    expect((await w.once()).code).toBe(0);
    const gen3 = await w.build(good);
    expect((await w.state()).cycle).toMatchObject({ phase: "done", pendingReboot: true, generation: gen3 });
    await w.reboot(gen3);
    const r3 = await w.once();
    expect(r3.code, r3.err).toBe(0);
    expect(r3.out).toContain(`healthy on ${good.slice(0, 12)}`);
    s = await w.state();
    expect(s.cycle).toMatchObject({ phase: "done", pendingReboot: false, generation: gen3 });
    expect(s.current).toEqual({ rev: good, generation: gen3 });
    events = await w.events();
    const done = events.filter((e) => e.rev === good && e.phase === "done");
    expect(done.map((e) => [e.reason, e.pendingReboot ?? false])).toEqual([
      ["PendingReboot", true],
      ["Succeeded", false],
    ]);
    expect(done[1]!.health!.length).toBeGreaterThan(0);
    expect(done[1]!.health!.every((h) => h.ok && h.generation === gen3)).toBe(true);
    await w.close();
  });
});

describe("operation test", () => {
  it("rolls a failed deploy back to the generation that was running, not the profile's", async () => {
    const { w, c1, gen1 } = await bootedWorld();
    const test = w.fleet({ hosts: [{ name: w.host, operation: "test" }] });
    const c2 = await w.commit({ "fleet.yaml": test }, "c2 under test");
    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    const gen2 = await w.build(c2);
    expect(await readlink(join(w.runDir, "current-system"))).toBe(gen2);
    expect(await w.activeGeneration()).toBe(gen1); // a test activation never moves the profile
    expect((await w.state()).current).toEqual({ rev: c2, generation: gen2 });

    const bad = await w.commit({ "markers/canary-1/unhealthy": "" }, "bad under test");
    const r2 = await w.once();
    expect(r2.code).toBe(1);
    const s = await w.state();
    expect(s.cycle).toMatchObject({ phase: "rolledBack", previous: { rev: c2, generation: gen2 } });
    expect(s.current).toEqual({ rev: c2, generation: gen2 });
    expect(await readlink(join(w.runDir, "current-system"))).toBe(gen2);
    expect((await w.hostState()).currentRevision).toBe(c2);
    expect(s.failedRevs.map((f) => f.rev)).toEqual([bad]);
    expect(c1).not.toBe(c2);
    await w.close();
  });
});

describe("reboot-needed detection", () => {
  it("reports needsReboot when the kernel changes, in events, the state and the agent's metrics, and clears it after the reboot", async () => {
    const { w } = await bootedWorld();
    const metrics = async () => {
      const m = new PromMetrics();
      m.observe(await w.state(), 0);
      return (await m.text()).split("\n").find((l) => l.startsWith("flotilla_agent_needs_reboot "));
    };
    expect(await metrics()).toBe("flotilla_agent_needs_reboot 0");
    const same = await w.commit({ "notes.txt": "same kernel\n" }, "same kernel");
    expect((await w.once()).code).toBe(0);
    const newKernel = await w.commit({ "hosts/canary-1/host.nix": '{ kernel = "6.7.0-flotilla-new"; }\n' }, "new kernel");
    const r = await w.once();
    expect(r.code, r.err).toBe(0);
    const gen = await w.build(newKernel);
    let events = await w.events();
    const doneOf = (rev: string) => events.filter((e) => e.rev === rev && e.phase === "done" && e.outcome === "succeeded");
    expect(doneOf(same).map((e) => e.needsReboot)).toEqual([false]);
    expect(doneOf(newKernel).map((e) => e.needsReboot)).toEqual([true]);
    expect((await w.state()).cycle).toMatchObject({ phase: "done", needsReboot: true });
    expect(await metrics()).toBe("flotilla_agent_needs_reboot 1");
    // A change that keeps the new kernel still needs the reboot (the booted kernel is the old one).
    const more = await w.commit({ "notes.txt": "more\n" }, "more");
    expect((await w.once()).code).toBe(0);
    events = await w.events();
    expect(doneOf(more).map((e) => e.needsReboot)).toEqual([true]);
    // The host reboots: the flag is cleared and reported.
    await w.reboot((await w.activeGeneration())!);
    expect((await w.once()).code).toBe(0);
    events = await w.events();
    expect(doneOf(more).map((e) => e.needsReboot)).toEqual([true, false]);
    expect(await metrics()).toBe("flotilla_agent_needs_reboot 0");
    expect(gen).not.toBe(await w.activeGeneration());
    await w.close();
  });
});
