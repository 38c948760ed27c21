// Three NixOS-style hosts with a real systemd, each on its own veth link,
// in waves (canary → web) against a real controller process on the machine:
// the agents reach the controller and the fleet remote over their links, ask
// it for their wave's gate and report to it. A canary whose unit fails to
// start on real systemd rolls back and halts the rollout; the web wave is
// never opened, so its hosts keep running the old revision, untouched.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTempDirs } from "../helpers/tmp.js";
import { journal, waitFor } from "./agent-setup.js";
import { FIXTURE_STATE as STATE, fixtureOf, FleetBed, hostKeyOf, webappChecks, type Controller, type NixosAgent } from "./fleet-bed.js";
import type { Host } from "./harness.js";

const NAMES = ["canary-1", "web-1", "web-2"] as const;

let fb: FleetBed;
let hosts: Host[];
let ctl: Controller;
const agents = new Map<string, NixosAgent>();

async function fleetYaml(): Promise<string> {
  return JSON.stringify(
    {
      version: 1,
      policy: { branch: "main" },
      agent: { keepGenerations: 3 },
      hosts: await Promise.all(hosts.map(async (h) => ({ name: h.name, kind: "nixos", hostKey: await hostKeyOf(h), checks: webappChecks(h.name) }))),
      waves: [
        { name: "canary", members: ["canary-1"], soak: "2s" },
        { name: "web", members: ["web-*"] },
      ],
    },
    null,
    2,
  );
}

beforeAll(async () => {
  fb = await FleetBed.start(NAMES);
  ({ hosts, ctl } = fb);
}, 900_000);

afterAll(async () => {
  await fb?.close();
  await cleanupTempDirs();
});

const unit = async (h: Host, prop: string) => (await h.exec(["systemctl", "show", "-P", prop, "webapp.service"], { check: false })).stdout.trim();

describe("a fleet of real hosts in waves against a real controller", () => {
  it("halts the rollout when the canary's unit fails on real systemd; the web wave keeps running the old revision, untouched", async () => {
    const c1 = await fb.repo.commit({ "fleet.yaml": await fleetYaml() }, "three hosts in two waves");
    await Promise.all(hosts.map(async (h) => agents.set(h.name, await fb.installAgent(h, { heartbeatInterval: "2s", timeouts: { connectivity: "10s" } }))));
    const everyone = await waitFor(
      "every host healthy on c1 and the rollout complete",
      async () => {
        const s = await ctl.status();
        const ok = NAMES.every((n) => s.hosts.some((x) => x.host === n && x.currentRev === c1 && x.health === "Healthy"));
        return ok && s.rollouts.find((r) => r.rev === c1)?.state === "complete" && s;
      },
      300_000,
    ).catch(async (e: Error) => {
      throw new Error(`${e.message}\n${(await Promise.all(hosts.map(async (h) => `${h.name}:\n${await journal(h, "flotilla-agent.service")}`))).join("\n")}\ncontroller:\n${ctl.output.slice(-4000)}`);
    });
    expect(everyone.rollouts.find((r) => r.rev === c1)?.waves.map((w) => w.name)).toEqual(["canary", "web"]);
    // The web hosts as they are before the bad commit.
    const web = hosts.filter((h) => h.name.startsWith("web-"));
    const before = await Promise.all(
      web.map(async (h) => ({ pid: await unit(h, "MainPID"), starts: await fixtureOf(h, STATE, "app-starts"), calls: await fixtureOf(h, STATE, "../calls.jsonl"), profile: (await h.exec(["readlink", "-f", "/nix/var/nix/profiles/system"])).stdout.trim() })),
    );
    for (const h of web) expect(await fixtureOf(h, STATE, "app-revision")).toBe(c1);

    const bad = await fb.repo.commit({ "markers/canary-1/fail-unit": "" }, "webapp cannot start on the canary");
    const halted = await waitFor(
      "the rollout of the bad commit halted at the canary",
      async () => {
        const s = await ctl.status();
        return s.rollouts.find((r) => r.rev === bad)?.state === "halted" && s;
      },
      180_000,
    );
    const rollout = halted.rollouts.find((r) => r.rev === bad)!;
    expect(["pending", "halted"]).toContain(rollout.waves.find((w) => w.name === "web")?.state);
    // The canary tried it on real systemd, failed to start the unit and rolled back.
    const canary = hosts[0]!;
    // The controller halts on the canary's failed event; the agent records the
    // revision as failed once its rollback is over, a moment later.
    const cs = await waitFor("the canary remembers the bad commit as failed after its rollback", async () => {
      const s = await agents.get("canary-1")!.status();
      return s.failedRevs.some((f) => f.rev === bad) && s;
    });
    expect(cs.failedRevs.find((f) => f.rev === bad)?.reason).toBe("ActivationFailed");
    expect(cs.current?.rev).toBe(c1);
    await waitFor("the canary's webapp.service active on c1 again", async () => (await unit(canary, "ActiveState")) === "active" && (await fixtureOf(canary, STATE, "app-revision")) === c1);

    // The web wave saw the new head and was told to wait, for several polls.
    for (const h of web) {
      await waitFor(`${h.name} waiting at the closed gate of the bad commit`, async () => {
        const s = await agents.get(h.name)!.status();
        return s.lastOutcome?.rev === bad && s.lastOutcome.outcome === "waiting";
      });
    }
    await new Promise((r) => setTimeout(r, 5_000));
    const after = await ctl.status();
    for (const [i, h] of web.entries()) {
      const s = await agents.get(h.name)!.status();
      expect(s.current?.rev).toBe(c1);
      expect(s.phase).toBe("done");
      expect(s.failedRevs).toEqual([]);
      expect(after.hosts.find((x) => x.host === h.name)?.currentRev).toBe(c1);
      // Their units run the old revision, never restarted; nothing was switched.
      expect(await unit(h, "ActiveState")).toBe("active");
      expect(await unit(h, "MainPID")).toBe(before[i]!.pid);
      expect(await fixtureOf(h, STATE, "app-revision")).toBe(c1);
      expect(await fixtureOf(h, STATE, "app-starts")).toBe(before[i]!.starts);
      expect(await fixtureOf(h, STATE, "../calls.jsonl")).toBe(before[i]!.calls);
      expect((await h.exec(["readlink", "-f", "/nix/var/nix/profiles/system"])).stdout.trim()).toBe(before[i]!.profile);
    }
    expect(after.rollouts.find((r) => r.rev === bad)?.state).toBe("halted");
  }, 600_000);
});
