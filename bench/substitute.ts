// The agent's substitute step vs the bare command it wraps, interleaved in
// the same run, each round on its own new commit built once by the builder
// (buildFleet: nix build, nix store sign, nix copy --to file://) and deleted
// from the store before each side runs:
//   bare:  nix copy --from file://<cache> --option require-sigs true
//          --option trusted-public-keys <key> <out>
//   agent: loop/substitute.ts with the real adapters (git fetch of the release
//          ref, signature and manifest checks, nix path-info, the same nix
//          copy, nix path-info again)
// Target: agent ≤ 1.1 × bare + 300 ms.
//   node --import tsx bench/substitute.ts [rounds]
import { readFileSync } from "node:fs";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { createLogger } from "../common/src/log.js";
import { signRelease } from "../common/src/release/manifest.js";
import { writeRelease } from "../common/src/release/refs.js";
import { ed25519FromOpenSsh } from "../common/src/signing.js";
import { buildFleet, nixRunner } from "../controller/src/build/builder.js";
import { loopContext } from "../node-agent/src/loop/context.js";
import { substitute } from "../node-agent/src/loop/substitute.js";
import { cleanupTempDirs } from "../test/helpers/tmp.js";
import { benchWorld, median } from "./agent-setup.js";

const ROUNDS = Number(process.argv[2] ?? 8);
const w = await benchWorld();
const env = w.env;
const nix = nixRunner(env);
const log = createLogger({ component: "bench", level: "error" });
const sec = join(w.root, "cache.sec");
await writeFile(sec, await nix(["key", "generate-secret", "--key-name", "bench-1"]));
const publicKey = (await execa("nix", ["key", "convert-secret-to-public"], { env, extendEnv: false, inputFile: sec })).stdout.trim();
await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(w.root, "builder")]);
const builder = ed25519FromOpenSsh(readFileSync(join(w.root, "builder")));
const hostPub = readFileSync(join(w.root, "host_key.pub"), "utf8").trim();
const cache = `file://${join(w.root, "cache")}`;
const copyArgs = (out: string) => ["copy", "--from", cache, "--option", "require-sigs", "true", "--option", "trusted-public-keys", publicKey, out];

async function release(i: number): Promise<{ rev: string; out: string }> {
  const fleet = {
    version: 1,
    hosts: [{ name: "canary-1", kind: "nixos", hostKey: hostPub }],
    delivery: { mode: "substitute", wait: "1s", caches: [{ url: cache, publicKey }], builders: [{ name: "bench", key: builder.publicKeyLine }] },
  };
  const rev = await w.repo.commit({ "fleet.yaml": JSON.stringify(fleet), "round.txt": String(i) }, `round ${i}`);
  const { remote } = await w.agent.deps.source.head();
  await w.agent.deps.source.fetch(remote, rev);
  const f = (await w.agent.deps.source.loadFleet(rev)).fleet!;
  const built = await buildFleet(f, { nix, flakeRef: w.repo.flakeRef(rev), signingKeyFile: sec, caches: [cache] });
  const h = built[0]!;
  const manifest = { type: "flotilla-release" as const, version: 1 as const, rev, builder: { name: "bench", key: builder.publicKeyLine }, builtAt: new Date().toISOString(), caches: [cache], hosts: { [h.host]: { kind: h.kind, outPath: h.outPath, generation: h.generation, attribute: h.attribute, closureSize: h.closureSize } } };
  await writeRelease({ gitDir: join(w.repo.dir, ".git"), rev, text: JSON.stringify(signRelease(manifest, builder)), log });
  return { rev, out: h.outPath };
}

async function drop(out: string): Promise<void> {
  await execa("nix", ["store", "delete", out], { env, extendEnv: false });
}

const ctx = loopContext(w.agent.deps);
async function agentStep(rev: string): Promise<void> {
  const { fleet } = await ctx.fleetAt(rev); // memoised: the poll read it before the build step
  const host = fleet!.hosts[0]!;
  const r = await substitute(ctx, { fleet: fleet!, host, target: { rev, head: rev, kind: "nixos", resolution: "head", remote: w.remote, policyHead: rev } });
  if (r.kind !== "substituted") throw new Error(`expected a substitution: ${JSON.stringify(r)}`);
}

const agent: number[] = [];
const bare: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  const { rev, out } = await release(i);
  await ctx.fleetAt(rev);
  const sides: Array<[number[], () => Promise<unknown>]> = [
    [bare, () => execa("nix", copyArgs(out), { env, extendEnv: false })],
    [agent, () => agentStep(rev)],
  ];
  if (i % 2) sides.reverse();
  for (const [into, run] of sides) {
    await drop(out);
    const t0 = performance.now();
    await run();
    into.push(performance.now() - t0);
  }
}
const a = median(agent);
const b = median(bare);
console.log(`rounds ${ROUNDS}: substitute step median ${a.toFixed(0)} ms, bare nix copy --from median ${b.toFixed(0)} ms, ratio ${(a / b).toFixed(2)}, overhead ${(a - b).toFixed(0)} ms; target ≤ ${(1.1 * b + 300).toFixed(0)} ms: ${a <= 1.1 * b + 300 ? "met" : "missed"}`);
console.log(`agent: ${agent.map((x) => x.toFixed(0)).join(" ")}\nbare:  ${bare.map((x) => x.toFixed(0)).join(" ")}`);
await cleanupTempDirs();
