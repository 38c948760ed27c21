// Helpers for the controller's integration tests: real host keys from
// ssh-keygen, a real fleet repo, a controller on 127.0.0.1:<free port>, and
// simulated agents speaking the real signed protocol over HTTP.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { execa } from "execa";
import { stringify } from "yaml";
import type { GateAnswer, Heartbeat, Nudge, ReportAck, SignedEnvelope, TransitionEvent } from "../../../schemas/src/api.js";
import { envelopeAuthorization, loadHostSigner, type HostSigner } from "../../../common/src/signing.js";
import { memoryLogger } from "../../../common/src/log.js";
import { resolveConfig, type ResolvedConfig } from "../../../controller/src/config.js";
import { startController, type RunningController, type StartOptions } from "../../../controller/src/server.js";
import { makeFleetRepo, type FleetRepo } from "../../helpers/git-repo.js";
import { makeTempDir } from "../../helpers/tmp.js";

export const OPERATOR_TOKEN = "operator-secret-token-0123456789";
/** A token with role "read" (a metrics scraper). */
export const READ_TOKEN = "read-only-scraper-token-0123456789";

export async function makeHostSigners(names: string[]): Promise<Record<string, HostSigner>> {
  const dir = await makeTempDir("flotilla-keys-");
  const out: Record<string, HostSigner> = {};
  await Promise.all(
    names.map(async (n) => {
      const file = join(dir, `${n}_ed25519`);
      await execa("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${n}`, "-f", file]);
      out[n] = await loadHostSigner(n, file);
    }),
  );
  return out;
}

export interface FleetDraft {
  waves: { name: string; members: string[]; soak?: string; maxUnavailable?: number | string; approval?: "auto" | "manual" }[];
  pins?: Record<string, string>;
  unreachableAfter?: string;
  extraHosts?: string[];
}

export function fleetYaml(signers: Record<string, HostSigner>, d: FleetDraft): string {
  const names = [...d.waves.flatMap((w) => w.members), ...(d.extraHosts ?? [])];
  return stringify({
    version: 1,
    policy: { branch: "main", ...(d.unreachableAfter ? { unreachableAfter: d.unreachableAfter } : {}) },
    hosts: names.map((n) => ({ name: n, kind: "nixos", hostKey: signers[n]!.publicKeyLine, ...(d.pins?.[n] ? { pin: d.pins[n] } : {}) })),
    waves: d.waves.map((w) => ({ name: w.name, members: w.members, ...(w.soak ? { soak: w.soak } : {}), ...(w.maxUnavailable !== undefined ? { maxUnavailable: w.maxUnavailable } : {}), ...(w.approval ? { approval: w.approval } : {}) })),
  });
}

export interface TestControllerOptions {
  repo: FleetRepo;
  database?: string;
  dataDir?: string;
  github?: { apiUrl: string; webhookSecret?: string; repo?: string };
  extra?: Record<string, unknown>;
  controllerId?: string;
  pollInterval?: string;
  /** Extra startController options (e.g. onOperatorAction). */
  start?: Partial<StartOptions>;
  /** Environment of the controller builder's nix (controller.yaml builder). */
  builderEnv?: Record<string, string | undefined>;
}

export async function controllerConfig(o: TestControllerOptions): Promise<ResolvedConfig> {
  const dataDir = o.dataDir ?? (await makeTempDir("flotilla-controller-"));
  return resolveConfig(
    {
      listen: "127.0.0.1:0",
      dataDir,
      ...(o.database ? { database: o.database } : {}),
      fleet: { remotes: [o.repo.url], branch: "main", pollInterval: o.pollInterval ?? "1h" },
      auth: { operatorTokens: [{ name: "ops", token: { value: OPERATOR_TOKEN } }, { name: "scraper", token: { value: READ_TOKEN }, role: "read" }] },
      ...(o.github
        ? { github: { repo: o.github.repo ?? "acme/fleet", apiUrl: o.github.apiUrl, token: { value: "gh-test-token" }, ...(o.github.webhookSecret ? { webhookSecret: { value: o.github.webhookSecret } } : {}) } }
        : {}),
      ...o.extra,
    },
    { baseDir: dataDir, env: {} },
  );
}

export async function startTestController(o: TestControllerOptions): Promise<RunningController & { log: ReturnType<typeof memoryLogger>; config: ResolvedConfig }> {
  const config = await controllerConfig(o);
  const log = memoryLogger("controller");
  const c = await startController(config, { log, tickMs: 100, ...(o.controllerId ? { controllerId: o.controllerId } : {}), ...(o.builderEnv ? { builderEnv: o.builderEnv } : {}), ...o.start });
  return Object.assign(c, { log, config });
}

export async function newFleetRepo(signers: Record<string, HostSigner>, d: FleetDraft): Promise<FleetRepo> {
  return makeFleetRepo({ files: { "fleet.yaml": fleetYaml(signers, d) }, message: "initial fleet" });
}

export async function api<T>(base: string, path: string, init: { method?: string; body?: unknown; token?: string | null; raw?: string; headers?: Record<string, string> } = {}): Promise<{ status: number; body: T }> {
  const token = init.token === undefined ? OPERATOR_TOKEN : init.token;
  const res = await fetch(base + path, {
    method: init.method ?? (init.body !== undefined || init.raw !== undefined ? "POST" : "GET"),
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...init.headers },
    ...(init.raw !== undefined ? { body: init.raw } : init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // text body
  }
  return { status: res.status, body: body as T };
}

/** A simulated agent: real keys, real signatures, real HTTP. */
export class SimAgent {
  seq = 0;
  constructor(
    readonly signer: HostSigner,
    public base: string,
  ) {}

  get host(): string {
    return this.signer.host;
  }

  event(over: Partial<TransitionEvent> & Pick<TransitionEvent, "phase" | "outcome">, time = new Date()): TransitionEvent {
    return { type: "event", host: this.host, seq: ++this.seq, time: time.toISOString(), agentVersion: "sim-0.1", reason: over.outcome === "failed" ? "HealthCheckFailed" : "Succeeded", rev: null, generation: null, ...over };
  }

  heartbeat(over: Partial<Heartbeat> = {}, time = new Date()): Heartbeat {
    return { type: "heartbeat", host: this.host, seq: ++this.seq, time: time.toISOString(), agentVersion: "sim-0.1", phase: "idle", currentRev: null, currentGeneration: null, targetRev: null, healthy: null, queueLength: 0, ...over };
  }

  sign(message: unknown): SignedEnvelope {
    return this.signer.sign(JSON.stringify(message));
  }

  send(...messages: unknown[]) {
    return api<ReportAck>(this.base, "/api/v1/reports", { body: { reports: messages.map((m) => this.sign(m)) }, token: null });
  }

  /** The events of a successful deploy of `rev`, ending healthy on its generation. */
  deployed(rev: string, time = new Date()): TransitionEvent[] {
    const generation = `/nix/store/${randomBytes(16).toString("hex").slice(0, 32)}-nixos-system-${this.host}`;
    return [
      this.event({ phase: "activating", outcome: "started", rev, generation, reason: "Progressing" }, time),
      this.event({ phase: "done", outcome: "succeeded", rev, generation, health: [{ check: "http:health", ok: true, time: time.toISOString(), rev, generation }], durations: { build: 1200, activate: 300 } }, time),
    ];
  }

  failed(rev: string, time = new Date()): TransitionEvent[] {
    const generation = `/nix/store/${randomBytes(16).toString("hex").slice(0, 32)}-nixos-system-${this.host}`;
    return [
      this.event({ phase: "verifying", outcome: "failed", rev, generation, reason: "HealthCheckFailed", error: { reason: "HealthCheckFailed", message: "http:health: HTTP 503" } }, time),
      this.event({ phase: "rolledBack", outcome: "succeeded", rev, generation, reason: "RolledBack", previous: { rev: null, generation: null } }, time),
    ];
  }

  gate(rev: string, over: Record<string, unknown> = {}) {
    const q = { type: "gate", host: this.host, rev, time: new Date().toISOString(), nonce: randomBytes(8).toString("hex"), ...over };
    return api<GateAnswer>(this.base, "/api/v1/gate", { body: this.sign(q), token: null });
  }

  /** A signed long-poll, as the agent sends it (WatchQuery in the Authorization header). */
  watch(since: string | null, timeoutMs = 5000, over: Record<string, unknown> = {}) {
    return api<Nudge>(this.base, `/api/v1/watch?host=${this.host}&since=${since ?? ""}&timeoutMs=${timeoutMs}`, { token: null, headers: { authorization: this.watchAuthorization(since, over) } });
  }

  watchAuthorization(since: string | null, over: Record<string, unknown> = {}): string {
    return envelopeAuthorization(this.sign({ type: "watch", host: this.host, since, time: new Date().toISOString(), ...over }));
  }
}

export async function waitFor<T>(fn: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
