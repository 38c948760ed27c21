// The fault matrix (issue 9's acceptance): one fleet of real processes — a
// controller, two agent daemons building the offline test fleet with real
// nix, git, a proxy on 127.0.0.1 — and one commit per fault. Each round
// commits, injects its fault at its moment, heals it, and then the fleet must
// converge on that commit: the rollout complete, both hosts done and healthy
// on it, nothing rolled back or remembered as failed, every event the agents
// sent stored by the controller, no event left queued or set aside, every
// process still the one that was started (unless the fault was to kill it).
// It prints `faults: injected N, survived N, events lost N, hosts stuck N`
// and fails unless every fault was survived with nothing lost or stuck.
//
// Seeded: FLOTILLA_FAULT_SEED=<n> replays the same random moments.
import { copyFile, readFile, rename, rm, writeFile, chmod } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cleanupTempDirs, makeTempDir } from "../helpers/tmp.js";
import { buildAgent, makeKey } from "../integration/agent/helpers.js";
import { FaultFleet, fillDisk } from "./fleet.js";

const seed = Number(process.env.FLOTILLA_FAULT_SEED ?? Date.now() % 1_000_000);
function mulberry32(a: number): () => number {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = mulberry32(seed);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Fault {
  name: string;
  files?: Record<string, string | null>;
  /**
   * An agent killed mid-activation cannot know how far the switch got: it
   * returns to the recorded generation (rollback events, not blamed) and then
   * deploys the commit again. Every other fault must not roll anything back.
   */
  allowRollback?: boolean;
  /** The commit is bad on purpose: the fleet must halt it cleanly instead (canary rolled back, web untouched). */
  expectHalt?: boolean;
  /** Injects the fault after the round's commit and heals it. */
  run(f: FaultFleet, rev: string): Promise<void>;
  /** Undoes what must stay in place until the fleet converged (e.g. a proxy limit). */
  after?(f: FaultFleet): Promise<void>;
}

/** Opens `n` connections to the controller that start a request and never finish it. */
async function holdConnections(url: string, n: number, slowBody: boolean): Promise<Socket[]> {
  const { hostname, port } = new URL(url);
  const socks: Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = connect(Number(port), hostname);
    s.on("error", () => undefined);
    s.write(`POST /api/v1/reports HTTP/1.1\r\nhost: ${hostname}\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n{`);
    socks.push(s);
  }
  if (slowBody) {
    const t = setInterval(() => {
      for (const s of socks) if (!s.destroyed) s.write(" ");
    }, 500);
    socks.forEach((s) => s.once("close", () => socks.every((x) => x.destroyed) && clearInterval(t)));
    Object.assign(socks, { timer: t });
  }
  return socks;
}

function release(socks: Socket[]): void {
  const t = (socks as unknown as { timer?: NodeJS.Timeout }).timer;
  if (t) clearInterval(t);
  for (const s of socks) s.destroy();
}

const restartAgent = async (d: FaultFleet["agents"]["canary"], pauseMs = 300) => {
  await d.kill9();
  await sleep(pauseMs);
  d.start();
};

