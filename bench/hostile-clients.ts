// Reliability under hostile clients: tries every abuse case below against a
// real `flotilla serve` process (built dist/, `ulimit -n 256`, SQLite, a real
// fleet repo polled every second) and counts how each was answered.
//
//   node --import tsx bench/hostile-clients.ts      (after npm run build)
//
// "Rejected cleanly": an HTTP 4xx/503 with an ApiError body naming the problem,
// Node's 408 at the request deadline, or — beyond limits.maxConnections plus the
// /healthz headroom — a connection closed at accept. Anything else (a 5xx other
// than 503, a hang, a dead controller) is not clean. The controller must answer
// /healthz after every phase; "crashes" counts the times it did not.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { makeHosts, fleetRepo, signAs, TOKEN } from "./controller-lib.js";
import { makeTempDir } from "../test/helpers/tmp.js";
import { rawConnect } from "../test/helpers/raw-client.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MAX_CONNECTIONS = 64;
const HEADROOM = 32;

interface Row { cases: string; tried: number; clean: number }
const rows: Row[] = [];
let crashes = 0;

async function main(): Promise<void> {
  const [host] = makeHosts(1);
  const repo = await fleetRepo([host!], 0);
  const dir = await makeTempDir("flotilla-hostile-bench-");
  const config = join(dir, "controller.yaml");
  await writeFile(config, stringify({
    listen: "127.0.0.1:0", dataDir: join(dir, "data"), logLevel: "warn",
    fleet: { remotes: [repo.url], pollInterval: "1s" }, auth: { operatorTokens: [{ name: "bench", token: { value: TOKEN } }] },
    limits: { maxBodyBytes: 65536, requestTimeout: "2s", maxConnections: MAX_CONNECTIONS },
  }));
  const proc = spawn("sh", ["-c", `ulimit -n 256; exec "${process.execPath}" bin/flotilla.js serve --config "${config}"`], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  proc.stdout.on("data", (d) => (out += d));
  proc.stderr.on("data", (d) => (err += d));
  const start = Date.now();
  while (!/listening on (\S+)/.test(out)) {
    if (proc.exitCode !== null || Date.now() - start > 120_000) throw new Error(`controller did not start: ${err}`);
    await sleep(50);
  }
  const url = /listening on (\S+)/.exec(out)![1]!;
  const port = Number(new URL(url).port);
  const alive = async (phase: string) => {
    const ok = proc.exitCode === null && (await fetch(`${url}/healthz`).then((r) => r.status === 200, () => false));
    if (!ok) {
      crashes++;
      console.error(`controller not answering after ${phase}: ${err.slice(-2000)}`);
    }
  };
  const apiClean = async (path: string, init: RequestInit = {}, expect?: (status: number, body: { error?: string; path?: string }) => boolean) => {
    const r = await fetch(url + path, { ...init, headers: { authorization: `Bearer ${TOKEN}`, ...(init.headers ?? {}) } }).catch(() => null);
    if (!r) return false;
    const body = (await r.json().catch(() => ({}))) as { error?: string; path?: string };
    return (r.status >= 400 && r.status < 500 || r.status === 503) && typeof body.error === "string" && (expect ? expect(r.status, body) : true);
  };
  const phase = async (cases: string, attempts: (() => Promise<boolean>)[]) => {
    const results = await Promise.all(attempts.map((a) => a().catch(() => false)));
    rows.push({ cases, tried: results.length, clean: results.filter(Boolean).length });
    await alive(cases);
  };

  // 1. malformed query parameters, every route
  const badQueries: [string, string][] = [
    ...["abc", "1.5", "1e400", "-1", "0", "99999999999999999999", "", "0x10", "NaN", "Infinity", "1;DROP TABLE messages"].map((v) => [`/api/v1/audit?limit=${encodeURIComponent(v)}`, "limit"] as [string, string]),
    ...["abc", "1e400", "99999999999999999999999d", "-2h", "2026-13-45"].map((v) => [`/api/v1/audit?since=${encodeURIComponent(v)}`, "since"] as [string, string]),
    ...["xml", "TEXT", ""].flatMap((v) => [[`/api/v1/audit?format=${v}`, "format"], [`/api/v1/status?format=${v}`, "format"]] as [string, string][]),
    ...["abc", "-5", "1.5", "1e400", "", "99999999999999999999"].map((v) => [`/api/v1/watch?host=${host!.name}&timeoutMs=${encodeURIComponent(v)}`, "timeoutMs"] as [string, string]),
    [`/api/v1/watch?host=${host!.name}&since=zzz`, "since"],
    ["/api/v1/watch", "host"],
    ...["abc", "-1", "0", "1e400", "2.5", "99999"].map((v) => [`/?refresh=${v}`, "refresh"] as [string, string]),
  ];
  await phase("malformed query parameters (audit, status, watch, dashboard)", badQueries.map(([p, name]) => () => apiClean(p, {}, (s, b) => s === 400 && b.error === "InvalidQuery" && b.path === name)));

  // 2. bodies: too large, not JSON, empty, wrong shape, forged signature
  const envelope = signAs(host!, { type: "heartbeat", host: host!.name, seq: 1, time: new Date().toISOString(), agentVersion: "bench", phase: "idle", currentRev: null, currentGeneration: null, targetRev: null, healthy: null, queueLength: 0 });
  const forged = { ...envelope, sig: Buffer.alloc(64, 7).toString("base64") };
  const post = (p: string, body: string) => () => apiClean(p, { method: "POST", body, headers: { "content-type": "application/json" } });
  const bodies = ["x".repeat(200_000), "{not json", "", "[]", "null", '{"reports":[]}', JSON.stringify({ reports: [forged] }), JSON.stringify({ reports: Array(600).fill(envelope) }), JSON.stringify(forged), "\u0000\u001b[2J"];
  await phase("bad bodies on /reports and /gate (413, 400, 401, 403)", ["/api/v1/reports", "/api/v1/gate"].flatMap((p) => bodies.map((b) => post(p, b))));

  // 3. slow bodies and slow headers: cut at limits.requestTimeout (408) and closed
  const slow = (head: string) => async () => {
    const s = await rawConnect(port, head);
    const drip = setInterval(() => s.sock.writable && s.sock.write("a"), 300);
    const closed = await Promise.race([s.closed.then(() => true), sleep(20_000).then(() => false)]);
    clearInterval(drip);
    s.sock.destroy();
    return closed && /^HTTP\/1\.1 408/.test(s.data());
  };
  await phase("slow clients: 1 byte / 300 ms body or headers (408)", [
    ...Array.from({ length: 10 }, () => slow("POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")),
    ...Array.from({ length: 10 }, () => slow("GET /api/v1/status HTTP/1.1\r\nX-Slow: ")),
  ]);

  // 4. connection flood with unfinished bodies, while git polls every second:
  // the first 64 are held, up to 32 more are served /healthz only (503 otherwise), the rest are closed at accept.
  const flood = await Promise.all(Array.from({ length: 300 }, () => rawConnect(port).catch(() => null)));
  await sleep(500);
  for (const c of flood) c?.sock.write("POST /api/v1/reports HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{");
  await sleep(1500);
  const health = await fetch(`${url}/healthz`).then((r) => r.status, () => 0);
  // Held (under the cap; this client's own keep-alive connections from the phases above count too),
  // cut at the deadline (408), refused over the cap (503), or closed at accept beyond the headroom.
  const held = flood.filter((c) => c && !c.isClosed() && c.data() === "").length;
  const floodClean = flood.map((c) => !!c && ((!c.isClosed() && c.data() === "") || /^HTTP\/1\.1 (408|503)/.test(c.data()) || (c.isClosed() && c.data() === "")));
  if (held > MAX_CONNECTIONS) floodClean.fill(false); // the cap did not hold
  rows.push({ cases: `connection flood: 300 unfinished POSTs, cap ${MAX_CONNECTIONS} (+${HEADROOM} healthz headroom), git polling; ${held} held`, tried: 300, clean: floodClean.filter(Boolean).length });
  rows.push({ cases: "/healthz during the flood", tried: 1, clean: health === 200 ? 1 : 0 });
  for (const c of flood) c?.sock.destroy();
  await sleep(2500); // a poll or two after the flood
  await alive("the connection flood");

  proc.kill("SIGTERM");
  await new Promise((r) => proc.once("exit", r));
  const tried = rows.reduce((a, r) => a + r.tried, 0);
  const clean = rows.reduce((a, r) => a + r.clean, 0);
  console.log("| abuse case | tried | rejected cleanly |\n|---|---|---|");
  for (const r of rows) console.log(`| ${r.cases} | ${r.tried} | ${r.clean} |`);
  console.log(`\ntried ${tried}, rejected cleanly ${clean}, crashes ${crashes}`);
  if (clean !== tried || crashes) process.exitCode = 1;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

await main();
