// A 1,000-host rollout in three waves with soak 0: orchestration overhead.
//
//   npm run build && node --import tsx bench/rollout-1000.ts [hosts, default 1000] [rollouts measured, default 3]
//
// The built controller (`bin/flotilla.js serve`, SQLite, its own process)
// follows a real fleet repo (git, polled every 1 s). 1,000 simulated agents
// run in this process and speak the real protocol over HTTP on 127.0.0.1:
// each keeps a long-poll open (GET /api/v1/watch), and on a nudge asks the
// signed gate (waves after the first), then reports signed
// activating/started and done/succeeded events with a health result on the
// new generation. Deploys take no time, so everything measured from the
// merge (the `git commit`) to "rollout complete" is orchestration: noticing
// the commit, nudges, gate answers, report ingest, wave decisions.
// One warm-up rollout (every host from nothing to C0) runs first.
import { setMaxListeners } from "node:events";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { StatusReport } from "../schemas/src/api.js";
import { makeFleetRepo } from "../test/helpers/git-repo.js";
import { fleetYaml, makeHost, operatorGet, SimAgent, startController, stats } from "./rollout-lib.js";

const N = Number(process.argv[2] ?? 1_000);
const ROLLOUTS = Number(process.argv[3] ?? 3);
const CANARY = Math.max(1, Math.round(N * 0.01));
const EARLY = Math.round(N * 0.19);

const hosts = Array.from({ length: N }, (_, i) => makeHost(`h${String(i).padStart(4, "0")}`));
const waves = [
  { name: "canary", members: hosts.slice(0, CANARY).map((h) => h.name) },
  { name: "early", members: hosts.slice(CANARY, CANARY + EARLY).map((h) => h.name) },
  { name: "fleet", members: hosts.slice(CANARY + EARLY).map((h) => h.name) },
];
const waveOf = new Map(waves.flatMap((w, i) => w.members.map((m) => [m, i] as const)));

const dir = mkdtempSync(join(tmpdir(), "flotilla-bench-1000-"));
const repo = await makeFleetRepo({ files: { "fleet.yaml": fleetYaml(hosts, waves) }, message: "bench fleet" });
const ctl = await startController(dir, { repoUrl: repo.url, pollInterval: "1s" });
process.stderr.write(`controller ${ctl.url}; ${N} hosts in waves ${waves.map((w) => `${w.name}(${w.members.length})`).join(" → ")}, soak 0\n`);

/** Per revision: when each host started activating and finished (agent side, ms). */
const started = new Map<string, Map<string, number>>();
const finished = new Map<string, Map<string, number>>();
const errors: string[] = [];
let gateQueries = 0;
let nudges = 0;
let stop = false;
const abort = new AbortController();
setMaxListeners(0, abort.signal); // one listener per open long-poll

async function agentLoop(sim: SimAgent): Promise<void> {
  let since: string | null = null;
  let wait = 55_000;
  while (!stop) {
    let head: string | null;
    try {
      const n = await sim.watch(since, wait, abort.signal);
      nudges++;
      head = n.head;
    } catch (e) {
      if (stop) return;
      errors.push(`${sim.host.name}: watch: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    wait = 55_000;
    if (!head || head === sim.current) {
      since = head;
      continue;
    }
    try {
      if ((waveOf.get(sim.host.name) ?? 0) > 0) {
        gateQueries++;
        const g = await sim.gate(head);
        if (g.decision !== "open") {
          // Wait for the controller's nudge when the wave opens; ask again after retryAfterMs at the latest.
          since = head;
          wait = g.decision === "wait" || g.decision === "unknown-revision" ? Math.max(g.retryAfterMs ?? 5_000, 200) : 55_000;
          continue;
        }
      }
      (started.get(head) ?? started.set(head, new Map()).get(head)!).set(sim.host.name, Date.now());
      await sim.activating(head);
      await sim.done(head);
      (finished.get(head) ?? finished.set(head, new Map()).get(head)!).set(sim.host.name, Date.now());
      since = head;
    } catch (e) {
      errors.push(`${sim.host.name}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

async function rolloutState(rev: string): Promise<string> {
  const s = await operatorGet<StatusReport>(ctl.url, "/api/v1/status");
  return s.rollouts.find((r) => r.rev === rev)?.state ?? "unseen";
}

async function waitComplete(rev: string, since: number): Promise<number> {
  let last = Date.now();
  for (;;) {
    if ((finished.get(rev)?.size ?? 0) === N && (await rolloutState(rev)) === "complete") return Date.now();
    if (Date.now() - since > 300_000) throw new Error(`rollout of ${rev.slice(0, 12)} not complete after 300 s: ${finished.get(rev)?.size ?? 0}/${N} done; errors: ${errors.slice(-5).join("; ")}`);
    if (Date.now() - last > 5_000) {
      process.stderr.write(`  … ${finished.get(rev)?.size ?? 0}/${N} hosts done\n`);
      last = Date.now();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const sims = hosts.map((h) => new SimAgent(h, ctl.url));
const loops = sims.map((s) => agentLoop(s));
const c0 = await repo.head();
let t = Date.now();
await waitComplete(c0, t);
process.stderr.write(`warm-up rollout (from nothing to C0): ${((Date.now() - t) / 1000).toFixed(1)} s\n`);

const rows: string[] = [];
const totals: number[] = [];
for (let i = 1; i <= ROLLOUTS; i++) {
  await new Promise((r) => setTimeout(r, 500 + Math.random() * 1_000));
  const q0 = gateQueries;
  const rev = await repo.commit({ [`releases/${i}`]: `${i}\n` }, `release ${i}`);
  t = Date.now();
  const complete = await waitComplete(rev, t);
  const s = started.get(rev)!;
  const f = finished.get(rev)!;
  const firstOf = (w: number) => Math.min(...waves[w]!.members.map((m) => s.get(m)!));
  const lastOf = (w: number) => Math.max(...waves[w]!.members.map((m) => f.get(m)!));
  const sec = (ms: number) => `${((ms - t) / 1000).toFixed(2)}`;
  totals.push(complete - t);
  rows.push(
    `| C${i} | ${sec(firstOf(0))} | ${sec(lastOf(0))} | ${sec(firstOf(1))} | ${sec(lastOf(1))} | ${sec(firstOf(2))} | ${sec(lastOf(2))} | ${sec(complete)} | ${gateQueries - q0} |`,
  );
  process.stderr.write(`C${i}: complete after ${sec(complete)} s\n`);
}
stop = true;
abort.abort();
await Promise.race([Promise.allSettled(loops), new Promise((r) => setTimeout(r, 2_000))]);
await ctl.stop();
rmSync(dir, { recursive: true, force: true });

console.log(`\n${N} hosts, waves canary(${CANARY}) → early(${EARLY}) → fleet(${N - CANARY - EARLY}), soak 0, controller follows the repo every 1 s; seconds from the merge:\n`);
console.log("| rollout | canary first start | canary all healthy | early first start | early all healthy | fleet first start | fleet all healthy | controller: complete | gate queries |");
console.log("|---|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);
const st = stats(totals);
console.log(`\nmerge → rollout complete: p50 ${(st.p50 / 1000).toFixed(2)} s, max ${(st.max / 1000).toFixed(2)} s (target ≤ 30 s: ${st.max <= 30_000 ? "met" : "**missed**"}); ${errors.length} agent-side errors${errors.length ? `: ${errors.slice(0, 3).join("; ")}` : ""}`);
process.exit(0);
