// Idle RSS of the real daemon (`flotilla-agent run`, the built dist/) over
// 1,000 no-change polls, read from /proc/<pid>/status every 100 polls. Polls
// are counted by a `git` wrapper that logs each `ls-remote` to a file, so the
// daemon runs without its Prometheus endpoint (prom-client is only loaded
// with metrics.listen); AGENT_METRICS=1 turns the endpoint on to measure that
// case. AGENT_NODE_FLAGS adds node flags. Target: ≤ 60 MB, no growth.
//   npx tsc -p node-agent/tsconfig.build.json && node --import tsx bench/agent-rss.ts [polls]
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { cleanupTempDirs } from "../test/helpers/tmp.js";
import { benchWorld } from "./agent-setup.js";

const N = Number(process.argv[2] ?? 1000);
const w = await benchWorld();
const first = await w.agent.driver.runCycle();
if (first.code !== "ok") throw new Error(first.message);

const port = await new Promise<number>((resolve) => {
  const s = createServer().listen(0, "127.0.0.1", () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});
const config = { ...w.agent.config };
const file = join(w.root, "agent.json");
const pollLog = join(w.root, "polls.log");
const gitWrapper = join(w.root, "git-counting");
writeFileSync(gitWrapper, `#!/bin/sh\ncase "$*" in *ls-remote*) echo poll >> '${pollLog}' ;; esac\nexec git "$@"\n`);
chmodSync(gitWrapper, 0o755);
writeFileSync(
  file,
  JSON.stringify({
    host: config.host,
    remotes: config.remotes,
    stateDir: config.stateDir,
    hostKeyPath: config.hostKeyPath,
    profile: config.profile,
    activation: "direct",
    pollInterval: "20ms",
    jitter: "0",
    heartbeatInterval: "1h",
    commands: { runAs: [], git: gitWrapper },
    ...(process.env.AGENT_METRICS === "1" ? { metrics: { listen: `127.0.0.1:${port}` } } : {}),
    logLevel: "warn",
  }),
);
const bin = new URL("../bin/flotilla-agent.js", import.meta.url).pathname;
const child = spawn(process.execPath, [...(process.env.AGENT_NODE_FLAGS ?? "").split(" ").filter(Boolean), bin, "run", "--config", file], { env: w.env, stdio: ["ignore", "inherit", "inherit"] });
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))![1]) / 1024;
const polls = async () => (existsSync(pollLog) ? readFileSync(pollLog, "utf8").length / 5 : 0);
const samples: Array<[number, number]> = [];
let next = 100;
while (next <= N) {
  const p = await polls();
  if (p >= next) {
    samples.push([p, rss()]);
    next += 100;
  } else await new Promise((r) => setTimeout(r, 50));
}
child.kill("SIGTERM");
for (const [p, r] of samples) console.log(`after ${String(p).padStart(4)} polls: rss ${r.toFixed(1)} MB`);
console.log(`max ${Math.max(...samples.map((s) => s[1])).toFixed(1)} MB; growth from the 100th to the ${N}th poll: ${(samples.at(-1)![1] - samples[0]![1]).toFixed(1)} MB`);
await new Promise((r) => child.once("exit", r));
await cleanupTempDirs();
