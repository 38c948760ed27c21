// Build once vs build everywhere, for a commit that changes every host: 10
// hosts that each build their own system (delivery: build) against 10 hosts
// that substitute what one builder built (delivery: substitute), on real Nix
// with the offline test flake (stand-in systems: /bin/sh derivations), real
// `flotilla-agent once` processes (the built bin/, one state dir, host key and
// profile each) and the real `flotilla build` copying to a real HTTP binary
// cache on 127.0.0.1.
//
// Per round, two commits (order alternating), each changing every host's
// toplevel (the revision is baked into it):
//   build:      merge → the 10 agents start at once, each evaluates and builds
//               its toplevel, activates, checks; done when all 10 exited 0.
//   substitute: merge → `flotilla build --publish` (the builder: all 10
//               built, signed, copied to the cache, release ref pushed), the
//               10 toplevels deleted from the store (the hosts do not have
//               them), then the 10 agents at once: release ref, signature,
//               nix copy --from the cache, activate, check.
// Measured: host CPU-seconds (user+sys of each agent's whole process tree,
// /usr/bin/time, nix's builders included: root uses the local store, no
// daemon), builder CPU-seconds, merge → all activated (wall), bytes moved
// through the cache (HTTP bodies). All hosts share one machine and one Nix
// store: the store-wide parts of the closure (the stand-in kernel) are
// already there on both sides; what differs per host is its toplevel.
// Every host's toplevel hashes CPU_MIB MiB while it builds (a CPU-bound
// stand-in for compiling) and carries PAYLOAD_KIB KiB of random bytes (so a
// substitution moves bytes): test/fixtures markers cpu-build and payload.
//   node --import tsx bench/delivery-fleet.ts [rounds=3] [hosts=10] [cpuMiB=256] [payloadKiB=4096]
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { startCacheServer } from "../test/helpers/nix-cache-server.js";
import { makeFleetRepo } from "../test/helpers/git-repo.js";
import { nixEnv } from "../test/helpers/nix-env.js";
import { cleanupTempDirs, makeTempDir, stateDirs } from "../test/helpers/tmp.js";
import { median } from "./agent-setup.js";

const ROUNDS = Number(process.argv[2] ?? 3);
const N = Number(process.argv[3] ?? 10);
/** Stand-in build cost per host (MiB hashed: markers/<host>/cpu-build) and closure payload (KiB: markers/<host>/payload). */
const CPU_MIB = Number(process.argv[4] ?? 256);
const PAYLOAD_KIB = Number(process.argv[5] ?? 4096);
const ROOT = new URL("../", import.meta.url).pathname;
const AGENT = join(ROOT, "bin", "flotilla-agent.js");
const FLOTILLA = join(ROOT, "bin", "flotilla.js");

const root = await makeTempDir("flotilla-bench-delivery-");
const fixture = await stateDirs();
const env = nixEnv(fixture.env);
const hosts = Array.from({ length: N }, (_, i) => `host-${i}`);
const markers = Object.fromEntries(hosts.flatMap((h) => [[`markers/${h}/cpu-build`, `${CPU_MIB}\n`], [`markers/${h}/payload`, `${PAYLOAD_KIB}\n`]]));
const repo = await makeFleetRepo({ template: true });
const cache = await startCacheServer(join(root, "cache"));

// Keys: a Nix signing key for the cache, an ed25519 builder key, one host key per host.
const sec = join(root, "cache.sec");
await writeFile(sec, (await execa("nix", ["key", "generate-secret", "--key-name", "bench-cache-1"], { env, extendEnv: false })).stdout);
const publicKey = (await execa("nix", ["key", "convert-secret-to-public"], { env, extendEnv: false, inputFile: sec })).stdout.trim();
execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(root, "builder")]);
const builderPub = readFileSync(join(root, "builder.pub"), "utf8").trim();
const hostPub: Record<string, string> = {};
for (const h of hosts) {
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(root, `${h}_key`)]);
  hostPub[h] = readFileSync(join(root, `${h}_key.pub`), "utf8").trim();
}

function fleet(mode: "build" | "substitute"): string {
  return JSON.stringify({
    version: 1,
    agent: { keepGenerations: 2 },
    hosts: hosts.map((h) => ({ name: h, kind: "nixos", hostKey: hostPub[h], checks: [{ type: "command", name: "health-file", command: ["grep", "-qx", "ok", join(fixture.state, h, "health")], interval: "100ms" }] })),
    delivery: { mode, wait: "2m", caches: [{ url: cache.url, publicKey }], builders: [{ name: "bench", key: builderPub }] },
  });
}

const configs: Record<string, string> = {};
for (const h of hosts) {
  const dir = join(root, h);
  await mkdir(join(dir, "profiles"), { recursive: true });
  configs[h] = join(dir, "agent.json");
  await writeFile(
    configs[h],
    JSON.stringify({ host: h, remotes: [repo.url], stateDir: join(dir, "state"), hostKeyPath: join(root, `${h}_key`), profile: join(dir, "profiles", "system"), activation: "direct", commands: { runAs: [] }, timeouts: { connectivity: "5s", build: "10m" }, logLevel: "error" }),
  );
}

/** Runs `cmd` under /usr/bin/time; resolves with its tree's CPU seconds (user + sys). */
async function timed(cmd: string[], label: string): Promise<number> {
  const out = join(root, `time-${label}-${Math.random().toString(36).slice(2)}`);
  const r = await execa("/usr/bin/time", ["-f", "%U %S", "-o", out, ...cmd], { env, extendEnv: false, reject: false });
  if (r.exitCode !== 0) throw new Error(`${label}: ${cmd.join(" ")} exited ${r.exitCode}:\n${String(r.stderr).slice(-2000)}`);
  const [u, s] = (await readFile(out, "utf8")).trim().split("\n").pop()!.split(" ").map(Number);
  return u! + s!;
}

