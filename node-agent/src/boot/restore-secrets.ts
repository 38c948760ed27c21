/**
 * `flotilla-agent restore-secrets`: the secrets root is a tmpfs
 * (/run/flotilla/secrets.d, /run/user/<uid>/flotilla/secrets.d), so a reboot
 * empties it while the host keeps running its current generation, whose
 * services would start without their secrets until the next deploy. The
 * agent's unit runs this as `ExecStartPre=-…` at every start: when the state
 * file records a current revision and the secrets root has no `current`
 * generation, it decrypts that revision's secrets for this host again from
 * the fleet cache (no network). Units that need the secrets order themselves
 * `After=flotilla-agent.service`: with Type=exec they start only after
 * ExecStartPre finished (docs/secrets.md). Nothing is restarted here: those
 * units are waiting for us.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Logger } from "../../../common/src/log.js";
import { findHost } from "../../../common/src/plan/resolve.js";
import type { Source, StateStore } from "../ports.js";

export type RestoreOutcome = "no-current" | "present" | "no-secrets" | "restored";

export interface RestoreOptions {
  host: string;
  root: string;
  hostKeyPath: string;
  store: Pick<StateStore, "load">;
  source: Pick<Source, "loadFleet"> & { readFile(rev: string, file: string): Promise<Uint8Array | null> };
  log: Logger;
}

export async function restoreSecrets(o: RestoreOptions): Promise<RestoreOutcome> {
  const rev = (await o.store.load())?.current?.rev;
  if (!rev) return "no-current";
  if (existsSync(join(o.root, "current"))) return "present";
  const loaded = await o.source.loadFleet(rev);
  if (!loaded.fleet) throw new Error(`fleet.yaml at ${rev.slice(0, 12)} does not load: ${loaded.errors.join("; ")}`);
  const host = findHost(loaded.fleet, o.host);
  if (!host) throw new Error(`host "${o.host}" is not in fleet.yaml at ${rev.slice(0, 12)}`);
  if (!loaded.fleet.secrets.some((s) => s.hosts.includes(host.name))) return "no-secrets";
  const { SopsSecrets } = await import("../../../secrets/src/install/agent.js");
  const secrets = new SopsSecrets({
    root: o.root,
    hostKeyPath: o.hostKeyPath,
    readFile: o.source.readFile,
    chown: process.getuid?.() === 0,
    restartUnits: async () => {},
  });
  const generation = await secrets.install({ fleet: loaded.fleet, host, rev });
  o.log.info("secrets restored after boot", { rev, generation: generation ?? "none" });
  return "restored";
}
