// Issue 9 §3: an interrupted deploy is not a failed revision. The built
// agents (`flotilla-agent run`) build the offline test fleet with real nix and
// report to a real controller (SQLite) on 127.0.0.1; the canary's agent is
// killed with SIGKILL (its whole process group, as systemd would) while its
// state file says `activating`. The agent forgives one interruption, and the
// controller must agree: the commit still rolls out to the next wave.
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusReport, TransitionEvent } from "../../schemas/src/api.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { api, startTestController } from "./controller/harness.js";
import { buildAgent, waitFor, World } from "./agent/helpers.js";

beforeAll(async () => {
  await buildAgent();
}, 300_000);
afterAll(async () => {
  await cleanupTempDirs();
});

const DAEMON = { pollInterval: "2s", jitter: "0", heartbeatInterval: "2s" };

describe("an interrupted activation with a real controller", () => {
  it("one kill -9 of the canary's agent while activating does not halt the commit; web still gets it", async () => {
    const canary = await World.create({ host: "canary-1" });
    const web = await World.create({ host: "web-1" });
    const waves = [
      { name: "canary", members: ["canary-1"], soak: "1s" },
      { name: "web", members: ["web-1"] },
    ];
    const fleet = canary.fleet({ hosts: [{ name: "canary-1" }, { name: "web-1" }], waves });
    const c1 = await canary.commit({ "fleet.yaml": fleet }, "c1");
    const ctl = await startTestController({ repo: canary.repo, pollInterval: "1s" });
    await canary.writeConfig({ ...DAEMON, controller: ctl.url });
    await web.writeConfig({ ...DAEMON, controller: ctl.url, remotes: [canary.repo.url], hostKeyPath: canary.otherKey.path });
    const status = async () => (await api<StatusReport>(ctl.url, "/api/v1/status")).body;
    const pauseFile = join(canary.root, "pause");
    let daemons = [canary.spawnBuilt(["run"]), web.spawnBuilt(["run"])];
    try {
      await waitFor("c1 rolled out", async () => (await status()).rollouts.find((r) => r.rev === c1)?.state === "complete", 300_000, 200).catch(async (e: Error) => {
        throw new Error(`${e.message}\n${JSON.stringify(await status(), null, 1)}\n--- canary\n${daemons[0]!.output().slice(-4000)}\n--- web\n${daemons[1]!.output().slice(-4000)}`);
      });
      // Restart the canary's daemon so that it pauses once it has saved `activating` for c2.
      process.kill(-daemons[0]!.pid!, "SIGKILL");
      const c2 = await canary.commit({ "notes.txt": "c2\n" }, "c2: an ordinary change");
      const paused = canary.spawnBuilt(["run"], { FLOTILLA_AGENT_TEST_PAUSE: "activating", FLOTILLA_AGENT_TEST_PAUSE_FILE: pauseFile });
      daemons = [paused, daemons[1]!];
      await waitFor("the canary's agent paused in activating", () => existsSync(pauseFile) || paused.exitCode !== null, 180_000);
      expect(paused.exitCode, paused.output()).toBeNull();
      expect((await canary.state()).cycle).toMatchObject({ phase: "activating", target: { rev: c2 } });
      process.kill(-paused.pid!, "SIGKILL");
      rmSync(pauseFile, { force: true });
      const restarted = canary.spawnBuilt(["run"]);
      daemons = [restarted, daemons[1]!];

      await waitFor("c2 rolled out to both", async () => {
        const r = (await status()).rollouts.find((x) => x.rev === c2);
        if (r?.state === "halted") throw new Error(`c2 halted: ${JSON.stringify(r)}\n${restarted.output()}`);
        return r?.state === "complete";
      }, 240_000, 200);
      const s = await status();
      expect(s.hosts.map((h) => [h.host, h.currentRev, h.health])).toEqual([
        ["canary-1", c2, "Healthy"],
        ["web-1", c2, "Healthy"],
      ]);
      expect(s.hosts.find((h) => h.host === "canary-1")!.failedRevs).not.toContain(c2);
      // The agent said, on each recovery event, that it does not blame c2.
      const events = (await ctl.store.auditEvents({ host: "canary-1" })).map((e) => JSON.parse(e.payload) as TransitionEvent).filter((e) => e.rev === c2);
      const recovery = events.filter((e) => e.reason === "Interrupted" || e.phase === "rolledBack");
      expect(recovery.map((e) => `${e.phase}/${e.outcome}/${e.blamed}`)).toEqual(["activating/failed/false", "rollingBack/started/false", "rolledBack/succeeded/false"]);
      expect((await canary.state()).failedRevs).toEqual([]);
    } finally {
      for (const d of daemons) if (d.exitCode === null) process.kill(-d.pid!, "SIGKILL");
      await ctl.stop();
      await canary.close();
      await web.close();
    }
  }, 600_000);
});