const FAULTS: Fault[] = [
  {
    name: "agent kill -9 while building (canary)",
    files: { "markers/canary-1/slow-build": "3\n" },
    run: async (f, rev) => {
      await f.waitPhase(f.canary, rev, ["fetched"]);
      await sleep(800);
      await restartAgent(f.agents.canary);
    },
  },
  {
    name: "agent kill -9 while activating (canary)",
    allowRollback: true,
    files: { "markers/canary-1/slow-build": null },
    run: async (f, rev) => {
      await f.waitPhase(f.canary, rev, ["activating"]);
      await sleep(500);
      await restartAgent(f.agents.canary);
    },
  },
  {
    name: "agent kill -9 while verifying (canary)",
    run: async (f, rev) => {
      await f.waitPhase(f.canary, rev, ["verifying"]);
      await restartAgent(f.agents.canary);
    },
  },
  {
    name: "agent kill -9 while activating (web)",
    allowRollback: true,
    files: { "markers/web-1/slow-switch": "2\n" },
    run: async (f, rev) => {
      await f.waitPhase(f.web, rev, ["activating"], 90_000);
      await sleep(500);
      await restartAgent(f.agents.web);
    },
  },
  {
    name: "agent kill -9 while rolling back a failed switch (canary)",
    expectHalt: true,
    files: { "markers/canary-1/fail-switch": "" },
    run: async (f, rev) => {
      await f.waitPhase(f.canary, rev, ["rollingBack"], 90_000);
      await sleep(300);
      await restartAgent(f.agents.canary);
    },
  },
  {
    name: "agent kill -9 at random moments (both hosts)",
    files: { "markers/canary-1/fail-switch": null, "markers/web-1/slow-switch": null },
    allowRollback: true,
    run: async (f) => {
      await sleep(Math.floor(rnd() * 6_000));
      await restartAgent(f.agents.canary, 200);
      await sleep(Math.floor(rnd() * 6_000));
      await restartAgent(f.agents.web, 200);
    },
  },
  {
    name: "controller kill -9 during the canary's activation",
    run: async (f, rev) => {
      await f.waitPhase(f.canary, rev, ["activating"]);
      await f.ctl.kill9();
      await sleep(1_000);
      await f.ctl.start();
    },
  },
  {
    name: "controller kill -9 at a random moment",
    run: async (f) => {
      await sleep(Math.floor(rnd() * 8_000));
      await f.ctl.kill9();
      await sleep(500);
      await f.ctl.start();
    },
  },
  {
    name: "controller hung (SIGSTOP) for 6 s during the rollout",
    run: async (f, rev) => {
      await f.waitPhase(f.canary, rev, ["activating"]);
      f.ctl.signal("SIGSTOP");
      await sleep(6_000);
      f.ctl.signal("SIGCONT");
    },
  },
  {
    name: "controller down while the canary verifies",
    run: async (f, rev) => {
      await f.waitPhase(f.canary, rev, ["verifying"]);
      await f.ctl.kill9();
      await f.waitPhase(f.canary, rev, ["done"], 20_000).catch(() => undefined);
      await sleep(2_000);
      await f.ctl.start();
    },
  },
  {
    name: "network partition between agents and controller for 6 s",
    run: async (f, rev) => {
      await f.waitPhase(f.canary, rev, ["fetched", "built", "activating"]);
      f.proxy.mode = { kind: "down" };
      await sleep(6_000);
      f.proxy.mode = { kind: "pass" };
    },
  },
  {
    name: "git remote gone for 5 s",
    run: async (f) => {
      const dir = f.canary.repo.dir;
      await rename(dir, `${dir}.gone`);
      await sleep(5_000);
      await rename(`${dir}.gone`, dir);
    },
  },
  {
    name: "git remote corrupt (the new commit's object) for 5 s",
    run: async (f, rev) => {
      const obj = join(f.canary.repo.dir, ".git", "objects", rev.slice(0, 2), rev.slice(2));
      const good = await readFile(obj);
      await chmod(obj, 0o644);
      await writeFile(obj, Buffer.from("this is not a zlib-compressed git object"));
      await sleep(5_000);
      await writeFile(obj, good);
      await chmod(obj, 0o444);
    },
  },
  {
    name: "disk full for the agent's state while it activates (canary)",
    run: async (f, rev) => {
      await f.waitPhase(f.canary, rev, ["activating"]);
      const filler = fillDisk(f.canary.stateDir);
      await sleep(4_000);
      await rm(filler, { force: true });
    },
  },
  {
    name: "disk full for the controller's database during the rollout",
    run: async (f) => {
      const filler = fillDisk(f.dataDir);
      await sleep(6_000);
      await rm(filler, { force: true });
    },
  },
  {
    name: "web's clock 10 minutes ahead, then corrected",
    run: async (f) => {
      await writeFile(f.clockFile, "+10m\n");
      await sleep(10_000);
      await writeFile(f.clockFile, "+0\n");
    },
  },
  {
    name: "web's clock 10 minutes behind, then corrected",
    run: async (f) => {
      await writeFile(f.clockFile, "-10m\n");
      await sleep(10_000);
      await writeFile(f.clockFile, "+0\n");
    },
  },
  {
    name: "oversized batches: a partition queues reports, then a proxy refuses bodies over 1500 bytes (413)",
    run: async (f, rev) => {
      await f.waitPhase(f.canary, rev, ["fetched", "built", "activating"]);
      f.proxy.mode = { kind: "down" };
      await sleep(6_000);
      f.proxy.mode = { kind: "cap", maxBodyBytes: 1500 };
    },
    after: async (f) => {
      f.proxy.mode = { kind: "pass" };
    },
  },
  {
    name: "descriptor exhaustion: 300 unfinished requests against a controller limited to 256 descriptors",
    run: async (f) => {
      const socks = await holdConnections(f.ctl.url, 300, false);
      await sleep(6_000);
      release(socks);
    },
  },
  {
    name: "slow request bodies: 40 POSTs trickling a byte every 500 ms",
    run: async (f) => {
      const socks = await holdConnections(f.ctl.url, 40, true);
      await sleep(8_000);
      release(socks);
    },
  },
];

/** Host-key rotation is its own round: the commit carries the new key. */
async function rotateWebKey(f: FaultFleet): Promise<{ rev: string }> {
  const dir = await makeTempDir("flotilla-faults-rotate-");
  const fresh = makeKey(dir, "web_key_2");
  const rev = await f.commit("host-key rotation (web)", { "fleet.yaml": f.fleetYaml(fresh.pub) });
  await sleep(1_000);
  await copyFile(fresh.path, f.webKeyPath);
  await copyFile(`${fresh.path}.pub`, `${f.webKeyPath}.pub`);
  f.webKeyPub = fresh.pub;
  return { rev };
}

