// Issue 9 §3: an interrupted deploy is not a failed revision. The built
// agents (`flotilla-agent run`) build the offline test fleet with real nix and
// report to a real controller (SQLite) on 127.0.0.1; the canary's agent is
// killed with SIGKILL (its whole process group, as systemd would) while its
// state file says `activating`. The agent forgives one interruption, and the
// controller must agree: the commit still rolls out to the next wave.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { TransitionEvent } from "../../schemas/src/api.js";
import { startTestController } from "./controller/harness.js";
import { waitFor, World } from "./agent/helpers.js";
import { startDaemons, statusOf, stopAll, useBuiltAgent, worlds } from "./agent/daemons.js";

useBuiltAgent();

/** The host's default checks with a deadline that a loaded test machine meets (the timing is not under test here). */
function checks(w: World): unknown[] {
  return w.defaultChecks().map((c) => ({ ...(c as object), deadline: "30s" }));
}

describe("an interrupted activation with a real controller", () => {
  it("one kill -9 of the canary's agent while activating does not halt the commit; web still gets it", async () => {
    const ws = await worlds("canary-1", "web-1");
    const [canary] = ws;
    const waves = [
      { name: "canary", members: ["canary-1"], soak: "1s" },
      { name: "web", members: ["web-1"] },
    ];
    const fleet = canary.fleet({ hosts: [{ name: "canary-1", checks: checks(canary) }, { name: "web-1" }], waves });
    const c1 = await canary.commit({ "fleet.yaml": fleet }, "c1");
    const ctl = await startTestController({ repo: canary.repo, pollInterval: "1s" });
    const status = statusOf(ctl.url);
    const pauseFile = join(canary.root, "pause");
    let daemons = await startDaemons(ctl.url, ws);
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
      const events = (await ctl.store.auditEvents({ host: "canary-1" })).map((e) => JSON.parse(e.payload) as TransitionEvent).filter((e) => e.rev === c2).sort((a, b) => a.seq - b.seq);
      const recovery = events.filter((e) => e.reason === "Interrupted" || e.phase === "rolledBack");
      expect(recovery.map((e) => `${e.phase}/${e.outcome}/${e.blamed}`)).toEqual(["activating/failed/false", "rollingBack/started/false", "rolledBack/succeeded/false"]);
      expect((await canary.state()).failedRevs).toEqual([]);
    } finally {
      await stopAll(daemons, ctl, ws);
    }
  }, 600_000);
});

/** Pids of running processes whose command line contains `needle`. */
function processesRunning(needle: string): number[] {
  const r = spawnSync("pgrep", ["-f", needle], { encoding: "utf8" });
  return r.stdout.split("\n").filter(Boolean).map(Number);
}

describe("systemctl stop during switch-to-configuration (SIGTERM to the agent only, as KillMode=mixed does)", () => {
  it("lets the running switch finish, records it, exits; the next start verifies it: no rollback, nothing blamed", async () => {
    const w = await World.create();
    try {
      const c0 = await w.commit({ "fleet.yaml": w.fleet({ hosts: [{ name: w.host, checks: checks(w) }] }) }, "c0");
      expect((await w.once()).code).toBe(0);
      const c1 = await w.commit({ "markers/canary-1/slow-switch": "3" }, "c1: a slow switch");
      const out = await w.build(c1);
      await w.writeConfig({ pollInterval: "1s", jitter: "0" });
      const daemon = w.spawnBuilt(["run"]);
      const exited = new Promise<number | null>((r) => daemon.once("exit", (code) => r(code)));
      await waitFor("c1's switch-to-configuration running", () => processesRunning(`${out}/bin/switch-to-configuration`).length > 0 || daemon.exitCode !== null, 180_000, 20);
      expect(daemon.exitCode, daemon.output()).toBeNull();
      process.kill(daemon.pid!, "SIGTERM"); // the main process only
      const code = await exited;
      expect(code, daemon.output()).toBe(0);
      // The switch ran to the end and the state file says so.
      expect((await w.calls()).filter((c) => c.revision === c1).map((c) => `${c.operation}/${c.status}`)).toEqual(["switch/ok"]);
      expect((await w.hostState()).currentSystem).toBe(out);
      const stopped = await w.state();
      expect(stopped.cycle).toMatchObject({ phase: "verifying", generation: out, target: { rev: c1 } });
      expect(stopped.lastOutcome).toMatchObject({ phase: "activating", outcome: "succeeded", rev: c1 });
      // The next start re-verifies the completed switch: no rollback, nothing blamed.
      const before = (await w.calls()).length;
      const r = await w.once();
      expect(r.code, r.err).toBe(0);
      const s = await w.state();
      expect(s.cycle.phase).toBe("done");
      expect(s.current).toEqual({ rev: c1, generation: out });
      expect(s.failedRevs).toEqual([]);
      expect((await w.calls()).slice(before)).toEqual([]); // c0's switch never ran again
      expect(c0).not.toBe(c1);
    } finally {
      await w.close();
    }
  }, 400_000);
});

