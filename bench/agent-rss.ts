// Idle RSS of the real daemon (`flotilla-agent run`, the built dist/) over
// 1,000 no-change polls, read from /proc/<pid>/status every 100 polls. Polls
// are counted by a `git` wrapper that logs each `ls-remote` to a file, so the
// daemon runs without its Prometheus endpoint (prom-client is only loaded
// with metrics.listen); AGENT_METRICS=1 turns the endpoint on to measure that
// case. The node flags are those the package's wrapper passes (package.json
// flotilla.agentNodeFlags); AGENT_NODE_FLAGS replaces them ("" for none), AGENT_BIN runs another entry point
// (e.g. a bundled build), AGENT_POLL sets the poll interval (default 20ms).
// Target: ≤ 60 MB, no growth.
// A stand-in controller on 127.0.0.1 (this process) answers the agent's real
// traffic, so the daemon's HTTP clients are loaded and used as in production:
// POST /api/v1/reports (a ReportAck up to the highest seq sent), POST
// /api/v1/gate, and GET /api/v1/watch (held 30 s, then {head: since, changed:
// false}). Heartbeats every 100 ms (AGENT_HEARTBEAT) so that ~300 signed
// reports are delivered during the run. AGENT_CONTROLLER=0 leaves it out.
//   npx tsc -p node-agent/tsconfig.build.json && node --import tsx bench/agent-rss.ts [polls]
// With 0 polls: idle right after start (poll interval 1 h, the first cycle
// done), VmRSS 4 s and 10 s after the spawn.
import { spawn } from "node:child_process";
import { chmodSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
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
// The stand-in controller.
const counts = { reports: 0, reportRequests: 0, gate: 0, watch: 0 };
let lastSeq = 0;
const held = new Set<ServerResponse>();
const body = (req: IncomingMessage) =>
  new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c)).on("end", () => resolve(Buffer.concat(chunks).toString("utf8"))).on("error", reject);
  });
const json = (res: ServerResponse, status: number, v: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(v));
const controller = createHttpServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  void body(req).then((text) => {
    if (req.method === "POST" && url.pathname === "/api/v1/reports") {
      const reports = (JSON.parse(text) as { reports: Array<{ payload: string }> }).reports;
      counts.reportRequests++;
      counts.reports += reports.length;
      for (const r of reports) lastSeq = Math.max(lastSeq, (JSON.parse(r.payload) as { seq: number }).seq);
      return json(res, 200, { accepted: reports.length, duplicates: 0, lastSeq });
    }
    if (req.method === "POST" && url.pathname === "/api/v1/gate") {
      counts.gate++;
      const q = JSON.parse((JSON.parse(text) as { payload: string }).payload) as { host: string; rev: string };
      return json(res, 200, { host: q.host, rev: q.rev, decision: "open", wave: "all", reason: "bench" });
    }
    if (req.method === "GET" && url.pathname === "/api/v1/watch") {
      counts.watch++;
      held.add(res);
      const t = setTimeout(() => {
        held.delete(res);
        json(res, 200, { head: url.searchParams.get("since") || null, changed: false });
      }, 30_000);
      res.on("close", () => {
        clearTimeout(t);
        held.delete(res);
      });
      return;
    }
    json(res, 404, { error: "NotFound", message: url.pathname });
  });
});
const withController = process.env.AGENT_CONTROLLER !== "0";
const controllerUrl = await new Promise<string>((resolve) => controller.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(controller.address() as { port: number }).port}`)));

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
    pollInterval: N === 0 ? "1h" : (process.env.AGENT_POLL ?? "20ms"),
    jitter: "0",
    heartbeatInterval: process.env.AGENT_HEARTBEAT ?? "100ms",
    ...(withController ? { controller: controllerUrl } : {}),
    commands: { runAs: [], git: gitWrapper },
    ...(process.env.AGENT_METRICS === "1" ? { metrics: { listen: `127.0.0.1:${port}` } } : {}),
    logLevel: "warn",
  }),
);
const bin = process.env.AGENT_BIN || new URL("../bin/flotilla-agent.js", import.meta.url).pathname;
// The flags the package's flotilla-agent wrapper passes (nix/package.nix), unless AGENT_NODE_FLAGS says otherwise ("" for none).
const packaged = (JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { flotilla?: { agentNodeFlags?: string[] } }).flotilla?.agentNodeFlags ?? [];
const nodeFlags = process.env.AGENT_NODE_FLAGS !== undefined ? process.env.AGENT_NODE_FLAGS.split(" ").filter(Boolean) : packaged;
console.log(`node flags: ${nodeFlags.join(" ") || "(none)"}`);
const child = spawn(process.execPath, [...nodeFlags, bin, "run", "--config", file], { env: w.env, stdio: ["ignore", "inherit", "inherit"] });
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"))![1]) / 1024;
const polls = async () => (existsSync(pollLog) ? readFileSync(pollLog, "utf8").length / 5 : 0);
const samples: Array<[number, number]> = [];
if (N === 0) {
  await new Promise((r) => setTimeout(r, 4000));
  const at4 = rss();
  await new Promise((r) => setTimeout(r, 6000));
  console.log(`idle after start: rss ${at4.toFixed(1)} MB at 4 s, ${rss().toFixed(1)} MB at 10 s`);
}
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
if (samples.length) console.log(`max ${Math.max(...samples.map((s) => s[1])).toFixed(1)} MB; growth from the 100th to the ${N}th poll: ${(samples.at(-1)![1] - samples[0]![1]).toFixed(1)} MB`);
if (withController) console.log(`controller: ${counts.reportRequests} report requests (${counts.reports} reports, lastSeq ${lastSeq}), ${counts.gate} gate queries, ${counts.watch} watch long-polls`);
await new Promise((r) => child.once("exit", r));
for (const res of held) res.destroy();
controller.close();
await cleanupTempDirs();
