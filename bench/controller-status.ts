// `flotilla status` for 10,000 hosts: a controller (own process, SQLite) with
// a 10,000-host fleet in two waves, every host having reported a heartbeat and
// a deploy of the head; then `flotilla status` (the CLI's run(): HTTP request,
// the controller building the report, validation and rendering) timed with
// cold controller caches (>1 s apart), as JSON and as text; then the
// dashboard's main page and a host page (GET with a bearer token, body read).
// HOSTS=N sets the fleet size (default 10,000); a fleet file over the 1 MiB
// limit (more than ~7,500 of the bench's hosts) is refused up front.
// Run: node --import tsx bench/controller-status.ts
import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import { main } from "../controller/src/cli.js";
import { cleanupTempDirs } from "../test/helpers/tmp.js";
import { FLEET_FILE_MAX_BYTES } from "../common/src/fleet/load.js";
import { fleetRepo, fleetYaml, makeHosts, signAs, spawnController, TOKEN } from "./controller-lib.js";

const N = Number(process.env.HOSTS ?? 10_000);
const RUNS = Number(process.env.RUNS ?? 10);

const t0 = performance.now();
const hosts = makeHosts(N);
const fleetBytes = Buffer.byteLength(fleetYaml(hosts, 10));
// The controller (and every agent) refuses a fleet file over 1 MiB: say so now rather than time out waiting for it.
if (fleetBytes > FLEET_FILE_MAX_BYTES) throw new Error(`the bench's fleet file for ${N} hosts is ${fleetBytes} bytes, over the ${FLEET_FILE_MAX_BYTES}-byte (1 MiB) fleet-file limit: the controller would never load it`);
const repo = await fleetRepo(hosts, 10);
const rev = await repo.head();
const ctl = await spawnController(repo.url);
console.log(`setup: ${N} hosts (fleet file ${(fleetBytes / 1024).toFixed(0)} KiB), controller up in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

let next = 0;
const now = Date.now();
const post = async () => {
  for (let i = next++; i < hosts.length; i = next++) {
    const h = hosts[i]!;
    const generation = `/nix/store/${randomBytes(16).toString("hex")}-system`;
    const reports = [
      signAs(h, { type: "heartbeat", host: h.name, seq: 1, time: new Date(now).toISOString(), agentVersion: "bench", phase: "idle", currentRev: null, currentGeneration: null, targetRev: rev, healthy: true, queueLength: 0 }),
      signAs(h, { type: "event", host: h.name, seq: 2, time: new Date(now).toISOString(), agentVersion: "bench", phase: "done", outcome: "succeeded", reason: "Succeeded", rev, generation }),
    ];
    let res = await fetch(`${ctl.url}/api/v1/reports`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ reports }) });
    // a controller that has not loaded the fleet file yet (a loaded machine) answers 503 FleetUnavailable: wait for it
    for (let tries = 0; res.status === 503 && tries < 300; tries++) {
      await res.text();
      await new Promise((r) => setTimeout(r, 200));
      res = await fetch(`${ctl.url}/api/v1/reports`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ reports }) });
    }
    if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  }
};
const t1 = performance.now();
await Promise.all(Array.from({ length: 16 }, post));
console.log(`populated ${N} hosts in ${((performance.now() - t1) / 1000).toFixed(1)} s`);

async function status(args: string[]): Promise<{ ms: number; bytes: number; code: number }> {
  const stdout = new PassThrough();
  let bytes = 0;
  stdout.on("data", (d: Buffer) => (bytes += d.length));
  const start = performance.now();
  const code = await main(["status", "--controller", ctl.url, "--token", TOKEN, ...args], { stdout, stderr: process.stderr, cwd: process.cwd() });
  return { ms: performance.now() - start, bytes, code };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [label, args] of [["--json", ["--json"]], ["text", []]] as const) {
  await status([...args]); // warm the CLI's own code paths
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    await new Promise((r) => setTimeout(r, 1_100)); // let the controller's 1 s caches expire
    const r = await status([...args]);
    if (r.code !== 0) throw new Error(`flotilla status exited ${r.code}`);
    times.push(r.ms);
    bytes = r.bytes;
  }
  console.log(`flotilla status ${label} (${N} hosts, ${(bytes / 1024 / 1024).toFixed(1)} MiB out): median ${median(times).toFixed(0)} ms, min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)} (${RUNS} cold runs)`);
}
{
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    await new Promise((r) => setTimeout(r, 1_100));
    const start = performance.now();
    const res = await fetch(`${ctl.url}/api/v1/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    await res.text();
    times.push(performance.now() - start);
  }
  console.log(`of which the controller's answer (GET /api/v1/status, body read, no parsing): median ${median(times).toFixed(0)} ms, min ${Math.min(...times).toFixed(0)}`);
}
// The dashboard: the main page (every host, the recent rollouts) and one host's page, as a browser gets them.
for (const [label, path] of [["dashboard main page (GET /)", "/"], ["host page (GET /hosts/<host>)", `/hosts/${hosts[Math.floor(N / 2)]!.name}`], ["host page, live update (?fragment=1)", `/hosts/${hosts[Math.floor(N / 2)]!.name}?fragment=1`]] as const) {
  const times: number[] = [];
  let bytes = 0;
  for (let i = 0; i < RUNS; i++) {
    await new Promise((r) => setTimeout(r, 1_100));
    const start = performance.now();
    const res = await fetch(`${ctl.url}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const body = await res.text();
    times.push(performance.now() - start);
    if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status}`);
    bytes = body.length;
  }
  console.log(`${label} (${N} hosts, ${(bytes / 1024 / 1024).toFixed(2)} MiB): median ${median(times).toFixed(0)} ms, min ${Math.min(...times).toFixed(0)}, max ${Math.max(...times).toFixed(0)} (${RUNS} cold runs)`);
}
console.log(`controller RSS: ${(await ctl.rssMiB()).toFixed(0)} MiB`);
await ctl.stop();
await cleanupTempDirs();
