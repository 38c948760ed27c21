/**
 * The agents' step output tails (host_logs, migration 6), shared by both
 * stores: what a row holds, and the retention rule (the newest N per host,
 * applied in the transaction that stores new ones).
 */
import { DEFAULT_LOG_TAILS_PER_HOST, type HostLogRecord, type NewMessage, type StoreOptions } from "./types.js";

export interface HostLogRow {
  host: string;
  seq: number | string;
  time_ms: number | string;
  rev: string | null;
  phase: string;
  outcome: string;
  step: string;
  truncated: number;
  text: string;
}

export const HOST_LOG_COLUMNS = "host, seq, time_ms, rev, phase, outcome, step, truncated, text";

export function logTailsPerHost(o: StoreOptions): number {
  return o.logTailsPerHost ?? DEFAULT_LOG_TAILS_PER_HOST;
}

/** The fresh messages' output tails as host_logs rows (newest `keep` of them; none when keep is 0). */
export function logRows(fresh: NewMessage[], keep: number): unknown[][] {
  if (keep <= 0) return [];
  return fresh
    .filter((m) => m.log && m.type === "event")
    .slice(-keep)
    .map((m) => [m.host, m.seq, m.timeMs, m.rev, m.phase, m.outcome ?? "", m.log!.step, m.log!.truncated ? 1 : 0, m.log!.text]);
}

export function rowToHostLog(r: HostLogRow): HostLogRecord {
  return { host: r.host, seq: Number(r.seq), timeMs: Number(r.time_ms), rev: r.rev, phase: r.phase, outcome: r.outcome, step: r.step, text: r.text, truncated: r.truncated !== 0 };
}
