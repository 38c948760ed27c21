// Merge → canary activation start, with and without the controller's nudge.
//
//   npm run build && node --import tsx bench/rollout-latency.ts [merges per mode, default 20] [agent poll ms, default 5000]
//
// A real fleet repo (git), the built controller (`bin/flotilla.js serve`,
// SQLite, its own process) and a simulated canary agent that speaks the real
// protocol and does the agent's real git work: on a new head it runs
// `git fetch` into its own bare cache, then reports a signed
// "activating/started" event. The latency is from the moment `git commit`
// returned (the branch moved) to the moment the canary starts activating.
// Building the system is not included (see bench/agent-deploy.ts for that).
//
// Modes:
//   poll           no nudge: the canary polls `git ls-remote` every <poll> ms
//                  (like flotilla-agent run with agent.pollInterval, jitter 0)
//   nudge          the canary long-polls GET /api/v1/watch; the controller
//                  follows the repo every 1 s and wakes it when the head moves
//   nudge+webhook  as nudge, and a signed GitHub push webhook reaches the
//                  controller right after the merge (controller poll 1 h);
//                  GitHub's REST API is a local stand-in
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { signWebhookBody } from "../controller/src/github/webhook.js";
import { startFakeGitHub } from "../test/integration/controller/fake-github.js";
import { makeFleetRepo, type FleetRepo } from "../test/helpers/git-repo.js";
import { fleetYaml, makeHost, SimAgent, startController, stats, type ControllerProcess } from "./rollout-lib.js";

const MERGES = Number(process.argv[2] ?? 20);
const POLL_MS = Number(process.argv[3] ?? 5_000);
const SECRET = "bench-webhook-secret";
type Mode = "poll" | "nudge" | "nudge+webhook";

class Canary {
  readonly cache: string;
  head: string | null = null;
  constructor(
    readonly sim: SimAgent,
    readonly repo: FleetRepo,
    dir: string,
  ) {
    this.cache = join(dir, "cache.git");
  }

  async init(): Promise<void> {
    await execa("git", ["init", "-q", "--bare", this.cache]);
  }

  async lsRemote(): Promise<string> {
    const r = await execa("git", ["ls-remote", this.repo.url, "refs/heads/main"]);
    return r.stdout.split(/\s/)[0]!;
  }

  /** Fetch the new head, then start activating it; returns when the activation started (event sent). */
  async take(head: string): Promise<number> {
    await execa("git", ["--git-dir", this.cache, "fetch", "-q", "--no-tags", this.repo.url, `+refs/heads/main:refs/flotilla/incoming`]);
    const started = Date.now();
    this.head = head;
    await this.sim.activating(head);
    await this.sim.done(head);
    return started;
  }
}

async function runMode(mode: Mode): Promise<number[]> {
  const dir = mkdtempSync(join(tmpdir(), `flotilla-bench-latency-`));
  const host = makeHost("canary-1");
  const repo = await makeFleetRepo({ files: { "fleet.yaml": fleetYaml([host], [{ name: "canary", members: ["canary-1"] }]) }, message: "bench fleet" });
  const gh = mode === "nudge+webhook" ? await startFakeGitHub({ repo: "acme/fleet", branchHead: () => repo.head() }) : null;
  const ctl: ControllerProcess = await startController(dir, {
    repoUrl: repo.url,
    pollInterval: mode === "nudge" ? "1s" : "1h",
    ...(gh ? { webhookSecret: SECRET, githubApiUrl: gh.url } : {}),
  });
  const canary = new Canary(new SimAgent(host, ctl.url), repo, dir);
  await canary.init();
  await canary.take(await canary.lsRemote());

  let stop = false;
  const activations = new Map<string, number>();
  const waiter = new Map<string, () => void>();
  const seen = (head: string, at: number) => {
    activations.set(head, at);
    waiter.get(head)?.();
  };
  // The canary's loop, as the agent would run it.
  const loop = (async () => {
    while (!stop) {
      if (mode === "poll") {
        await new Promise((r) => setTimeout(r, POLL_MS));
        const head = await canary.lsRemote();
        if (head !== canary.head) seen(head, await canary.take(head));
      } else {
        const n = await canary.sim.watch(canary.head, 30_000).catch(() => null);
        if (!n) await new Promise((r) => setTimeout(r, 200));
        else if (n.head && n.head !== canary.head) {
          const head = await canary.lsRemote();
          seen(head, await canary.take(head));
        }
      }
    }
  })();

  const latencies: number[] = [];
  for (let i = 0; i < MERGES; i++) {
    // Merge at a uniformly random phase of the canary's poll timer (which restarts after each take).
    await new Promise((r) => setTimeout(r, 300 + Math.random() * (mode === "poll" ? POLL_MS : 1_200)));
    const sha = await repo.commit({ [`releases/${i}`]: `${i}\n` }, `release ${i}`);
    const merged = Date.now();
    const done = new Promise<void>((r) => waiter.set(sha, r));
    if (gh) {
      const raw = JSON.stringify({ ref: "refs/heads/main", after: sha });
      const res = await fetch(`${ctl.url}/api/v1/github/webhook`, { method: "POST", body: raw, headers: { "content-type": "application/json", "x-github-event": "push", "x-hub-signature-256": signWebhookBody(SECRET, raw) } });
      if (!res.ok) throw new Error(`webhook: HTTP ${res.status} ${await res.text()}`);
    }
    await done;
    latencies.push(activations.get(sha)! - merged);
    process.stderr.write(`${mode} merge ${i + 1}/${MERGES}: ${latencies.at(-1)} ms\n`);
  }
  stop = true;
  await ctl.stop();
  await Promise.race([loop, new Promise((r) => setTimeout(r, 100))]);
  await gh?.close();
  rmSync(dir, { recursive: true, force: true });
  return latencies;
}

const results: Record<string, ReturnType<typeof stats>> = {};
for (const mode of ["poll", "nudge", "nudge+webhook"] as Mode[]) results[mode] = stats(await runMode(mode));
const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
console.log(`\nmerge → canary activation start (${MERGES} merges per mode; agent poll interval ${POLL_MS / 1000} s without the nudge)\n`);
console.log("| mode | min | p50 | p95 | max | target |");
console.log("|---|---|---|---|---|---|");
for (const [mode, s] of Object.entries(results)) {
  const target = mode === "poll" ? POLL_MS + 1_000 : 2_000;
  console.log(`| ${mode} | ${fmt(s.min)} | ${fmt(s.p50)} | ${fmt(s.p95)} | ${fmt(s.max)} | p95 ≤ ${fmt(target)}: ${s.p95 <= target ? "met" : "**missed**"} |`);
}
process.exit(0);
