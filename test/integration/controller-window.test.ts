// Maintenance windows end to end, with injected clocks: a real controller
// (SQLite, `now` injected) and two built `flotilla-agent run` daemons under
// libfaketime sharing one clock offset. The web wave's window is 02:00–03:00
// UTC; the fleet starts at 01:00. The canary (no window) deploys; the web
// wave opens but web-1 waits (gate `wait` naming the window, status says
// when it opens; the rollout progresses, not halted). Moving the clocks to
// 02:00 lets web-1 deploy and the rollout complete.
import { describe, expect, it } from "vitest";
import type { TransitionEvent } from "../../schemas/src/api.js";
import { memoryLogger } from "../../common/src/log.js";
import { startController } from "../../controller/src/server.js";
import { controllerConfig } from "./controller/harness.js";
import { waitFor, World } from "./agent/helpers.js";
import { startDaemons, statusOf, stopAll, useBuiltAgent, worlds } from "./agent/daemons.js";
import { fakeClock } from "./agent/operator.js";

useBuiltAgent();

describe("maintenance windows with real agents and an injected clock", () => {
  it("a host outside its window waits (rollout progressing) and deploys when the window opens", async () => {
    // The fleet's clock: the next 01:00:00 UTC after now, moved later to 02:00:05.
    const real = Date.now();
    const day = Math.floor(real / 86_400_000) * 86_400_000;
    const clock = await fakeClock(day + 86_400_000 + 3_600_000 - real);
    const fake = clock.env;

    const ws = await worlds("canary-1", "web-1");
    const [canary] = ws;
    // The fixture's checks with a deadline that a loaded machine (and libfaketime) cannot miss.
    const slowChecks = canary.defaultChecks("canary-1").map((c) => ({ ...(c as object), deadline: "60s" }));
    const waves = [
      { name: "canary", members: ["canary-1"] },
      { name: "web", members: ["web-1"], window: { timeZone: "UTC", ranges: [{ from: "02:00", to: "03:00" }] } },
    ];
    const fleet = JSON.parse(canary.fleet({ hosts: [{ name: "canary-1", checks: slowChecks }, { name: "web-1" }], waves })) as Record<string, unknown>;
    const c1 = await canary.commit({ "fleet.yaml": JSON.stringify(fleet, null, 2) }, "c1: web deploys only 02:00-03:00 UTC");
    const config = await controllerConfig({ repo: canary.repo, pollInterval: "1s" });
    const ctl = await startController(config, { log: memoryLogger("controller"), tickMs: 100, now: clock.now });
    const url = ctl.url;
    const daemons = await startDaemons(url, ws, { config: { pollInterval: "1s" }, env: fake });
    const status = statusOf(url);
    try {
      await waitFor("the web wave opened and web-1 said it waits for its window", async () => {
        const s = await status();
        const events = (await ctl.store.auditEvents({ host: "web-1" })).map((e) => JSON.parse(e.payload) as TransitionEvent);
        return s.rollouts[0]?.waves[1]?.state === "progressing" && events.some((e) => e.outcome === "waiting" && e.rev === c1 && e.message?.includes("outside its maintenance window"));
      }, 90_000, 200);
      await new Promise((r) => setTimeout(r, 3_000)); // a few more polls: still waiting
      const s1 = await status();
      const opens = new Date(day + 86_400_000 + 2 * 3_600_000).toISOString();
      expect(s1.rollouts[0]!.state).toBe("progressing");
      expect(s1.rollouts[0]!.waves[1]).toMatchObject({ name: "web", state: "progressing", window: { open: false, nextOpen: opens, source: 'wave "web"', waiting: ["web-1"] } });
      expect(s1.hosts.find((h) => h.host === "canary-1")).toMatchObject({ currentRev: c1, health: "Healthy" });
      expect(s1.hosts.find((h) => h.host === "web-1")).toMatchObject({ currentRev: null, window: { open: false, nextOpen: opens } });
      const waiting = (await ctl.store.auditEvents({ host: "web-1" })).map((e) => JSON.parse(e.payload) as TransitionEvent).filter((e) => e.outcome === "waiting");
      // The controller's gate answered `wait`, naming the window and its opening.
      const byWindow = waiting.find((e) => e.message?.includes("outside its maintenance window"));
      expect(byWindow).toMatchObject({ reason: "GateWaiting" });
      expect(byWindow!.message).toContain(`wave web is open; the host is outside its maintenance window (wave "web"); opens at ${opens}`);
      expect((await ctl.store.auditEvents({ host: "web-1" })).map((e) => JSON.parse(e.payload) as TransitionEvent).some((e) => e.phase === "activating")).toBe(false);

      await clock.set(clock.offset() + 3_600_000 + 5_000); // 02:00:05 UTC
      await waitFor("c1 complete once the window opened", async () => (await status()).rollouts[0]?.state === "complete", 180_000, 200);
      const s2 = await status();
      expect(s2.hosts.find((h) => h.host === "web-1")).toMatchObject({ currentRev: c1, health: "Healthy", window: { open: true, nextOpen: null } });
      const start = (await ctl.store.auditEvents({ host: "web-1" })).map((e) => JSON.parse(e.payload) as TransitionEvent).find((e) => e.phase === "activating");
      expect(Date.parse(start!.time)).toBeGreaterThanOrEqual(Date.parse(opens));
    } catch (e) {
      const s = await status().catch(() => null);
      throw new Error(`${(e as Error).message}\nstatus: ${JSON.stringify(s, null, 1)?.slice(0, 4000)}\ncanary: ${daemons[0]!.output().slice(-2500)}\nweb: ${daemons[1]!.output().slice(-2500)}`, { cause: e });
    } finally {
      await stopAll(daemons, ctl, ws);
    }
  }, 400_000);

  it("a first-wave host keeps to its window with no controller at all, by its own clock", async () => {
    const clock = await fakeClock(0);
    const setClock = (iso: string) => clock.set(Date.parse(iso) - Date.now());
    const fake = clock.env;
    const w = await World.create({ host: "canary-1" });
    try {
      // Saturday and Sunday 22:00-04:00 Europe/Berlin, across midnight.
      const fleet = JSON.parse(w.fleet()) as Record<string, unknown>;
      fleet.windows = [{ on: ["canary-1"], timeZone: "Europe/Berlin", ranges: [{ days: ["sat", "sun"], from: "22:00", to: "04:00" }] }];
      const c1 = await w.commit({ "fleet.yaml": JSON.stringify(fleet, null, 2) }, "c1: weekend nights only");
      await w.writeConfig({});
      const once = async () => {
        const child = w.spawnBuilt(["once"], fake);
        const code = await new Promise<number | null>((r) => child.once("exit", (c) => r(c)));
        return { code, out: child.output() };
      };
      await setClock("2026-12-04T20:00:00Z"); // Friday 21:00 in Berlin
      const first = await once();
      expect(first.code, first.out).toBe(3); // waiting
      const waited = (await w.events()).filter((e) => e.outcome === "waiting");
      expect(waited.at(-1)).toMatchObject({ reason: "OutsideWindow", rev: c1 });
      expect(waited.at(-1)!.message).toBe("outside its maintenance window (windows[0]); opens at 2026-12-05T21:00:00.000Z (Sat, 05/12/2026, 22:00 Europe/Berlin)");
      expect(await w.activeGeneration()).toBeNull();

      await setClock("2026-12-06T02:30:00Z"); // Sunday 03:30 in Berlin: inside Saturday's range
      const second = await once();
      expect(second.code, second.out).toBe(0);
      expect((await w.state()).cycle).toMatchObject({ phase: "done", target: { rev: c1 } });
    } finally {
      await w.close();
    }
  }, 400_000);
});
