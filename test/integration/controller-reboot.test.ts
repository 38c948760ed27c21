// operation boot and reboot-needed detection through the real controller
// (SQLite) and a real agent (`once` through the CLI, real nix): a canary
// that stages a new kernel for the next boot is reported pendingReboot and
// needsReboot, is not counted healthy (the next wave stays shut), shows in
// status (JSON, text, markdown), the dashboard and /metrics; once it has
// booted the generation and passed its checks there, the wave is promoted.
import { afterAll, describe, expect, it } from "vitest";
import type { StatusReport } from "../../schemas/src/api.js";
import { renderStatusMarkdown, renderStatusText } from "../../controller/src/report/render-text.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { api, startTestController } from "./controller/harness.js";
import { waitFor, World } from "./agent/helpers.js";

afterAll(async () => {
  await cleanupTempDirs();
});

describe("controller: boot deploys and reboots", () => {
  it("keeps the next wave shut while the canary's boot deploy is unverified, shows needsReboot, and promotes after the reboot", async () => {
    const w = await World.create({ host: "canary-1" });
    const waves = [
      { name: "canary", members: ["canary-1"] },
      { name: "web", members: ["web-1"] },
    ];
    const hosts = (operation?: string) => [{ name: "canary-1", ...(operation ? { operation } : {}) }, { name: "web-1" }];
    const c1 = await w.commit({ "fleet.yaml": w.fleet({ hosts: hosts(), waves }) }, "c1");
    const ctl = await startTestController({ repo: w.repo, pollInterval: "1s" });
    try {
      await w.writeConfig({ ...w.config, controller: ctl.url });
      const status = async () => (await api<StatusReport>(ctl.url, "/api/v1/status")).body;
      await waitFor("the controller saw c1", async () => (await status()).head === c1, 30_000, 100);
      expect((await w.once()).code).toBe(0);
      await w.reboot((await w.activeGeneration())!);

      const c2 = await w.commit({ "fleet.yaml": w.fleet({ hosts: hosts("boot"), waves }), "hosts/canary-1/host.nix": '{ kernel = "6.7.0-flotilla-new"; }\n' }, "c2: new kernel, at the next boot");
      await waitFor("the controller saw c2", async () => (await status()).head === c2, 30_000, 100);
      const r = await w.once();
      expect(r.code, r.err).toBe(0);
      const canary = async () => (await status()).hosts.find((h) => h.host === "canary-1")!;
      await waitFor("the staged deploy reported", async () => (await canary()).pendingReboot, 30_000, 100);
      const s1 = await status();
      expect(s1.hosts.find((h) => h.host === "canary-1")).toMatchObject({ currentRev: c1, pendingReboot: true, needsReboot: true, health: "Progressing" });
      const rollout = s1.rollouts.find((x) => x.rev === c2)!;
      expect(rollout.waves.map((x) => [x.name, x.state, x.healthy])).toEqual([
        ["canary", "progressing", 0],
        ["web", "pending", 0],
      ]);
      expect(renderStatusText(s1)).toMatch(/1 host\(s\) need a reboot: canary-1 \(staged for boot, unverified\)/);
      expect(renderStatusText(s1)).toMatch(/REBOOT\n.*PENDING \(staged for boot\)/s);
      expect(renderStatusMarkdown(s1)).toContain("| Reboot |");
      const metrics = (await api<string>(ctl.url, "/metrics")).body;
      expect(metrics).toMatch(/^flotilla_hosts_needing_reboot 1$/m);
      const page = (await api<string>(ctl.url, "/")).body;
      expect(page).toContain('data-host="canary-1" data-health="Progressing" data-reboot="pending"');
      expect(page).toContain('id="needs-reboot"');

      // The host boots it; the agent verifies it there: healthy, no reboot needed, the canary wave promoted.
      await w.reboot(await w.build(c2));
      const r2 = await w.once();
      expect(r2.code, r2.err).toBe(0);
      await waitFor("the canary wave promoted", async () => (await status()).rollouts.find((x) => x.rev === c2)?.waves[0]?.state === "promoted", 30_000, 100);
      expect(await canary()).toMatchObject({ currentRev: c2, pendingReboot: false, needsReboot: false, health: "Healthy" });
      // (the controller caches the status behind /metrics for a second)
      await waitFor("the metric cleared", async () => /^flotilla_hosts_needing_reboot 0$/m.test((await api<string>(ctl.url, "/metrics")).body), 10_000, 200);
    } finally {
      await ctl.stop();
      await w.close();
    }
  });
});
