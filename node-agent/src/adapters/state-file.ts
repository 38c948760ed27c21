/**
 * The agent's state file (<stateDir>/state.json), written atomically: a temp
 * file in the same directory, fsync, rename over the old one, fsync of the
 * directory. A reader (or the next start after `kill -9`) sees either the old
 * or the new state, never half of one. Also the operator's retry requests.
 */
import { closeSync, fsyncSync, openSync } from "node:fs";
import { mkdir, open, readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { StateFileError } from "../errors.js";
import { migrateState, READABLE_STATE_VERSIONS, type AgentState } from "../loop/phases.js";
import type { RetryRequest, StateStore } from "../ports.js";

let tmpCounter = 0;

/** `<name>.tmp-<pid>-<n>`: the temp files writeFileAtomic makes. */
const TEMP = /\.tmp-(\d+)-\d+$/;

export async function writeFileAtomic(path: string, data: string, mode = 0o600): Promise<void> {
  // Unique per call: two writers of the same path must never share a temp file.
  const tmp = `${path}.tmp-${process.pid}-${++tmpCounter}`;
  try {
    const fh = await open(tmp, "w", mode);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, path);
  } catch (e) {
    // ENOSPC (or any failure) must not leave a partial temp file behind: on a
    // full disk it would hold the very space the next attempt needs.
    await rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  const dir = path.slice(0, path.lastIndexOf("/")) || "/";
  const dfd = openSync(dir, "r");
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temp files of atomic writes in `dir` whose writer is gone
 * (killed between open and rename: kill -9, power loss). A live writer's
 * file (another command of the agent writing right now) is left alone.
 * Returns how many were removed.
 */
export async function removeStaleTemps(dir: string): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const m = TEMP.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    await rm(join(dir, name), { force: true }).catch(() => undefined);
    removed++;
  }
  return removed;
}

export class FileStateStore implements StateStore {
  readonly path: string;
  readonly retryPath: string;

  constructor(readonly dir: string) {
    this.path = join(dir, "state.json");
    this.retryPath = join(dir, "retry-request.json");
  }

  async load(): Promise<AgentState | null> {
    await removeStaleTemps(this.dir);
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw new StateFileError(`cannot read ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    let parsed: { version?: unknown; cycle?: { phase?: unknown } };
    try {
      parsed = JSON.parse(text) as typeof parsed;
    } catch (e) {
      throw new StateFileError(`${this.path} is not valid JSON (it is only ever replaced atomically, so this needs a human): ${(e as Error).message}`, { cause: e });
    }
    const state = migrateState(parsed);
    if (!state) {
      throw new StateFileError(`${this.path} has an unknown format (version ${String(parsed.version)}; this agent reads versions ${READABLE_STATE_VERSIONS.join(", ")}): written by a newer agent?`);
    }
    return state;
  }

  async save(state: AgentState): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.path, JSON.stringify(state, null, 1) + "\n");
  }

  async requestRetry(request: RetryRequest): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await writeFileAtomic(this.retryPath, JSON.stringify(request) + "\n");
  }

  async pendingRetry(): Promise<RetryRequest | null> {
    try {
      return JSON.parse(await readFile(this.retryPath, "utf8")) as RetryRequest;
    } catch {
      return null;
    }
  }

  async clearRetry(): Promise<void> {
    await rm(this.retryPath, { force: true });
  }
}

