// A full deploy by the agent vs the bare commands it wraps, interleaved in
// the same run, each on its own new commit (so every build is real):
//   bare: git fetch (bare cache) + nix build toplevel + nix-env --set +
//         switch-to-configuration switch + the host's check (grep) + git ls-remote
//   agent: driver.runCycle() (poll, fetch, fleet, build, activate, verify,
//          connectivity, events queued and signed, state saved)
// Target: agent ≤ 1.1 × bare + 300 ms.
//   node --import tsx bench/agent-deploy.ts [rounds]
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { cleanupTempDirs } from "../test/helpers/tmp.js";
import { benchWorld, median } from "./agent-setup.js";

const ROUNDS = Number(process.argv[2] ?? 8);
const w = await benchWorld();
const first = await w.agent.driver.runCycle();
if (first.code !== "ok") throw new Error(first.message);

const bareDir = join(w.root, "bare");
await mkdir(bareDir);
await execa("git", ["init", "-q", "--bare", join(bareDir, "cache.git")]);
const bareProfile = join(bareDir, "system");
const env = { ...w.env, FLOTILLA_FIXTURE_STATE: join(bareDir, "fixture"), FLOTILLA_FIXTURE_LOG: join(bareDir, "calls.jsonl") };

async function bareDeploy(rev: string): Promise<void> {
  const cache = join(bareDir, "cache.git");
  await execa("git", ["--git-dir", cache, "fetch", "--quiet", "--no-tags", w.repo.url, "+refs/heads/main:refs/heads/main"]);
  const b = await execa("nix", ["build", "--no-link", "--json", `git+file://${cache}?rev=${rev}&ref=refs/heads/main#nixosConfigurations.canary-1.config.system.build.toplevel`], { env, extendEnv: false });
  const out = (JSON.parse(b.stdout) as Array<{ outputs: { out: string } }>)[0]!.outputs.out;
  await execa("nix-env", ["-p", bareProfile, "--set", out], { env, extendEnv: false });
  await execa(`${out}/bin/switch-to-configuration`, ["switch"], { env, extendEnv: false });
  await execa("grep", ["-qx", "ok", join(env.FLOTILLA_FIXTURE_STATE, "canary-1", "health")]);
  await execa("git", ["ls-remote", "--heads", w.repo.url, "refs/heads/main"]);
}

const agent: number[] = [];
const bare: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  // Each side gets its own fresh commit, so each builds a new out path.
  let rev = await w.repo.commit({ "notes.txt": `agent ${i} ${Date.now()}\n` }, `agent ${i}`);
  let t = performance.now();
  const r = await w.agent.driver.runCycle();
  agent.push(performance.now() - t);
  if (r.code !== "ok" || r.state.current?.rev !== rev) throw new Error(`agent deploy failed: ${r.message}`);
  rev = await w.repo.commit({ "notes.txt": `bare ${i} ${Date.now()}\n` }, `bare ${i}`);
  t = performance.now();
  await bareDeploy(rev);
  bare.push(performance.now() - t);
}
const ma = median(agent);
const mb = median(bare);
console.log(`full deploy, ${ROUNDS} rounds: agent median ${ma.toFixed(0)} ms, bare commands median ${mb.toFixed(0)} ms; overhead ${(ma - mb).toFixed(0)} ms, ratio ${(ma / mb).toFixed(2)}×; target ${(1.1 * mb + 300).toFixed(0)} ms → ${ma <= 1.1 * mb + 300 ? "met" : "missed"}`);
console.log(`agent: ${agent.map((x) => x.toFixed(0)).join(", ")} ms; bare: ${bare.map((x) => x.toFixed(0)).join(", ")} ms`);
await cleanupTempDirs();
