// Reports on real HTTP: while the controller is down every transition event
// is signed and queued on disk; when it returns they arrive in seq order,
// none lost, each signature verified by the (stand-in) controller.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { startTestController } from "./agent/controller.js";
import { World } from "./agent/helpers.js";

afterAll(async () => {
  await cleanupTempDirs();
});

const queued = async (w: World) => (await readdir(join(w.stateDir, "outbox"))).filter((f) => /^\d{12}-[eh]\.json$/.test(f)).sort();

describe("agent reports", () => {
  it("queues events on disk while the controller is down and delivers them in order, none lost, when it returns", async () => {
    const w = await World.create();
    const ctl = await startTestController({ hostKeys: { [w.host]: w.hostKey.pub } });
    await w.writeConfig({ controller: ctl.url });
    await ctl.stop();

    const c1 = await w.commit({ "fleet.yaml": w.fleet() }, "c1");
    expect((await w.once()).code).toBe(0);
    const c2 = await w.commit({ "notes.txt": "2" }, "c2");
    expect((await w.once()).code).toBe(0);
    const bad = await w.commit({ "markers/canary-1/fail-switch": "" }, "bad");
    const r = await w.once();
    expect(r.code).toBe(1);
    const before = await queued(w);
    const eventsQueued = before.filter((f) => f.endsWith("-e.json")).length;
    expect(eventsQueued).toBeGreaterThanOrEqual(12);
    expect(r.err).toMatch(/reports stay queued on disk/);
    const status = await w.cli("status", "--json");
    expect(JSON.parse(status.out).queueLength).toBe(before.length);

    await ctl.start();
    const r2 = await w.once();
    expect(r2.code).toBe(1); // still rolled back from `bad`: nothing new to do
    expect(await queued(w)).toEqual([]);
    const seqs = ctl.messages.map((m) => m.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    // Every queued message arrived (none lost), then this run's heartbeat.
    expect(seqs.slice(0, before.length)).toEqual(before.map((f) => Number(f.slice(0, 12))));
    expect(ctl.badSignatures).toBe(0);
    const story = ctl.events().map((e) => `${e.phase}/${e.outcome}@${e.rev?.slice(0, 7)}`);
    const s = (p: string, rev: string) => `${p}@${rev.slice(0, 7)}`;
    expect(story).toEqual([
      s("fetched/succeeded", c1),
      s("built/succeeded", c1),
      s("activating/started", c1),
      s("activating/succeeded", c1),
      s("verifying/succeeded", c1),
      s("done/succeeded", c1),
      s("fetched/succeeded", c2),
      s("built/succeeded", c2),
      s("activating/started", c2),
      s("activating/succeeded", c2),
      s("verifying/succeeded", c2),
      s("done/succeeded", c2),
      s("fetched/succeeded", bad),
      s("built/succeeded", bad),
      s("activating/started", bad),
      s("activating/failed", bad),
      s("rollingBack/started", bad),
      s("rolledBack/succeeded", bad),
    ]);
    const verified = ctl.events().find((e) => e.phase === "verifying" && e.rev === c2)!;
    expect(verified.health?.every((h) => h.rev === c2 && h.generation === verified.generation)).toBe(true);
    expect(verified.durations).toHaveProperty("build");
    expect(ctl.messages.at(-1)).toMatchObject({ type: "heartbeat", currentRev: c2, phase: "rolledBack", failedRevs: [bad] });
    await ctl.close();
    await w.close();
  });
});