let fleet: FaultFleet;
beforeAll(async () => {
  await buildAgent();
  fleet = await FaultFleet.create();
}, 120_000);
afterAll(async () => {
  await fleet?.close();
  await cleanupTempDirs();
});

describe("fault matrix", () => {
  it("survives every fault with no event lost and no host stuck", async () => {
    const f = fleet;
    const results: Array<{ name: string; survived: boolean; why: string; stuck: number }> = [];
    const initial = (await f.canary.repo.head()) as string;
    const first = await waitConverged(f, initial, 180_000);
    expect(first.ok, `the fleet never converged on its first commit: ${first.why}\n${f.ctl.output.slice(-2000)}`).toBe(true);

    const rounds: Array<{ name: string; allowRollback?: boolean; expectHalt?: boolean; go: () => Promise<string>; after?: () => Promise<void> }> = FAULTS.map((fault) => ({
      name: fault.name,
      allowRollback: fault.allowRollback ?? false,
      expectHalt: fault.expectHalt ?? false,
      go: async () => {
        const rev = await f.commit(fault.name, fault.files ?? {});
        await fault.run(f, rev);
        return rev;
      },
      ...(fault.after ? { after: () => fault.after!(f) } : {}),
    }));
    rounds.splice(15, 0, { name: "host-key rotation (web)", go: async () => (await rotateWebKey(f)).rev });

    // FLOTILLA_FAULTS=word,word runs only the rounds whose names contain one of them (while developing).
    const only = process.env.FLOTILLA_FAULTS?.split(",").filter(Boolean);
    for (const r of only ? rounds.filter((x) => only.some((w) => x.name.includes(w))) : rounds) {
      const started = Date.now();
      let rev = "";
      let res: { ok: boolean; why: string };
      try {
        rev = await r.go();
        res = r.expectHalt ? await waitFor(() => f.halted(rev), 120_000) : await waitConverged(f, rev, 120_000);
        if (res.ok && !r.allowRollback && !r.expectHalt && f.rollbacksOf(rev) > 0) res = { ok: false, why: `${f.rollbacksOf(rev)} rollback events for ${rev.slice(0, 8)}` };
        if (!res.ok) res.why += `\n  events for ${rev.slice(0, 8)}:\n${f.eventsOf(rev)}`;
      } catch (e) {
        res = { ok: false, why: `the round itself failed: ${(e as Error).message}` };
      }
      await r.after?.();
      const stuck = res.ok ? 0 : await stuckHosts(f, rev);
      results.push({ name: r.name, survived: res.ok, why: res.why, stuck });
      console.log(`fault ${results.length}: ${r.name}: ${res.ok ? "survived" : `NOT survived (${res.why})`} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      if (!res.ok) await recover(f);
    }

    const lost = f.lostEvents();
    const survived = results.filter((r) => r.survived).length;
    const stuck = results.reduce((n, r) => n + r.stuck, 0);
    const line = `faults: injected ${results.length}, survived ${survived}, events lost ${lost}, hosts stuck ${stuck}`;
    console.log(`${line} (seed ${seed}; 413s from the proxy: ${f.proxy.refused413})`);
    expect(results.filter((r) => !r.survived).map((r) => `${r.name}: ${r.why}`)).toEqual([]);
    expect(lost).toBe(0);
    expect(stuck).toBe(0);
  }, 40 * 60_000);
});

function waitConverged(f: FaultFleet, rev: string, timeoutMs: number): Promise<{ ok: boolean; why: string }> {
  return waitFor(() => f.converged(rev), timeoutMs);
}

async function waitFor(probe: () => Promise<{ ok: boolean; why: string }>, timeoutMs: number): Promise<{ ok: boolean; why: string }> {
  const deadline = Date.now() + timeoutMs;
  let last = { ok: false, why: "not checked" };
  while (Date.now() < deadline) {
    last = await probe();
    if (last.ok) return last;
    await sleep(250);
  }
  return last;
}

/** Hosts that did not reach `rev` (for the summary), counted when a round failed. */
async function stuckHosts(f: FaultFleet, rev: string): Promise<number> {
  let n = 0;
  for (const w of [f.canary, f.web]) {
    const s = await f.state(w);
    const c = s?.cycle as { phase: string; target?: { rev: string } } | undefined;
    if (!c || !["done", "rolledBack", "failed", "idle"].includes(c.phase)) n++;
  }
  return n;
}

/** After a failed round: put the fleet back together so the next fault is judged on its own. */
async function recover(f: FaultFleet): Promise<void> {
  f.proxy.mode = { kind: "pass" };
  await writeFile(f.clockFile, "+0\n");
  if (!f.ctl.alive()) await f.ctl.start().catch(() => undefined);
  for (const d of [f.agents.canary, f.agents.web]) if (!d.alive()) d.start();
}
