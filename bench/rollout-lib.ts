// Shared by bench/rollout-latency.ts and bench/rollout-1000.ts: host keys
// (node crypto ed25519, OpenSSH public key lines), the built controller
// (`bin/flotilla.js serve`, SQLite) in its own process, and simulated agents
// that speak the real protocol over HTTP: signed reports, signed gate
// queries, and the long-poll nudge (GET /api/v1/watch).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { signAs, type BenchHost } from "./bench-hosts.js";
import { envelopeAuthorization } from "../common/src/signing.js";
import { type GateAnswer, type Nudge, type TransitionEvent } from "../schemas/src/api.js";

export const REPO_ROOT = fileURLToPath(new URL("../", import.meta.url));
export const TOKEN = "bench-rollout-operator-token";
export { makeHost, type BenchHost } from "./bench-hosts.js";

export function fleetYaml(hosts: BenchHost[], waves: { name: string; members: string[]; soak?: string }[]): string {
  return stringify({
    version: 1,
    policy: { branch: "main", unreachableAfter: "10m" },
    hosts: hosts.map((h) => ({ name: h.name, kind: "nixos", hostKey: h.publicLine })),
    waves: waves.map((w) => ({ name: w.name, members: w.members, soak: w.soak ?? "0" })),
  });
}

export interface ControllerProcess {
  url: string;
  child: ChildProcess;
  log: string;
  stop(): Promise<void>;
}

/** `bin/flotilla.js serve` (the built controller) on 127.0.0.1:<free port>, SQLite in `dir`. */
export async function startController(dir: string, o: { repoUrl: string; pollInterval: string; webhookSecret?: string; githubApiUrl?: string }): Promise<ControllerProcess> {
  if (!existsSync(join(REPO_ROOT, "dist/controller/src/cli.js"))) throw new Error("dist/ is missing: run npm run build first");
  const config = {
    listen: "127.0.0.1:0",
    dataDir: dir,
    fleet: { remotes: [o.repoUrl], branch: "main", pollInterval: o.pollInterval },
    auth: { operatorTokens: [{ name: "bench", token: { value: TOKEN } }] },
    ...(o.webhookSecret ? { github: { repo: "acme/fleet", apiUrl: o.githubApiUrl, token: { value: "gh-bench" }, webhookSecret: { value: o.webhookSecret } } } : {}),
    logLevel: "warn",
  };
  writeFileSync(join(dir, "controller.yaml"), stringify(config));
  const log = join(dir, "controller.log");
  const { openSync } = await import("node:fs");
  const fd = openSync(log, "a");
  const child = spawn(process.execPath, [join(REPO_ROOT, "bin/flotilla.js"), "serve", "--config", join(dir, "controller.yaml")], { stdio: ["ignore", fd, fd] });
  const deadline = Date.now() + 60_000;
  let url = "";
  while (!url) {
    const m = /listening on (http:\/\/\S+)/.exec(readFileSync(log, "utf8"));
    if (m) url = m[1]!;
    else if (child.exitCode !== null) throw new Error(`controller exited ${child.exitCode}:\n${readFileSync(log, "utf8")}`);
    else if (Date.now() > deadline) throw new Error(`controller did not start:\n${readFileSync(log, "utf8")}`);
    else await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    child,
    log,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
        setTimeout(() => child.kill("SIGKILL"), 3_000).unref();
      }),
  };
}

async function post<T>(url: string, body: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}

export async function operatorGet<T>(base: string, path: string): Promise<T> {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${TOKEN}` } });
  if (!res.ok) throw new Error(`GET ${path}: HTTP ${res.status}: ${await res.text()}`);
  return (await res.json()) as T;
}

/** A simulated agent: real key, real signatures, real HTTP; deploys take no time. */
export class SimAgent {
  seq = 0;
  current: string | null = null;
  generation: string | null = null;

  constructor(
    readonly host: BenchHost,
    readonly base: string,
  ) {}

  private event(over: Partial<TransitionEvent> & Pick<TransitionEvent, "phase" | "outcome">): TransitionEvent {
    return { type: "event", host: this.host.name, seq: ++this.seq, time: new Date().toISOString(), agentVersion: "bench-sim", reason: "Progressing", rev: null, generation: null, ...over };
  }

  async report(events: TransitionEvent[]): Promise<void> {
    const r = await post<{ error?: string; message?: string }>(`${this.base}/api/v1/reports`, { reports: events.map((e) => signAs(this.host, e)) });
    if (r.status !== 200) throw new Error(`${this.host.name}: reports answered ${r.status}: ${r.body.error}: ${r.body.message}`);
  }

  /** The "activating started" event, sent the moment the agent would start switching. */
  async activating(rev: string): Promise<void> {
    const generation = `/nix/store/${randomBytes(16).toString("hex")}-nixos-system-${this.host.name}`;
    await this.report([this.event({ phase: "activating", outcome: "started", rev, generation, previous: { rev: this.current, generation: this.generation } })]);
    this.pending = generation;
  }

  private pending: string | null = null;

  /** Health checks pass on the new generation: done/succeeded with the result tied to (rev, generation). */
  async done(rev: string): Promise<void> {
    const generation = this.pending ?? `/nix/store/${randomBytes(16).toString("hex")}-nixos-system-${this.host.name}`;
    const time = new Date().toISOString();
    await this.report([this.event({ phase: "done", outcome: "succeeded", reason: "Succeeded", rev, generation, health: [{ check: "http:health", ok: true, time, rev, generation }] })]);
    this.current = rev;
    this.generation = generation;
    this.pending = null;
  }

  async gate(rev: string): Promise<GateAnswer> {
    const q = { type: "gate", host: this.host.name, rev, time: new Date().toISOString(), nonce: randomBytes(8).toString("hex") };
    const r = await post<GateAnswer & { error?: string; message?: string }>(`${this.base}/api/v1/gate`, signAs(this.host, q));
    if (r.status !== 200) throw new Error(`${this.host.name}: gate answered ${r.status}: ${r.body.error}: ${r.body.message}`);
    return r.body;
  }

  async watch(since: string | null, timeoutMs: number, signal?: AbortSignal): Promise<Nudge> {
    const authorization = envelopeAuthorization(signAs(this.host, { type: "watch", host: this.host.name, since, time: new Date().toISOString() }));
    const res = await fetch(`${this.base}/api/v1/watch?host=${this.host.name}&since=${since ?? ""}&timeoutMs=${timeoutMs}`, { headers: { authorization }, ...(signal ? { signal } : {}) });
    if (!res.ok) throw new Error(`${this.host.name}: watch answered ${res.status}: ${await res.text()}`);
    return (await res.json()) as Nudge;
  }
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, i)]!;
}

export function stats(xs: number[]): { n: number; min: number; p50: number; p95: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, min: s[0] ?? NaN, p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1] ?? NaN };
}
