// Reboot coordination end to end: a real controller (SQLite) holds the
// fleet-wide reboot semaphore; a real agent (`flotilla-agent once` through
// its CLI, real git and nix) whose new generation changes the kernel takes
// the lease, runs the reboot command — a thin stand-in at the process
// boundary that "boots" the current system by re-pointing the fixture's
// booted-system link — then verifies what booted and releases the lease.
// Another host's lease makes it wait; a boot into the wrong generation keeps
// the lease, blocked, in status.
import { chmod, readFile, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { StatusReport, TransitionEvent } from "../../schemas/src/api.js";
import { memoryLogger } from "../../common/src/log.js";
import { startController } from "../../controller/src/server.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { api, controllerConfig, READ_TOKEN } from "./controller/harness.js";
import { waitFor, World } from "./agent/helpers.js";

afterAll(async () => {
  await cleanupTempDirs();
});

const REBOOT = `#!/bin/sh
# Stand-in for systemctl reboot: record the call, then "boot" the current system (or boot-instead).
echo reboot >> "$FLOTILLA_FIXTURE_RUN/reboots"
if [ -e "$FLOTILLA_FIXTURE_RUN/boot-instead" ]; then target=$(cat "$FLOTILLA_FIXTURE_RUN/boot-instead"); else target=$(readlink -f "$FLOTILLA_FIXTURE_RUN/current-system"); fi
ln -sfn "$target" "$FLOTILLA_FIXTURE_RUN/booted-system"
`;

describe("reboot coordination with a real controller and agent", () => {
  it("takes the lease inside maxConcurrent, reboots, verifies the generation and releases; a wrong boot blocks", async () => {
    const w = await World.create({ host: "canary-1" });
    const fleet = JSON.parse(w.fleet({ hosts: [{ name: "canary-1" }, { name: "web-1" }] })) as Record<string, unknown>;
    fleet.reboot = { policy: "auto", maxConcurrent: 1, timeout: "10m" };
    const yaml = JSON.stringify(fleet, null, 2);
    const c1 = await w.commit({ "fleet.yaml": yaml }, "c1: reboot policy auto");
    const ctl = await startController(await controllerConfig({ repo: w.repo, pollInterval: "1s" }), { log: memoryLogger("controller"), tickMs: 100 });
    const rebootScript = join(w.bin, "reboot-standin");
    await writeFile(rebootScript, REBOOT);
    await chmod(rebootScript, 0o755);
    const rebootsFile = join(w.runDir, "reboots");
    const reboots = async () => (existsSync(rebootsFile) ? (await readFile(rebootsFile, "utf8")).trim().split("\n").length : 0);
    await w.writeConfig({
      controller: ctl.url,
      commands: { nixosRebuild: join(w.bin, "nixos-rebuild"), systemctl: join(w.bin, "systemctl"), runAs: [], reboot: [rebootScript] },
    });
    const events = async () => (await ctl.store.auditEvents({ host: "canary-1" })).map((e) => JSON.parse(e.payload) as TransitionEvent).sort((a, b) => a.seq - b.seq);
    const status = async () => (await api<StatusReport>(ctl.url, "/api/v1/status")).body.hosts.find((h) => h.host === "canary-1")!;
    try {
      await waitFor("controller saw c1", async () => (await api<StatusReport>(ctl.url, "/api/v1/status")).body.head === c1, 60_000, 100);
      expect((await w.once()).code).toBe(0);
      const gen1 = (await w.activeGeneration())!;
      await w.reboot(gen1);
      expect(await status()).toMatchObject({ reboot: { policy: "auto", state: "none", expectedGeneration: null } });

      // web-1 holds the only lease (it is rebooting).
      await ctl.store.putRebootLease({ host: "web-1", generation: "/nix/store/web-gen", acquiredMs: Date.now(), expiresMs: Date.now() + 600_000, booted: null });
      const c2 = await w.commit({ "hosts/canary-1/host.nix": '{ kernel = "6.7.0-flotilla-new"; }\n' }, "c2: new kernel");
      await waitFor("controller saw c2", async () => (await api<StatusReport>(ctl.url, "/api/v1/status")).body.head === c2, 60_000, 100);
      const r2 = await w.once();
      expect(r2.code, r2.err).toBe(0);
      const gen2 = await w.build(c2);
      expect((await w.state()).cycle).toMatchObject({ phase: "done", generation: gen2, needsReboot: true });
      expect((await w.state()).cycle).not.toHaveProperty("reboot");
      expect(await reboots()).toBe(0);

      // An operator releases web-1's lease (a read token may not).
      expect((await api(ctl.url, "/api/v1/hosts/web-1/reboot-lease/release", { method: "POST", body: { reason: "web-1 is back" }, token: READ_TOKEN })).status).toBe(403);
      expect((await api(ctl.url, "/api/v1/hosts/web-1/reboot-lease/release", { method: "POST", body: {} })).status).toBe(400);
      const rel = await api<{ released: boolean }>(ctl.url, "/api/v1/hosts/web-1/reboot-lease/release", { method: "POST", body: { reason: "web-1 is back" } });
      expect(rel).toMatchObject({ status: 200, body: { released: true } });

      // Now canary-1 takes the lease and reboots (one cycle: take, save, reboot).
      expect((await w.once()).code).toBe(0);
      expect(await reboots()).toBe(1);
      expect((await w.state()).cycle).toMatchObject({ reboot: { generation: gen2, issued: true } });
      expect(await status()).toMatchObject({ reboot: { state: "holding", expectedGeneration: gen2 } });
      expect((await ctl.store.rebootLeases()).map((l) => [l.host, l.generation])).toEqual([["canary-1", gen2]]);

      // After the boot: verified on gen2, lease released, needsReboot cleared.
      expect((await w.once()).code).toBe(0);
      expect((await w.state()).cycle).toMatchObject({ phase: "done", generation: gen2, needsReboot: false });
      expect((await w.state()).cycle).not.toHaveProperty("reboot");
      expect(await ctl.store.rebootLeases()).toEqual([]);
      const ev = await events();
      expect(ev.filter((e) => e.reason === "Rebooting" || e.reason === "RebootVerified").map((e) => [e.reason, e.generation])).toEqual([
        ["Rebooting", gen2],
        ["RebootVerified", gen2],
      ]);
      expect(await status()).toMatchObject({ needsReboot: false, reboot: { state: "none" } });

      // A kernel change whose reboot comes back on an older generation (a bootloader fallback): the lease stays, blocked.
      // (Coming back on the very system it booted before is indistinguishable from "not rebooted yet": then the lease
      // expires and blocks the same way; docs/operations.md.)
      const c3 = await w.commit({ "hosts/canary-1/host.nix": '{ kernel = "6.8.0-flotilla-newer"; }\n' }, "c3: newer kernel");
      await waitFor("controller saw c3", async () => (await api<StatusReport>(ctl.url, "/api/v1/status")).body.head === c3, 60_000, 100);
      await writeFile(join(w.runDir, "boot-instead"), gen1);
      expect((await w.once()).code).toBe(0); // deploy c3 (the reboot step runs before each poll: next cycle)
      const gen3 = await w.build(c3);
      expect(await reboots()).toBe(1);
      expect((await w.once()).code).toBe(0); // take the lease, "reboot" (into gen2)
      expect(await reboots()).toBe(2);
      expect((await w.once()).code).toBe(0);
      expect((await w.state()).cycle).toMatchObject({ generation: gen3, reboot: { generation: gen3, failed: true } });
      expect((await events()).find((e) => e.reason === "RebootUnexpectedGeneration")!.message).toContain(`booted ${gen1} instead of ${gen3}`);
      expect(await status()).toMatchObject({ reboot: { state: "blocked", expectedGeneration: gen3 } });
      expect(await ctl.store.rebootLeases()).toEqual([expect.objectContaining({ host: "canary-1", generation: gen3, booted: gen1 })]);
      // No further reboot attempts for that generation.
      expect((await w.once()).code).toBe(0);
      expect(await reboots()).toBe(2);
    } finally {
      await ctl.stop();
      await w.close();
    }
  }, 600_000);
});
