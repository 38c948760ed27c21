/**
 * What the demo sees and says: it reads the controller's audit API (every
 * agent transition event with the agent's own timestamp, every rollout
 * decision) and status API, prints one line per new transition, and waits
 * for conditions with a deadline, printing progress at least every few
 * seconds so no wait is silent.
 */
import type { AuditEntry, AuditReport, StatusReport } from "../schemas/src/api.js";

export class DemoFailure extends Error {
  override name = "DemoFailure";
}

const BOLD = process.stdout.isTTY ? "\x1b[1m" : "";
const DIM = process.stdout.isTTY ? "\x1b[2m" : "";
const RED = process.stdout.isTTY ? "\x1b[31m" : "";
const GREEN = process.stdout.isTTY ? "\x1b[32m" : "";
const RESET = process.stdout.isTTY ? "\x1b[0m" : "";

export class Narrator {
  readonly t0 = Date.now();
  lastPrint = Date.now();
  private readonly revNames = new Map<string, string>();

  nameRev(sha: string, name: string): void {
    this.revNames.set(sha, name);
  }

  rev(sha: string | null | undefined): string {
    if (!sha) return "-";
    const n = this.revNames.get(sha);
    return n ? `${n} ${sha.slice(0, 7)}` : sha.slice(0, 7);
  }

  stamp(ms = Date.now()): string {
    return `[${((ms - this.t0) / 1000).toFixed(1).padStart(5)}s]`;
  }

  line(text: string, ms?: number): void {
    process.stdout.write(`${this.stamp(ms)} ${text}\n`);
    this.lastPrint = Date.now();
  }

  heading(text: string): void {
    process.stdout.write(`\n${BOLD}== ${text}${RESET}\n`);
    this.lastPrint = Date.now();
  }

  note(text: string): void {
    process.stdout.write(`${DIM}         ${text}${RESET}\n`);
    this.lastPrint = Date.now();
  }

  ok(text: string): void {
    process.stdout.write(`${GREEN}  ✔ ${text}${RESET}\n`);
    this.lastPrint = Date.now();
  }

  fail(text: string): void {
    process.stdout.write(`${RED}  ✘ ${text}${RESET}\n`);
    this.lastPrint = Date.now();
  }
}

/** A short description of one audit entry, or null for entries not worth a line. */
export function describe(n: Narrator, e: AuditEntry): string | null {
  const gen = (m: string | null) => (m ? m.replace(/\/nix\/store\/[0-9a-z]{32}-/g, "…") : "");
  if (e.kind === "decision") {
    if (e.outcome === "soaking" && /soaking 0ms/.test(e.message ?? "")) return null;
    const what = e.phase === "rollout" ? `rollout ${e.outcome}` : `wave ${e.phase.slice(5)} ${e.outcome}`;
    return `${"controller".padEnd(10)} ${n.rev(e.rev)}: ${what}${e.message ? ` (${e.message})` : ""}`;
  }
  const host = (e.host ?? "?").padEnd(10);
  const r = n.rev(e.rev);
  const key = `${e.phase}/${e.outcome}`;
  switch (key) {
    case "fetched/succeeded":
      return `${host} fetched ${r}${e.message ? ` — ${e.message.replace(/^target [0-9a-f]+ /, "")}` : ""}`;
    case "built/succeeded":
      return `${host} built ${r}${e.durations?.build !== undefined ? ` in ${(e.durations.build / 1000).toFixed(1)}s` : ""}`;
    case "activating/started":
      return `${host} activating ${r}`;
    case "activating/succeeded":
      return `${host} activated ${r} → verifying health`;
    case "verifying/succeeded":
      return `${host} health checks passed on ${r}`;
    case "verifying/failed":
      return `${host} HEALTH CHECK FAILED on ${r}: ${gen(e.message).split("\n")[0]}`;
    case "rollingBack/started":
      return `${host} rolling back from ${r}`;
    case "rolledBack/succeeded":
      return `${host} rolled back: ${gen(e.message)}`;
    case "done/succeeded":
      return `${host} done: healthy on ${r}`;
    case "idle/waiting":
      return `${host} waits at ${r}: ${e.message ?? e.reason}`;
    case "failed/skipped":
      return `${host} skips ${r}: failed here before`;
    default:
      return `${host} ${e.phase} ${e.outcome} ${r} ${e.reason}${e.message ? `: ${gen(e.message).split("\n")[0]}` : ""}`;
  }
}