describe("a full disk while saving the state after a successful switch", () => {
  it("keeps the switched generation, writes the state once space returns and verifies it; the controller does not halt", async () => {
    const w = await World.create();
    const ctl = await startTestController({ repo: w.repo, pollInterval: "1s" });
    // The state file and the report queue on a small file system of their own.
    const small = join(w.root, "small");
    execFileSync("mkdir", ["-p", small]);
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=4m", "tmpfs", small]);
    let daemon: ReturnType<World["spawnBuilt"]> | null = null;
    try {
      const c0 = await w.commit({ "fleet.yaml": w.fleet({ hosts: [{ name: w.host, checks: checks(w) }], waves: [{ name: "all", members: [w.host] }] }) }, "c0");
      await w.writeConfig({ pollInterval: "1s", jitter: "0", heartbeatInterval: "1s", controller: ctl.url, stateDir: small });
      w.stateDir = small;
      expect((await w.once()).code).toBe(0);
      const c1 = await w.commit({ "markers/canary-1/slow-switch": "2" }, "c1");
      const out = await w.build(c1);
      daemon = w.spawnBuilt(["run"]);
      await waitFor("c1's switch-to-configuration running", () => processesRunning(`${out}/bin/switch-to-configuration`).length > 0 || daemon!.exitCode !== null, 180_000, 20);
      // Fill the state's file system while the switch runs, and keep it full for a
      // while (delivered reports free space, which the filler takes back): the
      // saves after the switch fail with ENOSPC.
      let i = 0;
      const fill = () => {
        try {
          for (;;) writeFileSync(join(small, `fill-${i++}`), Buffer.alloc(1024));
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code !== "ENOSPC") throw e;
        }
      };
      fill();
      const filler = setInterval(fill, 5);
      try {
        await waitFor("the switch done and the save refused", async () => /cycle failed.*ENOSPC/.test(daemon!.output()) && (await w.hostState()).currentSystem === out, 120_000, 50);
        await new Promise((r) => setTimeout(r, 3_000)); // a few more cycles on the full disk
      } finally {
        clearInterval(filler);
      }
      expect(await w.activeGeneration()).toBe(out); // the host runs c1
      expect(readdirSync(small).filter((n) => n.includes(".tmp-"))).toEqual([]);
      for (const n of readdirSync(small)) if (n.startsWith("fill-")) rmSync(join(small, n));
      await waitFor("c1 verified", async () => (await w.state()).cycle.phase === "done", 120_000, 100);
      const s = await w.state();
      expect(s.current).toEqual({ rev: c1, generation: out });
      expect(await w.activeGeneration()).toBe(out);
      expect((await w.calls()).filter((c) => c.revision === c0).length).toBe(1); // c0 switched once, at its deploy: never rolled back to
      expect(daemon.output()).not.toMatch(/interrupted by a restart|rolling back|rolled back/);
      await waitFor("the controller sees c1 complete", async () => {
        const r = (await statusOf(ctl.url)()).rollouts.find((x) => x.rev === c1);
        if (r?.state === "halted") throw new Error(`c1 halted: ${JSON.stringify(r)}`);
        return r?.state === "complete";
      }, 60_000, 200);
    } finally {
      if (daemon && daemon.exitCode === null) process.kill(-daemon.pid!, "SIGKILL");
      await new Promise((r) => setTimeout(r, 200));
      spawnSync("umount", ["-l", small]);
      await ctl.stop();
      await w.close();
    }
  }, 400_000);
});
