// A partition on a real host: a NixOS-style host with a real systemd on its
// own veth link to the machine, where the fleet remote and a real controller
// process listen. The test cuts the link while a switch runs, so that right
// after the switch the host reaches neither: the connectivity canary reverts
// the switch (the unit runs the old revision again); the link comes back with
// the revert, as when the generation itself had broken the network. The
// burst of transition events queued while the link was down all reach the
// controller, in order, once it is back.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { journal, waitFor, waitForSlowActivation } from "./agent-setup.js";
import { FIXTURE_STATE as STATE, fixtureOf, FleetBed, hostKeyOf, webappChecks, type Controller, type NixosAgent } from "./fleet-bed.js";
import type { Host } from "./harness.js";

const OUTBOX = "/var/lib/flotilla/outbox";

let fb: FleetBed;
let h: Host;
let ctl: Controller;
let agent: NixosAgent;

beforeAll(async () => {
  fb = await FleetBed.start(["web-1"]);
  [h] = fb.hosts as [Host];
  ctl = fb.ctl;
}, 900_000);

afterAll(async () => {
  await fb?.close();
  await cleanupTempDirs();
});

interface Queued {
  seq: number;
  phase: string;
  outcome: string;
  rev: string | null;
}

/** The transition events waiting in the agent's outbox (one signed file per message, named by seq). */
async function queuedEvents(): Promise<Queued[]> {
  const dir = join(h.merged, OUTBOX);
  const names = (await readdir(dir)).filter((n) => /^\d{12}-e\.json$/.test(n)).sort();
  return Promise.all(
    names.map(async (n) => {
      const p = JSON.parse((JSON.parse(await readFile(join(dir, n), "utf8")) as { payload: string }).payload) as Queued;
      return { seq: p.seq, phase: p.phase, outcome: p.outcome, rev: p.rev };
    }),
  );
}

const unit = async (prop: string) => (await h.exec(["systemctl", "show", "-P", prop, "webapp.service"], { check: false })).stdout.trim();
const profile = async () => (await h.exec(["readlink", "-f", "/nix/var/nix/profiles/system"])).stdout.trim();

describe("a partition on a real host", () => {
  it("a link cut right after a switch is reverted by the connectivity canary; the events queued meanwhile all arrive, in order, when it is back", async () => {
    const fleet = JSON.stringify({ version: 1, policy: { branch: "main" }, agent: { keepGenerations: 3 }, hosts: [{ name: "web-1", kind: "nixos", hostKey: await hostKeyOf(h), checks: webappChecks("web-1") }] }, null, 2);
    const c1 = await fb.repo.commit({ "fleet.yaml": fleet }, "web-1 behind a link the test can cut");
    agent = await fb.installAgent(h, { heartbeatInterval: "1s", timeouts: { connectivity: "15s", git: "10s" } });
    await waitFor(
      "web-1 healthy on c1 as the controller sees it",
      async () => (await ctl.status()).hosts.some((x) => x.host === "web-1" && x.currentRev === c1 && x.health === "Healthy"),
      300_000,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await journal(h, "flotilla-agent.service")}\ncontroller:\n${ctl.output.slice(-3000)}`);
    });
    const gen1 = await profile();
    const starts = await fixtureOf(h, STATE, "app-starts");

    // A switch that takes a few seconds; the link goes down while it runs.
    const c2 = await fb.repo.commit({ "markers/web-1/slow-switch": "8" }, "a slow switch");
    await waitForSlowActivation(h, {});
    await h.linkDown();
    // The switch completes with the host cut off: the canary fails and the
    // rollback starts. The cut stands for a generation that broke the
    // network, so reverting it restores the link (a cut that outlasts the
    // rollback fails the rollback's own connectivity check too: rollbackFailed).
    const queued = await waitFor("rollingBack of c2 queued in the outbox", async () => {
      const q = (await queuedEvents()).filter((e) => e.rev === c2);
      return q.some((e) => e.phase === "rollingBack" && e.outcome === "started") && q;
    }, 180_000, 100).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await journal(h, "flotilla-agent.service")}`);
    });
    // Everything from the end of the switch on was queued on disk, not delivered.
    expect(queued.map((e) => `${e.phase}/${e.outcome}`)).toEqual(expect.arrayContaining(["activating/succeeded", "verifying/failed", "rollingBack/started"]));
    const stored = new Set(ctl.events("web-1").map((e) => e.seq));
    for (const e of queued) expect(stored.has(e.seq)).toBe(false);
    await h.linkUp();

    const s = await waitFor("the connectivity canary's rollback of c2 complete", async () => {
      const st = await agent.status();
      if (st.phase === "rollbackFailed") throw new Error(`rollbackFailed: ${JSON.stringify(st.error)}`);
      return st.phase === "rolledBack" && st.target?.rev === c2 && st;
    }, 180_000).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${await journal(h, "flotilla-agent.service")}`);
    });
    expect(s.failedRevs.find((f) => f.rev === c2)?.reason).toBe("ConnectivityLost");
    expect(s.current?.rev).toBe(c1);
    // The switch did happen on real systemd, and was undone: the old revision's unit runs again.
    expect((await fixtureOf(h, STATE, "app-starts")).split("\n").slice(starts.split("\n").length)).toEqual([c2, c1]);
    expect(await unit("ActiveState")).toBe("active");
    expect(await fixtureOf(h, STATE, "app-revision")).toBe(c1);
    expect(await profile()).toBe(gen1);

    const arrived = await waitFor("every queued event at the controller", async () => {
      const got = ctl.events("web-1");
      return queued.every((q) => got.some((e) => e.seq === q.seq)) && got.some((e) => e.rev === c2 && e.phase === "rolledBack") && got;
    }, 120_000);
    const mine = arrived.filter((e) => queued.some((q) => q.seq === e.seq));
    // The same events, none lost, in the agent's order, and received in that order.
    expect(mine.map((e) => ({ seq: e.seq, phase: e.phase, outcome: e.outcome, rev: e.rev }))).toEqual(queued);
    for (let i = 1; i < mine.length; i++) expect(mine[i]!.receivedMs).toBeGreaterThanOrEqual(mine[i - 1]!.receivedMs);
    // And after them the rest of the story, in seq order.
    const c2story = arrived.filter((e) => e.rev === c2).map((e) => `${e.phase}/${e.outcome}`);
    expect(c2story.slice(c2story.indexOf("activating/succeeded"))).toEqual(expect.arrayContaining(["verifying/failed", "rollingBack/started", "rolledBack/succeeded"]));
    const all = arrived.map((e) => e.seq);
    expect(all).toEqual([...all].sort((a, b) => a - b));
    // The controller knows where the host is: back on c1, c2 failed there.
    await waitFor("the controller's view of web-1 back on c1", async () => (await ctl.status()).hosts.some((x) => x.host === "web-1" && x.currentRev === c1));
    // The outbox drains.
    await waitFor("the agent's outbox empty of events", async () => (await queuedEvents()).length === 0);
  }, 600_000);
});