export interface ApiOptions {
  base: string;
  token: string;
}

async function get<T>(o: ApiOptions, path: string): Promise<T> {
  const res = await fetch(o.base + path, { headers: { authorization: `Bearer ${o.token}` }, signal: AbortSignal.timeout(10_000) });
  const text = await res.text();
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** The controller as the demo sees it: audit entries (deduplicated, printed once) and the latest status. */
export class Observer {
  readonly entries: AuditEntry[] = [];
  status: StatusReport | null = null;
  private readonly seen = new Set<string>();
  private lastError = "";

  constructor(
    private readonly api: ApiOptions,
    private readonly n: Narrator,
  ) {}

  async refresh(print = true): Promise<void> {
    let audit: AuditReport;
    try {
      [audit, this.status] = await Promise.all([get<AuditReport>(this.api, "/api/v1/audit?limit=10000"), get<StatusReport>(this.api, "/api/v1/status")]);
      this.lastError = "";
    } catch (e) {
      const msg = (e as Error).message;
      if (msg !== this.lastError) this.n.note(`(controller API: ${msg})`);
      this.lastError = msg;
      return;
    }
    for (const e of audit.entries) {
      const key = `${e.kind}|${e.host}|${e.time}|${e.phase}|${e.outcome}|${e.rev}|${e.message}`;
      if (this.seen.has(key)) continue;
      this.seen.add(key);
      this.entries.push(e);
      const text = describe(this.n, e);
      if (print && text) this.n.line(text, Math.min(Date.parse(e.time), Date.now()));
    }
  }

  events(host: string, rev?: string): AuditEntry[] {
    return this.entries.filter((e) => e.kind === "event" && e.host === host && (rev === undefined || e.rev === rev));
  }

  first(host: string, rev: string, phase: string, outcome?: string): AuditEntry | undefined {
    return this.entries
      .filter((e) => e.kind === "event" && e.host === host && e.rev === rev && e.phase === phase && (!outcome || e.outcome === outcome))
      .sort((a, b) => Date.parse(a.time) - Date.parse(b.time))[0];
  }

  decision(rev: string, phase: string, outcome: string): AuditEntry | undefined {
    return this.entries.find((e) => e.kind === "decision" && e.rev === rev && e.phase === phase && e.outcome === outcome);
  }

  host(name: string) {
    return this.status?.hosts.find((h) => h.host === name);
  }

  rollout(rev: string) {
    return this.status?.rollouts.find((r) => r.rev === rev);
  }
}

/**
 * Polls until `check` returns true; `check` otherwise returns what is still
 * missing. Prints that at least every `quietMs`. Throws a DemoFailure naming
 * what was expected and what was seen when `deadlineMs` passes.
 */
export async function waitUntil(o: Observer, n: Narrator, what: string, deadlineMs: number, check: () => true | string, quietMs = 4_500): Promise<void> {
  const start = Date.now();
  for (;;) {
    await o.refresh();
    const r = check();
    if (r === true) {
      // Let decisions recorded together with the last state change reach the audit trail before the next act.
      await new Promise((res) => setTimeout(res, 300));
      await o.refresh();
      return;
    }
    if (Date.now() - start > deadlineMs) throw new DemoFailure(`expected ${what} within ${deadlineMs / 1000}s; saw: ${r}`);
    if (Date.now() - n.lastPrint > quietMs) n.line(`${DIM}… ${r}${RESET}`);
    await new Promise((res) => setTimeout(res, 400));
  }
}

/** Watches for `ms` (printing transitions and progress), then returns. */
export async function watchFor(o: Observer, n: Narrator, ms: number, progress: () => string, quietMs = 4_500): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    await o.refresh();
    if (Date.now() - n.lastPrint > quietMs) n.line(`${DIM}… ${progress()}${RESET}`);
    await new Promise((res) => setTimeout(res, 400));
  }
  await o.refresh();
}