async function allAgents(label: string): Promise<number[]> {
  return Promise.all(hosts.map((h) => timed([process.execPath, AGENT, "once", "--config", configs[h]!], `${label}-${h}`)));
}

async function toplevels(rev: string): Promise<string[]> {
  const out = await execa("nix", ["eval", "--json", `${repo.flakeRef(rev)}#nixosConfigurations`, "--apply", `cs: map (h: cs.\${h}.config.system.build.toplevel.outPath) [${hosts.map((h) => `"${h}"`).join(" ")}]`], { env, extendEnv: false });
  return JSON.parse(out.stdout) as string[];
}

interface Side {
  hostCpu: number[];
  builderCpu: number[];
  wallMs: number[];
  bytes: number[];
}
const sides: Record<"build" | "substitute", Side> = { build: { hostCpu: [], builderCpu: [], wallMs: [], bytes: [] }, substitute: { hostCpu: [], builderCpu: [], wallMs: [], bytes: [] } };

async function round(i: number, mode: "build" | "substitute"): Promise<void> {
  const rev = await repo.commit({ ...markers, "fleet.yaml": fleet(mode), "hosts.nix": `{ ${hosts.map((h) => `${h} = { };`).join(" ")} }\n`, "round.txt": `${i} ${mode}\n` }, `round ${i}: ${mode}`);
  const bytes0 = cache.bytes.out;
  const t0 = performance.now();
  let builderCpu = 0;
  if (mode === "substitute") {
    builderCpu = await timed([process.execPath, FLOTILLA, "build", repo.dir, "--rev", rev, "--cache", cache.url, "--signing-key", sec, "--builder-key", join(root, "builder"), "--builder-name", "bench", "--publish", "--remote", repo.url], `builder-${i}`);
    // Not timed: the hosts never had these paths (the builder is another machine).
    const tPause = performance.now();
    for (const p of await toplevels(rev)) await execa("nix", ["store", "delete", p], { env, extendEnv: false });
    const paused = performance.now() - tPause;
    const cpu = await allAgents(`${mode}-${i}`);
    sides[mode].wallMs.push(performance.now() - t0 - paused);
    sides[mode].hostCpu.push(cpu.reduce((a, b) => a + b, 0));
  } else {
    const cpu = await allAgents(`${mode}-${i}`);
    sides[mode].wallMs.push(performance.now() - t0);
    sides[mode].hostCpu.push(cpu.reduce((a, b) => a + b, 0));
  }
  sides[mode].builderCpu.push(builderCpu);
  sides[mode].bytes.push(cache.bytes.out - bytes0);
  const gens = await Promise.all(hosts.map(async (h) => JSON.parse(await readFile(join(root, h, "state", "state.json"), "utf8")) as { current: { rev: string } | null }));
  const behind = hosts.filter((_, k) => gens[k]!.current?.rev !== rev);
  if (behind.length) throw new Error(`round ${i} ${mode}: not activated: ${behind.join(", ")}`);
}

// Warm-up: every host deploys once by building (a current generation, the shared kernel in the store).
await repo.commit({ ...markers, "fleet.yaml": fleet("build"), "hosts.nix": `{ ${hosts.map((h) => `${h} = { };`).join(" ")} }\n` }, "warm-up");
await allAgents("warmup");
for (let i = 0; i < ROUNDS; i++) {
  const order: Array<"build" | "substitute"> = i % 2 ? ["substitute", "build"] : ["build", "substitute"];
  for (const m of order) await round(i, m);
}

const fmt = (s: Side) => ({
  hostCpu: median(s.hostCpu),
  builderCpu: median(s.builderCpu),
  wall: median(s.wallMs) / 1000,
  bytes: median(s.bytes),
});
const b = fmt(sides.build);
const s = fmt(sides.substitute);
const load = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
console.log(`${N} hosts, ${ROUNDS} rounds (medians), per host: build hashes ${CPU_MIB} MiB, closure payload ${PAYLOAD_KIB} KiB; load ${load}`);
console.log(`build:      host CPU ${b.hostCpu.toFixed(1)} s (${(b.hostCpu / N).toFixed(2)} s/host), merge → all activated ${b.wall.toFixed(1)} s, cache bytes ${b.bytes}`);
console.log(`substitute: host CPU ${s.hostCpu.toFixed(1)} s (${(s.hostCpu / N).toFixed(2)} s/host) + builder ${s.builderCpu.toFixed(1)} s, merge → all activated ${s.wall.toFixed(1)} s (builder included), cache bytes ${s.bytes} (${(s.bytes / N / 1024).toFixed(1)} KiB/host)`);
console.log(`host CPU ratio substitute/build ${(s.hostCpu / b.hostCpu).toFixed(2)}; total CPU ratio ${((s.hostCpu + s.builderCpu) / b.hostCpu).toFixed(2)}; wall ratio ${(s.wall / b.wall).toFixed(2)}`);
console.log(`per round: build host CPU ${sides.build.hostCpu.map((x) => x.toFixed(1)).join(" ")}, wall ${sides.build.wallMs.map((x) => (x / 1000).toFixed(1)).join(" ")}`);
console.log(`           substitute host CPU ${sides.substitute.hostCpu.map((x) => x.toFixed(1)).join(" ")}, builder ${sides.substitute.builderCpu.map((x) => x.toFixed(1)).join(" ")}, wall ${sides.substitute.wallMs.map((x) => (x / 1000).toFixed(1)).join(" ")}, bytes ${sides.substitute.bytes.join(" ")}`);
await cache.close();
await cleanupTempDirs();
