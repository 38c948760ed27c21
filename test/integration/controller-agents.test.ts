// End to end with real agents: two built `flotilla-agent run` daemons
// (canary-1, web-1) building the offline test fleet with real nix, reporting
// to a real controller (SQLite) over 127.0.0.1. Canary healthy → web deploys
// after the soak; a commit that breaks the canary's activation halts: web-1
// never receives it, and status says so.
import { describe, expect, it } from "vitest";
import { startTestController } from "./controller/harness.js";
import { waitFor } from "./agent/helpers.js";
import { startDaemons, statusOf, stopAll, useBuiltAgent, worlds } from "./agent/daemons.js";

useBuiltAgent();

describe("controller with real agents", () => {
  it("gates web on a healthy canary, then halts a commit the canary fails", async () => {
    const ws = await worlds("canary-1", "web-1");
    const [canary] = ws;
    const waves = [
      { name: "canary", members: ["canary-1"], soak: "2s" },
      { name: "web", members: ["web-1"] },
    ];
    const fleet = canary.fleet({ hosts: [{ name: "canary-1" }, { name: "web-1" }], waves });
    const c1 = await canary.commit({ "fleet.yaml": fleet }, "c1: canary then web");
    const ctl = await startTestController({ repo: canary.repo, pollInterval: "1s" });
    const daemons = await startDaemons(ctl.url, ws);
    const status = statusOf(ctl.url);
    try {
      await waitFor("c1 rolled out to both", async () => (await status()).rollouts[0]?.state === "complete", 180_000, 200);
      const s1 = await status();
      expect(s1.hosts.map((h) => [h.host, h.currentRev, h.health, h.drift])).toEqual([
        ["canary-1", c1, "Healthy", false],
        ["web-1", c1, "Healthy", false],
      ]);
      const decisions = await ctl.store.decisions(c1);
      const promoted = decisions.find((d) => d.wave === "canary" && d.state === "promoted")!;
      const soaking = decisions.find((d) => d.wave === "canary" && d.state === "soaking")!;
      expect(promoted.effectiveMs - soaking.effectiveMs).toBe(2_000);
      const webStart = (await ctl.store.auditEvents({ host: "web-1" })).map((e) => JSON.parse(e.payload) as { rev: string; phase: string; time: string }).find((e) => e.rev === c1 && e.phase === "activating");
      expect(Date.parse(webStart!.time)).toBeGreaterThanOrEqual(promoted.effectiveMs - 1_000); // never before the soak ended (1 s clock slack)

      const c2 = await canary.commit({ "markers/canary-1/fail-switch": "" }, "c2: breaks the canary's activation");
      await waitFor("c2 halted", async () => (await status()).rollouts.find((r) => r.rev === c2)?.state === "halted", 180_000, 200);
      const s2 = await status();
      expect(s2.hosts.find((h) => h.host === "canary-1")).toMatchObject({ currentRev: c1, failedRevs: [c2] });
      expect(s2.rollouts[0]!.waves.map((w) => w.state)).toEqual(["halted", "halted"]);
      await new Promise((r) => setTimeout(r, 4_000)); // two more agent polls
      const webAfter = (await status()).hosts.find((h) => h.host === "web-1")!;
      expect(webAfter).toMatchObject({ currentRev: c1, desiredRev: c1, drift: false });
      const webEvents = (await ctl.store.auditEvents({ host: "web-1" })).map((e) => JSON.parse(e.payload) as { rev: string | null; phase: string });
      expect(webEvents.some((e) => e.rev === c2 && ["activating", "built", "done"].includes(e.phase))).toBe(false);
    } finally {
      await stopAll(daemons, ctl, ws);
    }
  }, 400_000);
});
