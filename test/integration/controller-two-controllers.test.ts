// Two controller processes sharing one PostgreSQL database never
// double-promote a wave: decisions are recorded (and acted on) exactly once.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { execa, type ResultPromise } from "execa";
import pg from "pg";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StatusReport } from "../../schemas/src/api.js";
import type { HostSigner } from "../../common/src/signing.js";
import { makeTempDir } from "../helpers/tmp.js";
import { api, makeHostSigners, newFleetRepo, OPERATOR_TOKEN, SimAgent, waitFor } from "./controller/harness.js";
import { startPostgres, type TestPostgres } from "./controller/postgres.js";

const CHILD = fileURLToPath(new URL("./controller/serve-child.ts", import.meta.url));
const WEB = ["web-1", "web-2", "web-3", "web-4"];
let pgs: TestPostgres;
let signers: Record<string, HostSigner>;
const procs: { proc: ResultPromise; stderr: () => string }[] = [];

beforeAll(async () => {
  [pgs, signers] = await Promise.all([startPostgres(), makeHostSigners(["canary-1", ...WEB, "db-1"])]);
});
afterAll(async () => {
  for (const p of procs) p.proc.kill("SIGKILL");
  await pgs?.stop();
});

async function spawnController(remote: string, database: string): Promise<{ url: string; stop: () => Promise<string> }> {
  const dir = await makeTempDir("flotilla-ctl-proc-");
  const config = join(dir, "controller.yaml");
  await writeFile(config, stringify({ listen: "127.0.0.1:0", dataDir: join(dir, "data"), database, fleet: { remotes: [remote], pollInterval: "1h" }, auth: { operatorTokens: [{ name: "ops", token: { value: OPERATOR_TOKEN } }] } }));
  const proc = execa("node", ["--import", "tsx", CHILD, "serve", "--config", config], { reject: false, buffer: false, cwd: process.cwd() });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d) => (out += d));
  proc.stderr!.on("data", (d) => (err += d));
  procs.push({ proc, stderr: () => err });
  const url = await waitFor(async () => /listening on (http:\/\/\S+)/.exec(out)?.[1] ?? (proc.exitCode !== null ? Promise.reject(new Error(`controller exited: ${err}`)) : null), "controller to listen", 30_000);
  return {
    url,
    async stop() {
      proc.kill("SIGTERM");
      await proc;
      return err;
    },
  };
}

describe("two controllers, one PostgreSQL", () => {
  it("promote each wave exactly once while both evaluate concurrently", async () => {
    const repo = await newFleetRepo(signers, { waves: [{ name: "canary", members: ["canary-1"], soak: "1s" }, { name: "web", members: WEB }, { name: "db", members: ["db-1"] }] });
    const C = await repo.head();
    const database = await pgs.createDatabase("two");
    const [a, b] = await Promise.all([spawnController(repo.url, database), spawnController(repo.url, database)]);
    const agents = Object.fromEntries(Object.entries(signers).map(([h, s]) => [h, new SimAgent(s, a.url)]));
    for (const [i, ag] of Object.values(agents).entries()) {
      ag.base = i % 2 ? b.url : a.url;
      expect((await ag.send(ag.heartbeat())).status).toBe(200);
    }
    await agents["canary-1"]!.send(...agents["canary-1"]!.deployed(C));
    // Hammer both controllers with gate questions through the soak.
    let opened = false;
    const hammer = async (ag: SimAgent, base: string) => {
      ag.base = base;
      while (!opened) {
        const g = await ag.gate(C);
        if (g.body.decision === "open") opened = true;
      }
    };
    await Promise.all(WEB.flatMap((h) => [hammer(new SimAgent(signers[h]!, a.url), a.url), hammer(new SimAgent(signers[h]!, b.url), b.url)]));
    for (const [i, h] of WEB.entries()) {
      const ag = agents[h]!;
      ag.base = i % 2 ? a.url : b.url;
      await ag.send(...ag.deployed(C));
    }
    await waitFor(async () => (await agents["db-1"]!.gate(C)).body.decision === "open", "db to open", 15_000);
    await agents["db-1"]!.send(...agents["db-1"]!.deployed(C));
    for (const base of [a.url, b.url]) {
      await waitFor(async () => (await api<StatusReport>(base, "/api/v1/status")).body.rollouts[0]?.state === "complete", `complete on ${base}`);
    }
    await new Promise((r) => setTimeout(r, 1500)); // a few more ticks on both
    const perController = await Promise.all([a.stop(), b.stop()]);
    const keysOf = (log: string) => log.split("\n").filter((l) => l.includes("rollout: decision")).map((l) => `${/wave=(\S+)/.exec(l)?.[1]}:${/state=(\S+)/.exec(l)?.[1]}`);
    const keys = perController.flatMap(keysOf);
    expect(keys.filter((k) => k === "canary:promoted")).toHaveLength(1);
    expect(keys.filter((k) => k === "web:promoted")).toHaveLength(1);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys).toEqual(expect.arrayContaining(["canary:progressing", "canary:soaking", "canary:promoted", "web:progressing", "web:promoted", "db:promoted", "(rollout):complete"]));
    const client = new pg.Client({ connectionString: database });
    await client.connect();
    const rows = (await client.query("SELECT wave, state, controller FROM decisions WHERE rev = $1", [C])).rows as { wave: string; state: string; controller: string }[];
    await client.end();
    // Each controller acted on (logged) exactly the decisions the database says it recorded.
    const recordedBy = new Map<string, string[]>();
    for (const r of rows) recordedBy.set(r.controller, [...(recordedBy.get(r.controller) ?? []), `${r.wave || "(rollout)"}:${r.state}`]);
    const sorted = (xs: string[]) => [...xs].sort();
    expect(sorted([...recordedBy.values()].map((k) => sorted(k).join(",")))).toEqual(sorted(perController.map((l) => sorted(keysOf(l)).join(",")).filter(Boolean)));
  });
});
