// Temporary directories for tests, removed when the test process exits (set
// FLOTILLA_KEEP_TMP=1 to keep them for debugging), and the fixture state dirs
// that the test fleet's stand-in systems and legacy apps write to.
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

const created = new Set<string>();
let exitHookInstalled = false;

function keep(): boolean {
  return process.env.FLOTILLA_KEEP_TMP === "1";
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort for dirs a test did not clean up itself; "exit" handlers must be synchronous.
  process.once("exit", () => {
    if (keep()) return;
    for (const dir of created) rmSync(dir, { recursive: true, force: true });
  });
}

/** Creates a fresh directory under the OS temp dir; it is deleted at process exit. */
export async function makeTempDir(prefix = "flotilla-test-"): Promise<string> {
  installExitHook();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  created.add(dir);
  return dir;
}

/** Deletes every temp dir made so far (call from afterAll to free space early). */
export async function cleanupTempDirs(): Promise<void> {
  if (keep()) return;
  const dirs = [...created];
  created.clear();
  await Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true })));
}

export interface StateDirs {
  /** Parent temp dir. */
  root: string;
  /** FLOTILLA_FIXTURE_STATE: holds <host>/current-revision, <host>/health, ... */
  state: string;
  /** FLOTILLA_FIXTURE_LOG: one JSON line per switch-to-configuration / legacy app call. */
  log: string;
  /** The two variables above, to merge into the environment of the agent or of nix run. */
  env: { FLOTILLA_FIXTURE_STATE: string; FLOTILLA_FIXTURE_LOG: string };
}

/** A private state dir and call log for one test (or one simulated machine). */
export async function stateDirs(prefix = "flotilla-state-"): Promise<StateDirs> {
  const root = await makeTempDir(prefix);
  const state = join(root, "state");
  const log = join(root, "calls.jsonl");
  await mkdir(state, { recursive: true });
  return { root, state, log, env: { FLOTILLA_FIXTURE_STATE: state, FLOTILLA_FIXTURE_LOG: log } };
}
