// No-change poll of the agent vs a bare `git ls-remote` against the same
// remote, in the same run, interleaved. Target: ≤ 1.2×.
//   node --import tsx bench/agent-poll.ts [iterations]
import { execa } from "execa";
import { serveHttp } from "../test/helpers/git-repo.js";
import { cleanupTempDirs } from "../test/helpers/tmp.js";
import { benchWorld, median } from "./agent-setup.js";

const N = Number(process.argv[2] ?? 200);

async function run(kind: "file" | "http") {
  let close: (() => Promise<void>) | null = null;
  const w = await benchWorld({
    remote: async (repo) => {
      if (kind === "file") return repo.url;
      const bare = `${repo.dir}.git`;
      await execa("git", ["clone", "-q", "--bare", repo.dir, bare]);
      const h = await serveHttp(bare);
      close = h.close;
      return h.url;
    },
  });
  const first = await w.agent.driver.runCycle();
  if (first.code !== "ok") throw new Error(`initial deploy failed: ${first.message}`);
  const agent: number[] = [];
  const bare: number[] = [];
  for (let i = 0; i < N + 10; i++) {
    let t = performance.now();
    const r = await w.agent.driver.runCycle();
    const a = performance.now() - t;
    if (r.code !== "ok") throw new Error(r.message);
    t = performance.now();
    await execa("git", ["ls-remote", "--heads", w.remote, "refs/heads/main"], { env: { GIT_TERMINAL_PROMPT: "0" } });
    const b = performance.now() - t;
    if (i >= 10) {
      agent.push(a);
      bare.push(b);
    }
  }
  const ma = median(agent);
  const mb = median(bare);
  console.log(`${kind}:// remote, ${N} polls: agent no-change poll median ${ma.toFixed(1)} ms, bare git ls-remote median ${mb.toFixed(1)} ms, ratio ${(ma / mb).toFixed(2)}×`);
  await (close as (() => Promise<void>) | null)?.();
}

await run("file");
await run("http");
await cleanupTempDirs();
