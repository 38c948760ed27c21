// Reading what the test fleet's stand-ins did: the JSON-lines call log
// (FLOTILLA_FIXTURE_LOG) and per-host state (FLOTILLA_FIXTURE_STATE/<host>/).
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

/** One line of the call log, written by switch-to-configuration or a legacy app. */
export interface FixtureCall {
  host: string;
  /** switch | boot | test | dry-activate | setup | build-legacy | install | dump-db */
  operation: string;
  /** The fleet repo commit the system/app was built from ("dirty" for an unclean tree). */
  revision: string;
  /** The toplevel (nixos) or legacy-tools (legacy) store path that ran. */
  outPath: string;
  /** ISO-8601 UTC with milliseconds. */
  time: string;
  /** "failed" when a fail-* marker made the call fail. */
  status: "ok" | "failed";
  mode: "nixos" | "legacy";
  /** legacy only: working directory and the SERVICE_* (+ FLOTILLA_FIXTURE_RECORD_ENV) variables seen. */
  cwd?: string;
  env?: Record<string, string>;
  /** dump-db only: path of the backup file written. */
  backup?: string;
}

/** All calls logged so far ([] when the log does not exist yet). */
export async function readCalls(logFile: string): Promise<FixtureCall[]> {
  let text: string;
  try {
    text = await readFile(logFile, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  return text
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => JSON.parse(line) as FixtureCall);
}

export interface HostState {
  /** Revision of the last successful switch/test (nixos) or build-legacy (legacy). */
  currentRevision?: string;
  currentSystem?: string;
  /** Set by switch (also boot). */
  bootRevision?: string;
  bootSystem?: string;
  health?: "ok" | "bad";
  mode?: "nixos" | "legacy";
  /** legacy only: KEY=VALUE lines of the recorded environment, parsed. */
  env?: Record<string, string>;
  /** dump-db backups (file names under <state>/<host>/backups/), sorted. */
  backups: string[];
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, "utf8")).replace(/\n$/, "");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** What the stand-in service of `host` currently looks like. */
export async function readHostState(stateDir: string, host: string): Promise<HostState> {
  const dir = join(stateDir, host);
  const read = (name: string) => readOptional(join(dir, name));
  const envText = await read("env");
  let backups: string[] = [];
  try {
    backups = (await readdir(join(dir, "backups"))).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const state: HostState = { backups };
  const currentRevision = await read("current-revision");
  if (currentRevision !== undefined) state.currentRevision = currentRevision;
  const currentSystem = await read("current-system");
  if (currentSystem !== undefined) state.currentSystem = currentSystem;
  const bootRevision = await read("boot-revision");
  if (bootRevision !== undefined) state.bootRevision = bootRevision;
  const bootSystem = await read("boot-system");
  if (bootSystem !== undefined) state.bootSystem = bootSystem;
  const health = await read("health");
  if (health === "ok" || health === "bad") state.health = health;
  const mode = await read("mode");
  if (mode === "nixos" || mode === "legacy") state.mode = mode;
  if (envText !== undefined) {
    state.env = Object.fromEntries(
      envText
        .split("\n")
        .filter((line) => line.includes("="))
        .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]),
    );
  }
  return state;
}
