// Signed-event ingest throughput over real HTTP: `flotilla serve` in its own
// process (SQLite, then PostgreSQL), 100 hosts each posting batches of 100
// pre-signed transition events, 8 requests in flight.
// Run: node --import tsx bench/controller-ingest.ts
//
// NOTIFY=on|down|all: the same with notifications on. Every host's batches
// then carry a `rollbackFailed` event every NOTIFY_EVERY (default 100)
// events, each a host-stalled notification, sent signed (HMAC) to a local
// webhook receiver (on), or to a port that refuses connections (down: every
// notification fails, is retried and dropped — ingest must not notice);
// all = off, on and down in turn. NOTIFY unset: off only.
// LOG_BYTES=N attaches an output tail (`log`, ~N bytes of build-output-like
// lines, at most 8192) to every event, as agents do with each step's first event.
// Run: node --import tsx bench/controller-ingest.ts   (LOG_BYTES=2048 … for tails)
import { randomBytes } from "node:crypto";
import { cleanupTempDirs } from "../test/helpers/tmp.js";
import { freePort } from "../test/helpers/free-port.js";
import { WebhookReceiver } from "../test/helpers/webhook-receiver.js";
import { startPostgres } from "../test/integration/controller/postgres.js";
import { fleetRepo, makeHosts, signAs, spawnController, TOKEN } from "./controller-lib.js";

const HOSTS = Number(process.env.HOSTS ?? 100);
const BATCHES = Number(process.env.BATCHES ?? 10);
const BATCH = Number(process.env.BATCH ?? 100);
const INFLIGHT = Number(process.env.INFLIGHT ?? 8);
const NOTIFY_EVERY = Number(process.env.NOTIFY_EVERY ?? 100);
type Mode = "off" | "on" | "down";
const MODES: Mode[] = process.env.NOTIFY === "all" ? ["off", "on", "down"] : process.env.NOTIFY === "on" ? ["on"] : process.env.NOTIFY === "down" ? ["down"] : ["off"];
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

async function run(label: string, mode: Mode, database?: string): Promise<number> {
  const hosts = makeHosts(HOSTS);
  const repo = await fleetRepo(hosts);
  const rev = await repo.head();
  const receiver = mode === "on" ? await WebhookReceiver.start() : null;
  const url = receiver ? receiver.url : `http://127.0.0.1:${await freePort()}/hook`;
  // down: a small queue, so most notifications are dropped as queue-full at once (counted), the rest after 2 attempts.
  const notify = mode === "off" ? {} : { notify: { targets: [{ name: "bench", url, secret: { value: "bench-hmac-secret" } }], maxAttempts: mode === "on" ? 3 : 2, maxBackoff: "1s", ...(mode === "down" ? { queueSize: 20 } : {}) } };
  const ctl = await spawnController(repo.url, database, notify);
  // Pre-sign every batch: client-side signing is not what we measure.
  const bodies: string[] = [];
  const now = Date.now();
  let stalls = 0;
  for (let b = 0; b < BATCHES; b++) {
    for (const h of hosts) {
      const reports = Array.from({ length: BATCH }, (_, i) => {
        const seq = b * BATCH + i + 1;
        const generation = `/nix/store/${randomBytes(16).toString("hex")}-system`;
        if (mode !== "off" && seq % NOTIFY_EVERY === 0) {
          stalls++;
          return signAs(h, {
            type: "event", host: h.name, seq, time: new Date(now + seq).toISOString(), agentVersion: "bench", phase: "rollbackFailed",
            outcome: "failed", reason: "RollbackFailed", rev, generation, error: { reason: "RollbackFailed", message: "switch-to-configuration exited 1" },
          });
        }
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
  let notes = "";
  if (mode !== "off") {
    // Wait for the notifier to finish (delivered, or dropped after its attempts), then read its counters.
    const counters = async () => {
      const text = await (await fetch(`${ctl.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text();
      const sum = (name: string) => [...text.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\d+)`, "gm"))].reduce((a, m) => a + Number(m[1]), 0);
      return { delivered: sum("flotilla_notifications_delivered_total"), dropped: sum("flotilla_notifications_dropped_total"), failed: sum("flotilla_notification_attempts_failed_total") };
    };
    let c = await counters();
    // on: until all are delivered; down: what was counted by the end of ingest (the rest is dropped at shutdown, counted and logged).
    for (const t0 = Date.now(); mode === "on" && c.delivered + c.dropped < stalls + 1 && Date.now() - t0 < 120_000; c = await counters()) await new Promise((r) => setTimeout(r, 200));
    notes = `; notifications ${mode === "on" ? "to a local receiver" : "to a refused port"}: ${stalls} host-stalled + 1 rollout-halted emitted, ${c.delivered} delivered${receiver ? ` (receiver got ${receiver.accepted.length})` : ""}, ${c.dropped} dropped, ${c.failed} failed attempts`;
  }
  await ctl.stop();
  await receiver?.down();
  const rate = accepted / secs;
  console.log(`${label} notify=${mode}: ${accepted} signed events in ${secs.toFixed(2)} s = ${Math.round(rate)} events/s (batches of ${BATCH}, ${INFLIGHT} in flight, ${HOSTS} hosts${LOG_BYTES ? `, a ${LOG_BYTES}-byte output tail on every event` : ""})${notes}`);
  return rate;
}

const pg = await startPostgres();
try {
  for (const mode of MODES) await run("sqlite", mode);
  for (const mode of MODES) await run("postgres", mode, await pg.createDatabase("bench"));
} finally {
  await pg.stop();
  await cleanupTempDirs();
}
