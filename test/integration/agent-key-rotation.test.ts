// Host-key rotation end to end (docs/operations.md, "Rotating a host key"):
// the built agent (bin/flotilla-agent.js once, real nix, real git) reports to
// the real controller on 127.0.0.1 while the operator commits the new
// hostKey, then swaps the key on the host. Nothing is lost: the events the
// agent queued while its key and the fleet file disagreed arrive, re-signed
// with the new key, and so do the events after the rotation; every one is
// counted against the agent's own outbox.
import { copyFile, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TransitionEvent } from "../../schemas/src/api.js";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { startTestController } from "./controller/harness.js";
import { buildAgent, makeKey, World } from "./agent/helpers.js";

beforeAll(buildAgent);
afterAll(async () => {
  await cleanupTempDirs();
});

const queuedEvents = async (w: World) => (await readdir(join(w.stateDir, "outbox"))).filter((f) => /^\d{12}-e\.json$/.test(f)).length;

async function onceBuilt(w: World): Promise<{ code: number | null; output: string }> {
  const child = w.spawnBuilt(["once"]);
  const code = await new Promise<number | null>((resolve) => child.on("exit", (c) => resolve(c)));
  return { code, output: child.output() };
}

describe("host-key rotation", () => {
  it("commit the new hostKey, swap the key on the host: every event before, between and after arrives, none set aside", async () => {
    const w = await World.create();
    const oldKey = { ...w.hostKey };
    const newKey = makeKey(w.root, "new_host_key");
    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    const ctl = await startTestController({ repo: w.repo }); // polls hourly: it learns of commits when asked
    try {
      await w.writeConfig({ controller: ctl.url });
      const r1 = await onceBuilt(w);
      expect(r1.code, r1.output).toBe(0);
      expect(await queuedEvents(w)).toBe(0);
      const stored = async () => (await ctl.store.auditEvents({ host: w.host, limit: 10_000 })).map((e) => JSON.parse(e.payload) as TransitionEvent).sort((a, b) => a.seq - b.seq);
      const before = (await stored()).length;
      expect(before).toBeGreaterThanOrEqual(6);

      // Step 1: the operator commits the new hostKey; the controller fetches it
      // (a webhook or its poll). The agent still holds the old key, so its reports
      // are refused and stay queued, nothing set aside.
      w.hostKey = { path: oldKey.path, pub: newKey.pub };
      const c2 = await w.commit({ "fleet.yaml": w.fleet() }, "rotate canary-1's host key");
      await ctl.follower.poke("webhook");
      const r2 = await onceBuilt(w);
      expect(r2.code, r2.output).toBe(0);
      expect(r2.output).toMatch(/reports stay queued on disk/);
      const between = await queuedEvents(w);
      expect(between).toBeGreaterThanOrEqual(6); // the deploy of c2
      expect((await stored()).length).toBe(before);

      // Step 2: the new key is swapped in on the host; the next run signs with it
      // and re-signs the queued reports.
      await copyFile(newKey.path, oldKey.path);
      await copyFile(`${newKey.path}.pub`, `${oldKey.path}.pub`);
      const c3 = await w.commit({ "notes.txt": "after the rotation" }, "c3");
      const r3 = await onceBuilt(w);
      expect(r3.code, r3.output).toBe(0);
      expect(await queuedEvents(w)).toBe(0);

      const all = await stored();
      const byRev = (rev: string) => all.filter((e) => e.rev === rev).map((e) => `${e.phase}/${e.outcome}`);
      const deploy = ["fetched/succeeded", "built/succeeded", "activating/started", "activating/succeeded", "verifying/succeeded", "done/succeeded"];
      expect(byRev(c1)).toEqual(deploy);
      expect(byRev(c2)).toEqual(deploy); // queued while the keys disagreed: none lost
      expect(byRev(c3)).toEqual(deploy);
      expect(all.length).toBe(before + between + deploy.length);
      const seqs = all.map((e) => e.seq);
      expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
      expect(await readdir(join(w.stateDir, "outbox")).then((f) => f.includes("rejected"))).toBe(false);
      expect((await ctl.store.hostState(w.host))?.currentRev).toBe(c3);
      expect(JSON.parse((await w.cli("status", "--json")).out)).toMatchObject({ queueLength: 0, reportsSetAside: 0 });
    } finally {
      await ctl.stop();
      await w.close();
    }
  });
});
