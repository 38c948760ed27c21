// A fleet of built agent daemons (`flotilla-agent run`, each its own process
// group as systemd would run it) reporting to a controller on 127.0.0.1. The
// first world is the canary: its fleet repo is the one every agent fetches,
// and its fleet() lists its own key for it and its `otherKey` for every other
// host, so a follower signs with that key unless the test gives it its own.
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll } from "vitest";
import type { StatusReport } from "../../../schemas/src/api.js";
import { cleanupTempDirs } from "../../helpers/tmp.js";
import { api } from "../controller/harness.js";
import { buildAgent, World } from "./helpers.js";

/** A daemon's timing that lets a rollout through two waves finish in seconds. */
export const DAEMON = { pollInterval: "2s", jitter: "0", heartbeatInterval: "2s" };

export type Daemon = ChildProcess & { output: () => string };

/** A test file's hooks when it spawns built agents: the built agent must be there; temp dirs go at the end. */
export function useBuiltAgent(): void {
  beforeAll(async () => {
    await buildAgent();
  }, 300_000);
  afterAll(async () => {
    await cleanupTempDirs();
  });
}

/** One world a host, in order; the first is the canary. */
export async function worlds<const H extends readonly string[]>(...hosts: H): Promise<{ [K in keyof H]: World }> {
  const out: World[] = [];
  for (const host of hosts) out.push(await World.create({ host }));
  return out as { [K in keyof H]: World };
}

export interface DaemonOptions {
  /** Agent config over DAEMON (timing). */
  config?: Record<string, unknown>;
  /** The daemons' extra environment (a fake clock). */
  env?: Record<string, string>;
  /** A follower's own key (host → private key path) where the fleet file lists one for it. */
  keys?: Record<string, string>;
}

/** Points each world's agent at the controller at `url` and spawns its daemon. */
export async function startDaemons(url: string, ws: readonly World[], o: DaemonOptions = {}): Promise<Daemon[]> {
  const canary = ws[0]!;
  for (const w of ws) {
    const follows = w === canary ? {} : { remotes: [canary.repo.url], hostKeyPath: o.keys?.[w.host] ?? canary.otherKey.path };
    await w.writeConfig({ ...DAEMON, ...o.config, controller: url, ...follows });
  }
  return ws.map((w) => w.spawnBuilt(["run"], o.env));
}

/** The test's end: kills the daemons still running (their whole process groups), stops the controller, closes the worlds. */
export async function stopAll(daemons: readonly Daemon[], ctl: { stop(): Promise<void> }, ws: readonly World[]): Promise<void> {
  for (const d of daemons) if (d.exitCode === null) process.kill(-d.pid!, "SIGKILL");
  await ctl.stop();
  for (const w of ws) await w.close();
}

/** The controller's status report (GET /api/v1/status). */
export function statusOf(url: string): () => Promise<StatusReport> {
  return async () => (await api<StatusReport>(url, "/api/v1/status")).body;
}
