// Storage cost of the agents' output tails in SQLite: HOSTS hosts × PER_HOST
// transitions, each event carrying a tail, stored through the real store
// (SqliteStore.appendMessages: messages row without the tail, host_logs row,
// per-host retention) in batches of 10 events per host, as agents deliver
// them. Reports bytes on disk (after a WAL checkpoint and VACUUM) of the
// host_logs table (dbstat) and of the whole file, for several
// limits.logTailsPerHost, and for tails of a typical and of the maximum size.
// Run: node --import tsx bench/host-logs-storage.ts   (HOSTS=10000 PER_HOST=100 KEEP=100,50,10 SIZES=1024,8192)
import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { toNewMessage } from "../controller/src/ingest/message.js";
import { SqliteStore } from "../controller/src/store/sqlite.js";
import type { AgentMessage } from "../schemas/src/api.js";
import { cleanupTempDirs, makeTempDir } from "../test/helpers/tmp.js";

const HOSTS = Number(process.env.HOSTS ?? 10_000);
const PER_HOST = Number(process.env.PER_HOST ?? 100);
const KEEP = (process.env.KEEP ?? "100,50,10").split(",").map(Number);
const SIZES = (process.env.SIZES ?? "1024,8192").split(",").map(Number);
const BATCH = Number(process.env.BATCH ?? 10);
const REV = "c".repeat(40);

function tail(bytes: number): string {
  const lines: string[] = [];
  let size = 0;
  while (size < bytes) {
    const l = `building '/nix/store/${randomBytes(16).toString("hex")}-unit-${randomBytes(3).toString("hex")}.service.drv'...`;
    lines.push(l);
    size += l.length + 1;
  }
  return lines.join("\n").slice(0, bytes);
}

const mib = (b: number) => `${(b / 1024 / 1024).toFixed(0)} MiB`;

async function run(keep: number, size: number): Promise<void> {
  const dir = await makeTempDir("flotilla-logs-bench-");
  const file = join(dir, "flotilla.db");
  const store = new SqliteStore(file, { logTailsPerHost: keep });
  await store.migrate();
  // A pool of tails reused across hosts (random content, built once: generating 1M tails is not what we measure).
  const pool = Array.from({ length: 64 }, () => tail(size));
  const t0 = performance.now();
  const start = Date.parse("2026-01-01T00:00:00Z");
  for (let b = 0; b < PER_HOST / BATCH; b++) {
    for (let h = 0; h < HOSTS; h++) {
      const host = `h${String(h).padStart(5, "0")}`;
      const msgs = Array.from({ length: BATCH }, (_, i) => {
        const seq = b * BATCH + i + 1;
        const m: AgentMessage = {
          type: "event", host, seq, time: new Date(start + seq * 1000).toISOString(), agentVersion: "bench", phase: seq % 2 ? "built" : "done",
          outcome: "succeeded", reason: "Progressing", rev: REV, generation: `/nix/store/${"a".repeat(32)}-nixos-system-${host}`,
          log: { step: seq % 2 ? "build" : "verify", text: pool[(h + seq) % pool.length]!, truncated: false },
        };
        return toNewMessage(m, JSON.stringify(m), `sig-${seq}`.padEnd(88, "x"), start);
      });
      await store.appendMessages(host, msgs, start);
    }
  }
  const secs = (performance.now() - t0) / 1000;
  await store.close();
  const db = new Database(file);
  db.pragma("wal_checkpoint(TRUNCATE)");
  db.exec("VACUUM");
  const table = (name: string) => {
    try {
      return Number(db.prepare("SELECT sum(pgsize) FROM dbstat WHERE name = ? OR name LIKE ?").pluck().get(name, `sqlite_autoindex_${name}%`));
    } catch {
      return NaN;
    }
  };
  const rows = Number(db.prepare("SELECT count(*) FROM host_logs").pluck().get());
  const logs = table("host_logs");
  const messages = table("messages");
  db.close();
  const total = statSync(file).size;
  console.log(
    `tails of ${size} B, logTailsPerHost ${keep}: ${HOSTS} hosts × ${PER_HOST} events in ${secs.toFixed(0)} s; host_logs ${rows} rows, ${mib(logs)} (${(logs / HOSTS / 1024).toFixed(0)} KiB/host); messages ${mib(messages)}; file ${mib(total)}`,
  );
}

try {
  for (const size of SIZES) for (const keep of KEEP) await run(keep, size);
} finally {
  await cleanupTempDirs();
}
