// Signed-event ingest throughput over real HTTP: `flotilla serve` in its own
// process (SQLite, then PostgreSQL), 100 hosts each posting batches of 100
// pre-signed transition events, 8 requests in flight.
// LOG_BYTES=N attaches an output tail (`log`, ~N bytes of build-output-like
// lines, at most 8192) to every event, as agents do with each step's first event.
// Run: node --import tsx bench/controller-ingest.ts   (LOG_BYTES=2048 … for tails)
import { randomBytes } from "node:crypto";
import { cleanupTempDirs } from "../test/helpers/tmp.js";
import { startPostgres } from "../test/integration/controller/postgres.js";
import { fleetRepo, makeHosts, signAs, spawnController } from "./controller-lib.js";

const HOSTS = Number(process.env.HOSTS ?? 100);
const BATCHES = Number(process.env.BATCHES ?? 10);
const BATCH = Number(process.env.BATCH ?? 100);
const INFLIGHT = Number(process.env.INFLIGHT ?? 8);
const LOG_BYTES = Math.min(8192, Number(process.env.LOG_BYTES ?? 0));

/** ~`bytes` of nix-build-like output (random hashes, so nothing compresses it away). */
function tail(bytes: number): string {
  const lines = [`$ nix build --no-eval-cache --no-link --json git+file:///var/lib/flotilla/cache?rev=${randomBytes(20).toString("hex")}#nixosConfigurations.web.config.system.build.toplevel (exit 1)`];
  let size = lines[0]!.length;
  while (size < bytes - 120) {
    const l = `building '/nix/store/${randomBytes(16).toString("hex")}-unit-${randomBytes(3).toString("hex")}.service.drv'...`;
    lines.push(l);
    size += l.length + 1;
  }
  return lines.join("\n").slice(0, bytes);
}

async function run(label: string, database?: string): Promise<number> {
  const hosts = makeHosts(HOSTS);
  const repo = await fleetRepo(hosts);
  const rev = await repo.head();
  const ctl = await spawnController(repo.url, database);
  // Pre-sign every batch: client-side signing is not what we measure.
  const bodies: string[] = [];
  const now = Date.now();
  for (let b = 0; b < BATCHES; b++) {
    for (const h of hosts) {
      const reports = Array.from({ length: BATCH }, (_, i) => {
        const seq = b * BATCH + i + 1;
        const generation = `/nix/store/${randomBytes(16).toString("hex")}-system`;
        return signAs(h, {
          type: "event", host: h.name, seq, time: new Date(now + seq).toISOString(), agentVersion: "bench", phase: i % 2 ? "done" : "activating",
          outcome: i % 2 ? "succeeded" : "started", reason: i % 2 ? "Succeeded" : "Progressing", rev, generation,
          ...(i % 2 ? { health: [{ check: "http", ok: true, time: new Date(now).toISOString(), rev, generation }] } : {}),
          ...(LOG_BYTES > 0 ? { log: { step: i % 2 ? "verify" : "activate", text: tail(LOG_BYTES), truncated: false } } : {}),
        });
      });
      bodies.push(JSON.stringify({ reports }));
    }
  }
  // Order: every host's batch b before any batch b+1 (seq order per host).
  let next = 0;
  let accepted = 0;
  const start = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= bodies.length) return;
      const res = await fetch(`${ctl.url}/api/v1/reports`, { method: "POST", headers: { "content-type": "application/json" }, body: bodies[i] });
      const j = (await res.json()) as { accepted?: number; message?: string };
      if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${j.message}`);
      accepted += j.accepted!;
    }
  };
  // Per-host ordering holds because batch b of a host is queued HOSTS positions before batch b+1 and INFLIGHT < HOSTS.
  await Promise.all(Array.from({ length: INFLIGHT }, worker));
  const secs = (performance.now() - start) / 1000;
  await ctl.stop();
  const rate = accepted / secs;
  console.log(`${label}: ${accepted} signed events in ${secs.toFixed(2)} s = ${Math.round(rate)} events/s (batches of ${BATCH}, ${INFLIGHT} in flight, ${HOSTS} hosts${LOG_BYTES ? `, a ${LOG_BYTES}-byte output tail on every event` : ""})`);
  return rate;
}

const pg = await startPostgres();
try {
  await run("sqlite");
  await run("postgres", await pg.createDatabase("bench"));
} finally {
  await pg.stop();
  await cleanupTempDirs();
}
