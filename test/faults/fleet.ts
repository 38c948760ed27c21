// The fault matrix's fleet: a real controller process (`bin/flotilla.js
// serve`, SQLite on its own small tmpfs so its disk can fill), two real agent
// daemons (`bin/flotilla-agent.js run`: canary-1 and web-1, each with its own
// state dir, host key, nix profile and fixture state; canary-1's state dir
// is a small tmpfs too, web-1 runs under libfaketime so its clock can be
// moved), the offline test fleet in a real git repo, and the fault proxy
// between agents and controller. Everything is a process or a socket the
// matrix can kill, stop, cut, fill or skew.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Database from "better-sqlite3";
import { stringify } from "yaml";
import type { StatusReport } from "../../schemas/src/api.js";
import type { AgentState } from "../../node-agent/src/loop/phases.js";
import { makeTempDir } from "../helpers/tmp.js";
import { makeKey, REPO_ROOT, waitFor, World } from "../integration/agent/helpers.js";
import { OPERATOR_TOKEN } from "../integration/controller/harness.js";
import { startFaultProxy, type FaultProxy } from "./proxy.js";
import { freePort } from "../helpers/free-port.js";

export const FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
const DAEMON = { pollInterval: "1s", jitter: "0", heartbeatInterval: "2s" };


function mountTmpfs(dir: string, size: string): void {
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size},mode=0700`, "tmpfs", dir]);
}

export function umountQuietly(dir: string): void {
  try {
    execFileSync("umount", ["-l", dir], { stdio: "ignore" });
  } catch {
    // not mounted
  }
}

/** Fills the filesystem holding `dir` to the last byte; returns the filler's path. */
export function fillDisk(dir: string): string {
  const filler = join(dir, "filler");
  try {
    execFileSync("dd", ["if=/dev/zero", `of=${filler}`, "bs=64k"], { stdio: "ignore" });
  } catch {
    // dd stops with ENOSPC: that is the point
  }
  return filler;
}

export class Daemon {
  child: ChildProcess | null = null;
  output = "";
  constructor(
    readonly world: World,
    private readonly env: Record<string, string> = {},
  ) {}

  start(): void {
    const c = this.world.spawnBuilt(["run"], this.env);
    this.child = c;
    c.stdout?.on("data", (d: Buffer) => (this.output += d.toString()));
    c.stderr?.on("data", (d: Buffer) => (this.output += d.toString()));
  }

  alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || !this.alive()) return;
    const exited = new Promise((r) => c.once("exit", r));
    process.kill(-c.pid!, "SIGKILL");
    await exited;
  }
}

export class ControllerProc {
  child: ChildProcess | null = null;
  output = "";
  deaths = 0;
  constructor(
    readonly config: string,
    readonly url: string,
    private readonly nofile: number,
  ) {}

  async start(): Promise<void> {
    this.output = "";
    const c = spawn("sh", ["-c", `ulimit -n ${this.nofile}; exec "$0" "$@"`, process.execPath, join(REPO_ROOT, "bin/flotilla.js"), "serve", "--config", this.config], {
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = c;
    c.stdout?.on("data", (d: Buffer) => (this.output += d.toString()));
    c.stderr?.on("data", (d: Buffer) => (this.output += d.toString()));
    await waitFor("controller listening", () => (/listening on/.test(this.output) ? true : c.exitCode !== null ? Promise.reject(new Error(`controller exited ${c.exitCode}:\n${this.output}`)) : null), 30_000, 50);
  }

  alive(): boolean {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null;
  }

  signal(sig: NodeJS.Signals): void {
    if (this.child?.pid) process.kill(-this.child.pid, sig);
  }

  async kill9(): Promise<void> {
    const c = this.child;
    if (!c || !this.alive()) return;
    const exited = new Promise((r) => c.once("exit", r));
    this.signal("SIGCONT");
    this.signal("SIGKILL");
    await exited;
  }
}

export interface Convergence {
  ok: boolean;
  why: string;
}

export class FaultFleet {
  canary!: World;
  web!: World;
  agents!: { canary: Daemon; web: Daemon };
  ctl!: ControllerProc;
  proxy!: FaultProxy;
  dataDir!: string;
  clockFile!: string;
  webKeyPath!: string;
  webKeyPub!: string;
  private round = 0;
  private markers: Record<string, string | null> = {};
  readonly mounts: string[] = [];

  static async create(): Promise<FaultFleet> {
    const f = new FaultFleet();
    await f.init();
    return f;
  }

  private async init(): Promise<void> {
    if (!existsSync(FAKETIME_LIB)) throw new Error(`${FAKETIME_LIB} is missing: install the Debian package "faketime" (scripts/ensure-deps.sh does)`);
    this.canary = await World.create({ host: "canary-1" });
    this.web = await World.create({ host: "web-1" });
    await mkdir(this.canary.stateDir, { recursive: true });
    mountTmpfs(this.canary.stateDir, "24m");
    this.mounts.push(this.canary.stateDir);

    const root = await makeTempDir("flotilla-faults-");
    this.dataDir = join(root, "data");
    await mkdir(this.dataDir, { recursive: true });
    mountTmpfs(this.dataDir, "48m");
    this.mounts.push(this.dataDir);
    const key = makeKey(root, "web_key");
    this.webKeyPath = key.path;
    this.webKeyPub = key.pub;
    this.clockFile = join(root, "faketime");
    await writeFile(this.clockFile, "+0\n");

    const port = await freePort();
    const config = join(root, "controller.yaml");
    await writeFile(
      config,
      stringify({
        listen: `127.0.0.1:${port}`,
        dataDir: this.dataDir,
        fleet: { remotes: [this.canary.repo.url], branch: "main", pollInterval: "1s" },
        auth: { operatorTokens: [{ name: "ops", token: { value: OPERATOR_TOKEN } }] },
      }),
    );
    this.ctl = new ControllerProc(config, `http://127.0.0.1:${port}`, 256);
    this.proxy = await startFaultProxy(() => this.ctl.url);

    this.markers = { "markers/canary-1/slow-switch": "2\n" };
    await this.canary.commit({ "fleet.yaml": this.fleetYaml(), ...this.markers }, "faults: initial fleet");
    await this.ctl.start();
    await this.canary.writeConfig({ ...DAEMON, controller: this.proxy.url });
    await this.web.writeConfig({ ...DAEMON, controller: this.proxy.url, remotes: [this.canary.repo.url], hostKeyPath: this.webKeyPath });
    this.agents = {
      canary: new Daemon(this.canary),
      web: new Daemon(this.web, {
        LD_PRELOAD: FAKETIME_LIB,
        FAKETIME_TIMESTAMP_FILE: this.clockFile,
        FAKETIME_CACHE_DURATION: "1",
        FAKETIME_DONT_FAKE_MONOTONIC: "1",
      }),
    };
    this.agents.canary.start();
    this.agents.web.start();
  }

  fleetYaml(webKey = this.webKeyPub): string {
    const doc = JSON.parse(this.canary.fleet({ hosts: [{ name: "canary-1" }, { name: "web-1" }], waves: [{ name: "canary", members: ["canary-1"], soak: "1s" }, { name: "web", members: ["web-1"] }] })) as {
      hosts: Array<{ name: string; hostKey: string }>;
    };
    for (const h of doc.hosts) if (h.name === "web-1") h.hostKey = webKey;
    return JSON.stringify(doc, null, 2);
  }

  /** Commits the next round's change (plus `files`); returns its sha. */
  async commit(name: string, files: Record<string, string | null> = {}): Promise<string> {
    this.round++;
    return this.canary.commit({ "round.txt": `${this.round} ${name}\n`, ...files }, `round ${this.round}: ${name}`);
  }

  async state(w: World): Promise<AgentState | null> {
    try {
      return JSON.parse(await readFile(join(w.stateDir, "state.json"), "utf8")) as AgentState;
    } catch {
      return null;
    }
  }

  /** Resolves when `w`'s persisted phase is one of `phases` for `rev`. */
  async waitPhase(w: World, rev: string, phases: string[], timeoutMs = 60_000): Promise<void> {
    await waitFor(`${w.host} in ${phases.join("/")} for ${rev.slice(0, 8)}`, async () => {
      const s = await this.state(w);
      const c = s?.cycle as { phase: string; target?: { rev: string } } | undefined;
      return !!c && phases.includes(c.phase) && c.target?.rev === rev;
    }, timeoutMs, 10);
  }

  private db<T>(fn: (db: Database.Database) => T): T {
    const db = new Database(join(this.dataDir, "flotilla.db"), { readonly: true, fileMustExist: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  }

  storedEventSeqs(host: string): Set<number> {
    return this.db((db) => new Set((db.prepare("SELECT seq FROM messages WHERE host = ? AND type = 'event'").all(host) as Array<{ seq: number }>).map((r) => Number(r.seq))));
  }

  /** Events the agents sent that the controller does not hold. */
  lostEvents(): number {
    let lost = 0;
    for (const [host, seqs] of this.proxy.sentEvents) {
      const stored = this.storedEventSeqs(host);
      for (const s of seqs) if (!stored.has(s)) lost++;
    }
    return lost;
  }

  rollbacksOf(rev: string): number {
    return this.db((db) => Number((db.prepare("SELECT count(*) AS n FROM messages WHERE rev = ? AND type = 'event' AND phase IN ('rollingBack','rolledBack','rollbackFailed')").get(rev) as { n: number }).n));
  }

  /** The stored events of `rev`, one line each (for a failed round's message). */
  eventsOf(rev: string): string {
    return this.db((db) =>
      (db.prepare("SELECT host, seq, phase, outcome, reason, payload FROM messages WHERE rev = ? AND type = 'event' ORDER BY host, seq").all(rev) as Array<{ host: string; seq: number; phase: string; outcome: string; reason: string; payload: string }>)
        .map((e) => `    ${e.host} #${e.seq} ${e.phase}/${e.outcome}/${e.reason} ${String((JSON.parse(e.payload) as { message?: string }).message ?? "").slice(0, 160)}`)
        .join("\n"),
    );
  }

  private queued(w: World): string[] {
    const dir = join(w.stateDir, "outbox");
    const names = existsSync(dir) ? readdirSync(dir).filter((n) => /-e\.json$/.test(n)) : [];
    const rejected = join(dir, "rejected");
    return [...names, ...(existsSync(rejected) ? readdirSync(rejected).map((n) => `rejected/${n}`) : [])];
  }

  /** Every process still up, and the controller's status; or why not. */
  private async liveStatus(): Promise<StatusReport | string> {
    if (!this.ctl.alive()) return "the controller is not running";
    for (const d of [this.agents.canary, this.agents.web]) if (!d.alive()) return `${d.world.host}'s agent is not running`;
    try {
      const res = await fetch(`${this.ctl.url}/api/v1/status`, { headers: { authorization: `Bearer ${OPERATOR_TOKEN}` }, signal: AbortSignal.timeout(5_000) });
      return (await res.json()) as StatusReport;
    } catch (e) {
      return `status: ${(e as Error).message}`;
    }
  }

  /** No event left queued or set aside on either host, and every event sent is stored. */
  private delivered(): Convergence {
    for (const w of [this.canary, this.web]) {
      const q = this.queued(w);
      if (q.length) return { ok: false, why: `${w.host} still holds ${q.length} events (${q.slice(0, 3).join(", ")})` };
    }
    const lost = this.lostEvents();
    if (lost) return { ok: false, why: `${lost} events sent but not stored` };
    return { ok: true, why: "" };
  }

  /** Has the fleet converged on `rev`, every event delivered? Says why not. */
  async converged(rev: string): Promise<Convergence> {
    const status = await this.liveStatus();
    if (typeof status === "string") return { ok: false, why: status };
    const r = status.rollouts.find((x) => x.rev === rev);
    if (r?.state !== "complete") return { ok: false, why: `rollout ${rev.slice(0, 8)} is ${r?.state ?? "unknown"}${r?.reason ? `: ${r.reason}` : ""} ${JSON.stringify(r?.waves.map((w) => [w.name, w.state, w.reason]))}` };
    for (const w of [this.canary, this.web]) {
      const s = await this.state(w);
      const c = s?.cycle as { phase: string; target?: { rev: string } } | undefined;
      if (c?.phase !== "done" || c.target?.rev !== rev) return { ok: false, why: `${w.host} is ${c?.phase} for ${c?.target?.rev?.slice(0, 8)}` };
      if (s!.failedRevs.some((f) => f.rev === rev)) return { ok: false, why: `${w.host} remembers ${rev.slice(0, 8)} as failed` };
      const h = status.hosts.find((x) => x.host === w.host);
      if (h?.currentRev !== rev || h.health !== "Healthy") return { ok: false, why: `status: ${w.host} on ${h?.currentRev?.slice(0, 8)} ${h?.health}` };
    }
    return this.delivered();
  }

  /**
   * Has the fleet halted the bad commit `rev` cleanly? Its rollout halted, the
   * canary back on the generation it ran before (resting, `rev` remembered as
   * failed), web never given `rev`, every event delivered.
   */
  async halted(rev: string): Promise<Convergence> {
    const status = await this.liveStatus();
    if (typeof status === "string") return { ok: false, why: status };
    const r = status.rollouts.find((x) => x.rev === rev);
    if (r?.state !== "halted") return { ok: false, why: `rollout ${rev.slice(0, 8)} is ${r?.state ?? "unknown"}, not halted` };
    const s = await this.state(this.canary);
    if (s?.cycle.phase !== "rolledBack") return { ok: false, why: `canary-1 is ${s?.cycle.phase}, not rolledBack` };
    if (!s.failedRevs.some((x) => x.rev === rev)) return { ok: false, why: `canary-1 does not remember ${rev.slice(0, 8)} as failed` };
    const canaryStatus = status.hosts.find((x) => x.host === "canary-1");
    if (canaryStatus?.currentRev === rev) return { ok: false, why: "status says canary-1 runs the bad commit" };
    const web = await this.state(this.web);
    if ((web?.cycle as { target?: { rev: string } }).target?.rev === rev) return { ok: false, why: "web-1 was given the bad commit" };
    return this.delivered();
  }

  async close(): Promise<void> {
    for (const d of Object.values(this.agents ?? {})) await d.kill9().catch(() => undefined);
    await this.ctl?.kill9().catch(() => undefined);
    await this.proxy?.close();
    for (const m of this.mounts) umountQuietly(m);
    await this.canary?.close();
    await this.web?.close();
  }
}
