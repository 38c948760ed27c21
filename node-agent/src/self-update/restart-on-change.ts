/**
 * Restart-on-change: the agent's own unit is never restarted by the deploys
 * it runs (NixOS module: restartIfChanged = false; legacy: the fleet's app
 * does not touch flotilla-agent.service), so the agent notices by itself
 * when what it was started from changed and exits 75 (EX_TEMPFAIL); the unit
 * (RestartForceExitStatus=75) starts it again from the new unit, config or
 * package.
 *
 * The fingerprint, taken at start and compared between cycles:
 *   unit    the unit file (FLOTILLA_AGENT_UNIT_FILE, set by the unit itself:
 *           /etc/systemd/system/flotilla-agent.service on NixOS, where a new
 *           config or package changes the unit's text; ~/.config/systemd/user/
 *           flotilla-agent.service on legacy hosts);
 *   config  the agent's config file;
 *   package where the unit would start the agent now: the agent profile's
 *           target (FLOTILLA_AGENT_PROFILE), else FLOTILLA_AGENT_FALLBACK.
 * Off when FLOTILLA_AGENT_UNIT_FILE is unset (not under a unit that restarts
 * on 75: exiting would just stop the agent).
 */
import { createHash } from "node:crypto";
import { readFile, realpath } from "node:fs/promises";

export interface Fingerprint {
  unit: string;
  config: string;
  package: string;
}

export interface FingerprintSources {
  unitFile: string;
  configPath: string;
  profile?: string | undefined;
  fallback?: string | undefined;
}

async function digest(file: string): Promise<string> {
  try {
    return createHash("sha256").update(await readFile(file)).digest("hex");
  } catch (e) {
    return `unreadable:${(e as NodeJS.ErrnoException).code ?? "error"}`;
  }
}

async function target(p: string | undefined): Promise<string | null> {
  if (!p) return null;
  try {
    return await realpath(p);
  } catch {
    return null;
  }
}

export async function fingerprint(s: FingerprintSources): Promise<Fingerprint> {
  return {
    unit: await digest(s.unitFile),
    config: await digest(s.configPath),
    package: (await target(s.profile)) ?? (await target(s.fallback)) ?? "none",
  };
}

/** What changed between two fingerprints ([] when nothing did). Pure. */
export function changes(before: Fingerprint, now: Fingerprint): Array<keyof Fingerprint> {
  return (["unit", "config", "package"] as const).filter((k) => before[k] !== now[k]);
}

export interface RestartWatch {
  /** The parts that changed since start ([] = keep running). */
  check(): Promise<Array<keyof Fingerprint>>;
}

/** Null when the agent does not run under a unit that declares its file (FLOTILLA_AGENT_UNIT_FILE). */
export async function watchOwnRestartInputs(env: Record<string, string | undefined>, configPath: string): Promise<RestartWatch | null> {
  const unitFile = env.FLOTILLA_AGENT_UNIT_FILE;
  if (!unitFile) return null;
  const sources: FingerprintSources = { unitFile, configPath, profile: env.FLOTILLA_AGENT_PROFILE, fallback: env.FLOTILLA_AGENT_FALLBACK };
  const start = await fingerprint(sources);
  return { check: async () => changes(start, await fingerprint(sources)) };
}
