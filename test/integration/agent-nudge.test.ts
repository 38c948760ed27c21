// The controller's nudge, end to end: the built agent daemon (`flotilla-agent
// run`, poll interval 1 h, so only the long-poll can wake it) against a real
// controller on 127.0.0.1. A merge the controller sees reaches the canary's
// activation at once; a later-wave host waiting on its gate deploys when the
// wave opens; a controller outage makes the watch back off, not spin.
// Latencies are printed, not asserted tightly: benchmarks measure, tests don't time.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadHostSigner } from "../../common/src/signing.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { SimAgent, startTestController } from "./controller/harness.js";
import { buildAgent, waitFor, World } from "./agent/helpers.js";

beforeAll(async () => {
  await buildAgent();
}, 300_000);

afterAll(async () => {
  await cleanupTempDirs();
});

/** When (agent clock, ms) `host` reported each transition for `rev`, from the controller's audit trail. */
async function eventTimes(ctl: { store: { auditEvents(q: { host: string }): Promise<{ timeMs: number; payload: string }[]> } }, host: string, rev: string) {
  const events = await waitFor(`${host}'s events for ${rev.slice(0, 12)}`, async () => {
    const es = (await ctl.store.auditEvents({ host })).map((e) => ({ timeMs: e.timeMs, ...(JSON.parse(e.payload) as { rev: string | null; phase: string; outcome: string }) }));
    return es.some((e) => e.rev === rev && e.phase === "done") ? es : null;
  });
  return (phase: string, outcome: string) => {
    const e = events.find((x) => x.rev === rev && x.phase === phase && x.outcome === outcome);
    if (!e) throw new Error(`no ${phase}/${outcome} event of ${host} for ${rev.slice(0, 12)}`);
    return e.timeMs;
  };
}

const DAEMON = { pollInterval: "1h", jitter: "0", heartbeatInterval: "1h" };

describe("agent nudge (controller long-poll)", () => {
  it("a merge the controller sees reaches the canary's activation without waiting for the poll interval", async () => {
    const w = await World.create();
    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    const ctl = await startTestController({ repo: w.repo });
    await w.writeConfig({ ...DAEMON, controller: ctl.url });
    const daemon = w.spawnBuilt(["run"]);
    try {
      await waitFor("c1 deployed", async () => (await w.state().catch(() => null))?.current?.rev === c1, 60_000, 50);
      await waitFor("the agent's long-poll", () => ctl.coordinator.hub.size > 0, 10_000, 20);
      const c2 = await w.commit({ "notes.txt": "2" }, "c2");
      await ctl.follower.poke("test");
      const seen = Date.now();
      expect(ctl.follower.head()).toBe(c2);
      await waitFor("c2 deployed", async () => (await w.state().catch(() => null))?.current?.rev === c2, 60_000, 50);
      const at = await eventTimes(ctl, w.host, c2);
      const fetched = at("fetched", "succeeded") - seen;
      const activating = at("activating", "started") - seen;
      console.log(`nudge: controller saw c2 → agent fetched ${fetched} ms, activation started ${activating} ms`);
      expect(daemon.output()).toMatch(/nudged: the controller saw a new head/);
      expect(fetched).toBeLessThan(10_000);
      expect(activating).toBeLessThan(30_000);
    } finally {
      if (daemon.exitCode === null) process.kill(-daemon.pid!, "SIGKILL");
      await ctl.stop();
      await w.close();
    }
  });

  it("a host waiting for its wave gate deploys when the controller opens it; an outage backs the watch off", async () => {
    const w = await World.create({ host: "web-1" });
    const waves = [
      { name: "canaries", members: ["canary-1"], soak: "1s" },
      { name: "web", members: ["web-1"] },
    ];
    const c1 = await w.commit({ "fleet.yaml": w.fleet({ hosts: [{ name: "canary-1" }, { name: "web-1" }], waves }) }, "c1");
    const ctl = await startTestController({ repo: w.repo });
    const canary = new SimAgent(await loadHostSigner("canary-1", w.otherKey.path), ctl.url);
    expect((await canary.send(canary.heartbeat({ healthy: true }))).status).toBe(200);
    await w.writeConfig({ ...DAEMON, controller: ctl.url });
    const daemon = w.spawnBuilt(["run"]);
    try {
      await waitFor("web-1 waiting for its gate", async () => (await w.state().catch(() => null))?.lastOutcome?.reason === "GateWaiting", 60_000, 50);
      await waitFor("the agent's long-poll", () => ctl.coordinator.hub.size > 0, 10_000, 20);

      expect((await canary.send(...canary.deployed(c1))).status).toBe(200);
      await waitFor("c1 deployed on web-1", async () => (await w.state().catch(() => null))?.current?.rev === c1, 60_000, 50);
      const opened = (await ctl.store.decisions(c1)).find((d) => d.wave === "web" && d.state === "progressing")!;
      const fetched = (await eventTimes(ctl, "web-1", c1))("fetched", "succeeded") - opened.recordedMs;
      console.log(`nudge: gate opened → web-1 fetched ${fetched} ms`);
      expect(daemon.output()).toMatch(/nudged: the wave gate opened/);
      expect(fetched).toBeLessThan(10_000);

      // Outage: the watch fails, warns once, and backs off (0.5–1 s, 1–2 s, 2–4 s…),
      // so over t seconds it tries at most about log2(t) + 2 times.
      const mark = daemon.output().length;
      const down = Date.now();
      await ctl.stop();
      await new Promise((r) => setTimeout(r, 4_000));
      const lines = daemon.output().slice(mark).split("\n").filter((l) => /controller watch failed/.test(l));
      expect(lines.filter((l) => l.startsWith("warn"))).toHaveLength(1);
      expect(lines.length).toBeGreaterThanOrEqual(2);
      expect(lines.length).toBeLessThanOrEqual(Math.ceil(Math.log2((Date.now() - down) / 500)) + 2);
      expect(daemon.exitCode).toBeNull();
    } finally {
      if (daemon.exitCode === null) process.kill(-daemon.pid!, "SIGKILL");
      await ctl.stop().catch(() => undefined);
      await w.close();
    }
  });
});
